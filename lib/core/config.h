// Service configuration: protobuf text format files with defaults and flag
// overrides.
//
// Every service's config message (continuum/config/v1/*_config.proto) starts
// from defaults; a file given with --config replaces the fields it names;
// --config_text (text format too) replaces fields after the file; the common
// flags (--listen, --data_dir, ...) replace fields last. Repeated fields named
// in a file or --config_text are appended, as protobuf's text merge does.
#ifndef CONTINUUM_LIB_CORE_CONFIG_H_
#define CONTINUUM_LIB_CORE_CONFIG_H_

#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "continuum/config/v1/server_config.pb.h"

namespace continuum::core {

// Where the fields of a parsed config text were, so that errors found after
// parsing (a bad value) can name the line.
class ConfigLocations {
 public:
  ConfigLocations();
  ~ConfigLocations();

  // "SOURCE:LINE:COLUMN" of the field at the dotted `path` ("server.listen")
  // of a message of type `root`, or "" if the text did not set it.
  std::string Find(const google::protobuf::Descriptor* root,
                   absl::string_view path) const;

 private:
  friend absl::Status MergeTextConfig(absl::string_view, absl::string_view,
                                      google::protobuf::Message*,
                                      ConfigLocations*);
  std::string source_;
  std::unique_ptr<google::protobuf::TextFormat::ParseInfoTree> tree_;
};

// Parses `text` (protobuf text format) and merges it into `config`.
// `source` names where the text came from ("/etc/continuum/registry.pbtxt",
// "--config_text") and starts every error message.
//
// Errors are INVALID_ARGUMENT with the source, the 1-based line and column and
// the problem, e.g. `registry.pbtxt:3:3: Message type
// "continuum.config.v1.ServerConfig" has no field named "listn".`
// On error `config` may be partly merged; callers discard it. If
// `locations` is given, it records where each field was set.
absl::Status MergeTextConfig(absl::string_view text, absl::string_view source,
                             google::protobuf::Message* config,
                             ConfigLocations* locations = nullptr);

// Reads the file at `path` and merges it into `config` like MergeTextConfig.
// NOT_FOUND if the file does not exist, PERMISSION_DENIED if it can't be read.
absl::Status MergeConfigFile(const std::string& path,
                             google::protobuf::Message* config,
                             ConfigLocations* locations = nullptr);

// Returns the defaults of the shared server settings for `service`
// ("collector", "registry", ...): listen and metrics on 127.0.0.1:0, data in
// ./data/<service>, 10 s shutdown grace, 64 MiB messages, text logs at info.
config::v1::ServerConfig DefaultServerConfig(absl::string_view service);

// Checks the values of `config` once files and flags are merged.
// INVALID_ARGUMENT names the field ("server.listen: ...") and the problem.
absl::Status ValidateServerConfig(const config::v1::ServerConfig& config);

// Whether `auth` turns authentication on (an identities file or JWT
// settings).
bool AuthEnabled(const config::v1::AuthConfig& auth);

// Whether `tls` turns TLS on (key_file and certificate_file set).
bool TlsEnabled(const config::v1::TlsConfig& tls);

// The rules of TlsConfig's fields (server_config.proto): key_file and
// certificate_file both or neither; ca_file only with them;
// require_client_certificate only with ca_file; reload_interval at least
// 1 s when set. INVALID_ARGUMENT "server.tls.FIELD: problem". Part of
// ValidateServerConfig. (Reading the files is tls.h's CheckTlsFiles.)
absl::Status ValidateTlsConfig(const config::v1::TlsConfig& tls);

// Checks that `address` is HOST:PORT with a port in 0..65535; HOST may be a
// name, an IPv4 address or a bracketed IPv6 address ("[::1]:50051").
absl::Status ValidateHostPort(absl::string_view address);

// Renders `config` as text format, one field per line, for the start-up log.
std::string ConfigToText(const google::protobuf::Message& config);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_CONFIG_H_
