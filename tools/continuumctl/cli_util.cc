#include "tools/continuumctl/cli_util.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/core/grpc_status.h"

ABSL_FLAG(std::string, target, "",
          "Service address HOST:PORT of the service the command talks to.");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30),
          "Deadline of each call, e.g. 5s, 500ms.");
ABSL_FLAG(bool, json, false, "Print results as JSON instead of a table.");
ABSL_FLAG(std::string, tls_ca, "",
          "CA bundle (PEM): connect with TLS and verify the service with it.");
ABSL_FLAG(std::string, tls_cert, "",
          "Client certificate chain (PEM) for mutual TLS (with --tls_key).");
ABSL_FLAG(std::string, tls_key, "",
          "Client private key (PEM) for mutual TLS (with --tls_cert).");
ABSL_FLAG(std::string, token_file, "",
          "File holding a bearer token (sent as 'authorization: Bearer'; "
          "needs --tls_ca). Without it, the CONTINUUM_TOKEN environment "
          "variable is used when set.");

namespace continuum::ctl {
namespace {

// The contents of the file of flag --`flag`; exits 2 naming it when it
// cannot be read.
std::string ReadFlagFile(const char* flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "--" << flag << ": cannot read " << path << ": "
              << std::strerror(errno) << "\n";
    std::exit(2);
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  std::string token;
  if (const std::string path = absl::GetFlag(FLAGS_token_file);
      !path.empty()) {
    token = std::string(
        absl::StripAsciiWhitespace(ReadFlagFile("token_file", path)));
  } else if (const char* env = std::getenv("CONTINUUM_TOKEN")) {
    token = env;
  }
  if (!token.empty() && ca.empty()) {
    std::cerr << "a bearer token (--token_file or CONTINUUM_TOKEN) is sent "
                 "over TLS only: give --tls_ca\n";
    std::exit(2);
  }
  if (ca.empty() && cert.empty() && key.empty()) {
    return grpc::CreateCustomChannel(target,
                                     grpc::InsecureChannelCredentials(), args);
  }
  if (cert.empty() != key.empty()) {
    std::cerr << "--tls_cert and --tls_key go together\n";
    std::exit(2);
  }
  grpc::SslCredentialsOptions options;
  if (!ca.empty()) options.pem_root_certs = ReadFlagFile("tls_ca", ca);
  if (!cert.empty()) {
    options.pem_cert_chain = ReadFlagFile("tls_cert", cert);
    options.pem_private_key = ReadFlagFile("tls_key", key);
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::SslCredentials(options);
  if (!token.empty()) {
    credentials = grpc::CompositeChannelCredentials(
        credentials, grpc::AccessTokenCredentials(token));
  }
  return grpc::CreateCustomChannel(target, credentials, args);
}

std::shared_ptr<grpc::Channel> TargetChannel() {
  return ChannelTo(absl::GetFlag(FLAGS_target));
}

void SetDeadline(grpc::ClientContext* context) {
  context->set_deadline(
      absl::ToChronoTime(absl::Now() + absl::GetFlag(FLAGS_timeout)));
}

absl::Status StatusFromGrpc(const grpc::Status& status) {
  absl::Status s = core::FromGrpcStatus(status);
  if (s.code() == absl::StatusCode::kUnavailable ||
      s.code() == absl::StatusCode::kDeadlineExceeded) {
    return absl::Status(
        s.code(), absl::StrCat(absl::GetFlag(FLAGS_target), ": ", s.message()));
  }
  return s;
}

int Fail(absl::string_view command, const absl::Status& status) {
  std::cerr << command << ": " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

int FailGrpc(absl::string_view command, const grpc::Status& status) {
  return Fail(command, StatusFromGrpc(status));
}

bool JsonOutput() { return absl::GetFlag(FLAGS_json); }

int PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  std::cout << json;
  return 0;
}

std::string Short(const std::string& name, absl::string_view prefix) {
  return std::string(absl::StripPrefix(name, prefix));
}

std::string TimeText(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return google::protobuf::util::TimeUtil::ToString(t);
}

void PrintTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, row[i],
                      i + 1 < row.size()
                          ? std::string(widths[i] - row[i].size() + 2, ' ')
                          : "");
    }
    std::cout << line << "\n";
  }
}

}  // namespace continuum::ctl
