#include "lib/core/config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace continuum::core {
namespace {

// Collects the parser's complaints as "source:line:column: message".
// The offending line is quoted, so that a bad value ("Expected integer")
// comes with the field it was given for.
class CollectingErrorCollector : public google::protobuf::io::ErrorCollector {
 public:
  CollectingErrorCollector(absl::string_view source, absl::string_view text)
      : source_(source), lines_(absl::StrSplit(text, '\n')) {}

  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    // The parser counts from 0; editors count from 1.
    std::string error =
        absl::StrCat(source_, ":", line + 1, ":", column + 1, ": ", message);
    if (line >= 0 && line < static_cast<int>(lines_.size())) {
      absl::string_view quoted = absl::StripAsciiWhitespace(lines_[line]);
      if (!quoted.empty()) absl::StrAppend(&error, " (in `", quoted, "`)");
    }
    errors_.push_back(std::move(error));
  }

  void AddWarning(int line, google::protobuf::io::ColumnNumber column,
                  const std::string& message) override {
    // Warnings (deprecated fields) are reported like errors: a config that
    // relies on them should be fixed before it breaks.
    AddError(line, column, message);
  }

  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::string source_;
  std::vector<absl::string_view> lines_;
  std::vector<std::string> errors_;
};

}  // namespace

ConfigLocations::ConfigLocations()
    : tree_(std::make_unique<google::protobuf::TextFormat::ParseInfoTree>()) {}
ConfigLocations::~ConfigLocations() = default;

std::string ConfigLocations::Find(const google::protobuf::Descriptor* root,
                                  absl::string_view path) const {
  const google::protobuf::TextFormat::ParseInfoTree* tree = tree_.get();
  const google::protobuf::Descriptor* type = root;
  std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const google::protobuf::FieldDescriptor* field =
        type == nullptr ? nullptr
                        : type->FindFieldByName(std::string(parts[i]));
    if (field == nullptr || tree == nullptr) return "";
    if (i + 1 == parts.size()) {
      google::protobuf::TextFormat::ParseLocation at =
          tree->GetLocation(field, field->is_repeated() ? 0 : -1);
      if (at.line < 0) return "";
      return absl::StrCat(source_, ":", at.line + 1, ":", at.column + 1);
    }
    tree = tree->GetTreeForNested(field, field->is_repeated() ? 0 : -1);
    type = field->message_type();
  }
  return "";
}

absl::Status MergeTextConfig(absl::string_view text, absl::string_view source,
                             google::protobuf::Message* config,
                             ConfigLocations* locations) {
  CollectingErrorCollector errors(source, text);
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  parser.AllowUnknownField(false);
  parser.AllowUnknownExtension(false);
  parser.AllowFieldNumber(false);
  // A strict parse into a scratch message first: it rejects a singular field
  // given twice, which a merge would silently let the last one win.
  std::unique_ptr<google::protobuf::Message> scratch(config->New());
  bool ok = parser.ParseFromString(std::string(text), scratch.get());
  // Then the merge over `config`: unlike Message::MergeFrom it also applies
  // fields set explicitly to their zero value (metrics_listen: "").
  if (locations != nullptr) {
    locations->source_ = std::string(source);
    parser.WriteLocationsTo(locations->tree_.get());
  }
  ok = ok && parser.MergeFromString(std::string(text), config);
  if (!ok || !errors.errors().empty()) {
    if (errors.errors().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": not valid protobuf text format for ",
                       config->GetTypeName()));
    }
    return absl::InvalidArgumentError(absl::StrJoin(errors.errors(), "; "));
  }
  return absl::OkStatus();
}

absl::Status MergeConfigFile(const std::string& path,
                             google::protobuf::Message* config,
                             ConfigLocations* locations) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, " is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string message = absl::StrCat("cannot open config file ", path, ": ",
                                       std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(message);
    if (err == EACCES) return absl::PermissionDeniedError(message);
    return absl::InvalidArgumentError(message);
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("error reading config file ", path));
  }
  return MergeTextConfig(buffer.str(), path, config, locations);
}

config::v1::ServerConfig DefaultServerConfig(absl::string_view service) {
  config::v1::ServerConfig config;
  config.set_listen("127.0.0.1:0");
  config.set_metrics_listen("127.0.0.1:0");
  config.set_data_dir(absl::StrCat("./data/", service));
  config.mutable_shutdown_grace()->set_seconds(10);
  config.set_max_message_bytes(64 << 20);
  config.mutable_log()->set_format(config::v1::LOG_FORMAT_TEXT);
  config.mutable_log()->set_level("info");
  return config;
}

absl::Status ValidateHostPort(absl::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", address, "' is not HOST:PORT (for example 127.0.0.1:0)"));
  }
  absl::string_view host = address.substr(0, colon);
  absl::string_view port = address.substr(colon + 1);
  if (host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "' has no host; use 127.0.0.1 or 0.0.0.0"));
  }
  if (host.front() == '[' && host.back() != ']') {
    return absl::InvalidArgumentError(
        absl::StrCat("'", address, "': IPv6 host must be in brackets"));
  }
  if (host.front() != '[' && host.find(':') != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", address, "': write an IPv6 host in brackets, like [::1]:0"));
  }
  int port_number = -1;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 ||
      port_number > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", address, "': port '", port, "' is not a number in 0..65535"));
  }
  return absl::OkStatus();
}

