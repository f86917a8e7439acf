// Helpers shared by continuumctl's commands: the global --target, --timeout,
// --json and TLS flags, channels, deadlines, tables and JSON output.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_CLI_UTIL_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_CLI_UTIL_H_

#include <google/protobuf/message.h>
#include <google/protobuf/timestamp.pb.h>
#include <grpcpp/grpcpp.h>

#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, target);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(bool, json);
ABSL_DECLARE_FLAG(std::string, tls_ca);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, token_file);

namespace continuum::ctl {

// A channel to `target` with the connection flags: plaintext, or TLS when
// --tls_ca is given (verifying the service with it; --tls_cert and
// --tls_key add a client certificate for mutual TLS; --token_file or
// CONTINUUM_TOKEN adds a bearer token, over TLS only). Receives messages up
// to 64 MiB. A file that cannot be read ends the command (exit 2, naming
// it).
std::shared_ptr<grpc::Channel> ChannelTo(const std::string& target);
// ChannelTo(--target).
std::shared_ptr<grpc::Channel> TargetChannel();

// Sets the call's deadline to now + --timeout.
void SetDeadline(grpc::ClientContext* context);

// The gRPC status as an absl::Status, with "HOST:PORT: " before the message
// when the server could not be reached.
absl::Status StatusFromGrpc(const grpc::Status& status);

// Prints "COMMAND: message" to stderr and returns the exit code: 2 for
// INVALID_ARGUMENT (a usage or input error), 1 otherwise.
int Fail(absl::string_view command, const absl::Status& status);
// The same for a failed call.
int FailGrpc(absl::string_view command, const grpc::Status& status);

// Whether --json was given.
bool JsonOutput();

// Prints `message` as indented JSON on stdout; returns 0.
int PrintJson(const google::protobuf::Message& message);

// A timestamp for tables: RFC 3339, or "-" when unset (zero).
std::string TimeText(const google::protobuf::Timestamp& t);

// Prints rows as a table with columns aligned; the first row is the header.
void PrintTable(const std::vector<std::vector<std::string>>& rows);

// An enum value's name without its prefix, for tables: ("RUN_STATE_FAILED",
// "RUN_STATE_") -> "FAILED".
std::string Short(const std::string& name, absl::string_view prefix);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_CLI_UTIL_H_