namespace {

absl::Status TlsFieldError(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("server.tls.", field, ": ", problem));
}

}  // namespace

bool AuthEnabled(const config::v1::AuthConfig& auth) {
  return !auth.identities_file().empty() || auth.has_jwt();
}

bool TlsEnabled(const config::v1::TlsConfig& tls) {
  return !tls.key_file().empty() && !tls.certificate_file().empty();
}

absl::Status ValidateTlsConfig(const config::v1::TlsConfig& tls) {
  if (tls.key_file().empty() != tls.certificate_file().empty()) {
    return TlsFieldError(
        tls.key_file().empty() ? "key_file" : "certificate_file",
        "set key_file and certificate_file together");
  }
  const bool on = TlsEnabled(tls);
  if (!tls.ca_file().empty() && !on) {
    return TlsFieldError("ca_file",
                         "needs key_file and certificate_file (TLS is off)");
  }
  if (tls.require_client_certificate() && tls.ca_file().empty()) {
    return TlsFieldError("require_client_certificate",
                         "needs ca_file to verify client certificates with");
  }
  if (tls.has_reload_interval() && (tls.reload_interval().seconds() < 1 ||
                                    tls.reload_interval().nanos() < 0)) {
    return TlsFieldError("reload_interval", "must be at least 1s");
  }
  return absl::OkStatus();
}

absl::Status ValidateServerConfig(const config::v1::ServerConfig& config) {
  auto field_error = [](absl::string_view field, absl::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.", field, ": ", problem));
  };
  if (absl::Status s = ValidateHostPort(config.listen()); !s.ok()) {
    return field_error("listen", s.message());
  }
  if (!config.metrics_listen().empty()) {
    if (absl::Status s = ValidateHostPort(config.metrics_listen()); !s.ok()) {
      return field_error("metrics_listen", s.message());
    }
  }
  if (!config.health_listen().empty()) {
    if (absl::Status s = ValidateHostPort(config.health_listen()); !s.ok()) {
      return field_error("health_listen", s.message());
    }
  }
  if (config.data_dir().empty()) {
    return field_error("data_dir", "must not be empty");
  }
  const auto& grace = config.shutdown_grace();
  if (grace.seconds() < 0 || grace.nanos() < 0) {
    return field_error("shutdown_grace", "must not be negative");
  }
  if (grace.seconds() > 3600) {
    return field_error("shutdown_grace", "must be at most 1 hour");
  }
  if (absl::Status s = ValidateTlsConfig(config.tls()); !s.ok()) return s;
  if (AuthEnabled(config.auth()) && !TlsEnabled(config.tls())) {
    return field_error(config.auth().identities_file().empty()
                           ? "auth.jwt"
                           : "auth.identities_file",
                       "needs server.tls: tokens and client certificates "
                       "are only checked over TLS");
  }
  const config::v1::EncryptionConfig& encryption = config.encryption();
  if (!encryption.key_file().empty() && !encryption.key_env().empty()) {
    return field_error("encryption",
                       "set key_file or key_env, not both");
  }
  const bool has_keys =
      !encryption.key_file().empty() || !encryption.key_env().empty();
  if (has_keys && encryption.active_key_id().empty()) {
    return field_error("encryption.active_key_id",
                       "required with key_file or key_env: the id of the "
                       "key new data is sealed with");
  }
  if (!has_keys && !encryption.active_key_id().empty()) {
    return field_error("encryption.active_key_id",
                       "needs key_file or key_env, where the key is listed");
  }
  if (config.max_message_bytes() < 4096) {
    return field_error("max_message_bytes",
                       absl::StrCat(config.max_message_bytes(),
                                    " is below the minimum of 4096"));
  }
  static constexpr absl::string_view kLevels[] = {
      "trace", "debug", "info", "warn", "error", "critical", "off"};
  bool known_level = false;
  for (absl::string_view level : kLevels) {
    known_level |= config.log().level() == level;
  }
  if (!known_level) {
    return field_error("log.level",
                       absl::StrCat("'", config.log().level(),
                                    "' is not one of trace, debug, info, warn, "
                                    "error, critical, off"));
  }
  if (config.log().format() == config::v1::LOG_FORMAT_UNSPECIFIED) {
    return field_error("log.format",
                       "must be LOG_FORMAT_TEXT or LOG_FORMAT_JSON");
  }
  return absl::OkStatus();
}

std::string ConfigToText(const google::protobuf::Message& config) {
  google::protobuf::TextFormat::Printer printer;
  printer.SetSingleLineMode(true);
  std::string out;
  printer.PrintToString(config, &out);
  return out;
}

}  // namespace continuum::core
