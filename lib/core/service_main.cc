#include "lib/core/service_main.h"

#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "lib/core/build_info.h"
#include "lib/core/config.h"
#include "lib/core/logging.h"  // Also formats absl::string_view.
#include "lib/core/signals.h"
#include "lib/core/tls.h"
#include "spdlog/spdlog.h"

ABSL_FLAG(std::string, config, "",
          "Configuration file in protobuf text format (the service's "
          "continuum.config.v1.<Service>Config message). Every field has a "
          "default, so the file is optional.");
ABSL_FLAG(std::string, config_text, "",
          "Protobuf text merged over the config file, for any field, e.g. "
          "--config_text='server { max_message_bytes: 1048576 }'.");
ABSL_FLAG(std::optional<std::string>, listen, std::nullopt,
          "gRPC address HOST:PORT; port 0 picks a free port, printed as "
          "'listening on HOST:PORT'. Default 127.0.0.1:0.");
ABSL_FLAG(std::optional<std::string>, metrics_listen, std::nullopt,
          "Prometheus /metrics address HOST:PORT, printed as 'metrics on "
          "HOST:PORT'; empty disables it. Default 127.0.0.1:0.");
ABSL_FLAG(std::optional<std::string>, data_dir, std::nullopt,
          "Directory for the service's state, created if missing. Default "
          "./data/<service>.");
ABSL_FLAG(std::optional<std::string>, port_file, std::nullopt,
          "Write the chosen gRPC port to this file once serving.");
ABSL_FLAG(std::optional<std::string>, metrics_port_file, std::nullopt,
          "Write the chosen metrics port to this file once serving.");
ABSL_FLAG(std::optional<absl::Duration>, shutdown_grace, std::nullopt,
          "On SIGTERM/SIGINT, how long in-flight calls may run before they "
          "are cancelled, e.g. 10s or 500ms. Default 10s.");
ABSL_FLAG(std::optional<int>, max_message_bytes, std::nullopt,
          "Largest gRPC message accepted or sent. Default 67108864 (64 MiB).");
ABSL_FLAG(std::optional<std::string>, log_format, std::nullopt,
          "Log line format: text or json. Default text.");
ABSL_FLAG(std::optional<std::string>, tls_key, std::nullopt,
          "TLS private key (PEM); with --tls_cert turns TLS on for the "
          "server and this service's calls to the others.");
ABSL_FLAG(std::optional<std::string>, tls_cert, std::nullopt,
          "TLS certificate chain (PEM), leaf first.");
ABSL_FLAG(std::optional<std::string>, tls_ca, std::nullopt,
          "CA bundle (PEM) verifying client certificates and the other "
          "services.");
ABSL_FLAG(std::optional<bool>, tls_require_client_certificate, std::nullopt,
          "Mutual TLS: refuse clients without a certificate --tls_ca "
          "verifies.");
ABSL_FLAG(std::optional<std::string>, auth_identities_file, std::nullopt,
          "Identities file (tokens by SHA-256, certificate names, roles): "
          "turns authentication and per-method roles on; needs TLS.");
ABSL_FLAG(std::optional<std::string>, health_listen, std::nullopt,
          "Plaintext address serving only grpc.health.v1, for probes that "
          "cannot speak TLS; empty: none.");
ABSL_FLAG(std::optional<std::string>, encryption_key_file, std::nullopt,
          "Key file (`KEY_ID HEX` lines) for encryption at rest; with "
          "--encryption_active_key turns it on.");
ABSL_FLAG(std::optional<std::string>, encryption_key_env, std::nullopt,
          "Name of an environment variable holding the keys, instead of "
          "--encryption_key_file.");
ABSL_FLAG(std::optional<std::string>, encryption_active_key, std::nullopt,
          "Id of the key new data is encrypted with.");
ABSL_FLAG(std::optional<std::string>, log_level, std::nullopt,
          "Lowest log level written: trace, debug, info, warn, error, "
          "critical, off. Default info.");

namespace continuum::core {
namespace {

// --help shows the flags of Continuum's own sources, not those of libraries.
bool IsContinuumFlagFile(absl::string_view file) {
  return absl::StrContains(file, "lib/core/") ||
         absl::StrContains(file, "services/") ||
         absl::StrContains(file, "tools/");
}

// Applies the common flags; adds "path=flag" of each field a flag set to
// *set_by_flag (e.g. "server.listen=listen").
absl::Status ApplyFlags(config::v1::ServerConfig* server,
                        std::map<std::string, std::string>* set_by_flag) {
  auto mark = [&](const char* field, const char* flag) {
    (*set_by_flag)[absl::StrCat("server.", field)] = flag;
  };
  if (auto v = absl::GetFlag(FLAGS_listen)) {
    server->set_listen(*v);
    mark("listen", "listen");
  }
  if (auto v = absl::GetFlag(FLAGS_metrics_listen)) {
    server->set_metrics_listen(*v);
    mark("metrics_listen", "metrics_listen");
  }
  if (auto v = absl::GetFlag(FLAGS_data_dir)) {
    server->set_data_dir(*v);
    mark("data_dir", "data_dir");
  }
  if (auto v = absl::GetFlag(FLAGS_port_file)) {
    server->set_port_file(*v);
    mark("port_file", "port_file");
  }
  if (auto v = absl::GetFlag(FLAGS_metrics_port_file)) {
    server->set_metrics_port_file(*v);
    mark("metrics_port_file", "metrics_port_file");
  }
  if (auto v = absl::GetFlag(FLAGS_shutdown_grace)) {
    if (*v < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "--shutdown_grace must not be negative");
    }
    int64_t nanos = absl::ToInt64Nanoseconds(*v);
    server->mutable_shutdown_grace()->set_seconds(nanos / 1000000000);
    server->mutable_shutdown_grace()->set_nanos(
        static_cast<int32_t>(nanos % 1000000000));
    mark("shutdown_grace", "shutdown_grace");
  }
  if (auto v = absl::GetFlag(FLAGS_max_message_bytes)) {
    server->set_max_message_bytes(*v);
    mark("max_message_bytes", "max_message_bytes");
  }
  if (auto v = absl::GetFlag(FLAGS_log_format)) {
    if (*v == "text") {
      server->mutable_log()->set_format(config::v1::LOG_FORMAT_TEXT);
    } else if (*v == "json") {
      server->mutable_log()->set_format(config::v1::LOG_FORMAT_JSON);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--log_format='", *v, "': use text or json"));
    }
    mark("log.format", "log_format");
  }
  if (auto v = absl::GetFlag(FLAGS_log_level)) {
    server->mutable_log()->set_level(*v);
    mark("log.level", "log_level");
  }
  if (auto v = absl::GetFlag(FLAGS_auth_identities_file)) {
    server->mutable_auth()->set_identities_file(*v);
    mark("auth.identities_file", "auth_identities_file");
  }
  if (auto v = absl::GetFlag(FLAGS_health_listen)) {
    server->set_health_listen(*v);
    mark("health_listen", "health_listen");
  }
  if (auto v = absl::GetFlag(FLAGS_encryption_key_file)) {
    server->mutable_encryption()->set_key_file(*v);
    mark("encryption.key_file", "encryption_key_file");
  }
  if (auto v = absl::GetFlag(FLAGS_encryption_key_env)) {
    server->mutable_encryption()->set_key_env(*v);
    mark("encryption.key_env", "encryption_key_env");
  }
  if (auto v = absl::GetFlag(FLAGS_encryption_active_key)) {
    server->mutable_encryption()->set_active_key_id(*v);
    mark("encryption.active_key_id", "encryption_active_key");
  }
  if (auto v = absl::GetFlag(FLAGS_tls_key)) {
    server->mutable_tls()->set_key_file(*v);
    mark("tls.key_file", "tls_key");
  }
  if (auto v = absl::GetFlag(FLAGS_tls_cert)) {
    server->mutable_tls()->set_certificate_file(*v);
    mark("tls.certificate_file", "tls_cert");
  }
  if (auto v = absl::GetFlag(FLAGS_tls_ca)) {
    server->mutable_tls()->set_ca_file(*v);
    mark("tls.ca_file", "tls_ca");
  }
  if (auto v = absl::GetFlag(FLAGS_tls_require_client_certificate)) {
    server->mutable_tls()->set_require_client_certificate(*v);
    mark("tls.require_client_certificate", "tls_require_client_certificate");
  }
  return absl::OkStatus();
}

absl::Duration GraceOf(const config::v1::ServerConfig& config) {
  return absl::Seconds(config.shutdown_grace().seconds()) +
         absl::Nanoseconds(config.shutdown_grace().nanos());
}

}  // namespace

absl::Status InitService(int argc, char** argv, absl::string_view service,
                         absl::string_view summary,
                         google::protobuf::Message* config,
                         config::v1::ServerConfig* server) {
  BlockTerminationSignals();

  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsContinuumFlagFile;
  usage_config.contains_helpshort_flags = IsContinuumFlagFile;
  usage_config.version_string = [] {
    return absl::StrCat(kVersion, " (", kGitCommit, ")\n");
  };
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(absl::StrCat(
      summary, "\n\nUsage: continuum-", service,
      " [--config=FILE.pbtxt] [flags]\n"
      "Starts with no arguments on 127.0.0.1 with an ephemeral port.\n"
      "Flags override the config file; every field is in "
      "docs/operations.md, \"Configuration reference\"."));
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  if (rest.size() > 1) {
    std::vector<std::string> extra(rest.begin() + 1, rest.end());
    return absl::InvalidArgumentError(
        absl::StrCat("unexpected arguments: ", absl::StrJoin(extra, " "),
                     " (flags are written --name=value)"));
  }

  *server = DefaultServerConfig(service);
  ConfigLocations file_locations;
  ConfigLocations text_locations;
  if (std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    if (absl::Status s = MergeConfigFile(path, config, &file_locations);
        !s.ok()) {
      return s;
    }
  }
  if (std::string text = absl::GetFlag(FLAGS_config_text); !text.empty()) {
    if (absl::Status s =
            MergeTextConfig(text, "--config_text", config, &text_locations);
        !s.ok()) {
      return s;
    }
  }
  std::map<std::string, std::string> set_by_flag;
  if (absl::Status s = ApplyFlags(server, &set_by_flag); !s.ok()) return s;
  if (absl::Status s = ValidateServerConfig(*server); !s.ok()) {
    // Say where the bad value came from: a flag, --config_text or a line of
    // the file (the message starts with the field path, "server.listen: ").
    std::string message(s.message());
    std::string path = message.substr(0, message.find(':'));
    std::string where;
    if (auto flag = set_by_flag.find(path); flag != set_by_flag.end()) {
      where = absl::StrCat("flag --", flag->second);
    } else if (std::string at =
                   text_locations.Find(config->GetDescriptor(), path);
               !at.empty()) {
      where = at;
    } else if (std::string at =
                   file_locations.Find(config->GetDescriptor(), path);
               !at.empty()) {
      where = at;
    } else {
      where = "config";
    }
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", message));
  }

  std::error_code error;
  std::filesystem::create_directories(server->data_dir(), error);
  if (error) {
    return absl::InternalError(absl::StrCat("cannot create data directory ",
                                            server->data_dir(), ": ",
                                            error.message()));
  }
  if (absl::Status s = InitLogging(service, server->log()); !s.ok()) return s;
  spdlog::info("continuum-{} {} ({}) starting; config: {}", service, kVersion,
               kGitCommit, ConfigToText(*config));
  // A TLS file that cannot be read refuses the start, naming it.
  if (absl::Status s = CheckTlsFiles(server->tls()); !s.ok()) return s;
  SetServiceChannelTls(server->tls());
  if (TlsEnabled(server->tls())) {
    spdlog::info("continuum-{}: {}", service, DescribeTls(server->tls()));
  } else {
    spdlog::warn("continuum-{}: {}", service, DescribeTls(server->tls()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const store::KeyRing>> LoadEncryptionKeys(
    const config::v1::ServerConfig& server, absl::string_view service) {
  const config::v1::EncryptionConfig& e = server.encryption();
  absl::StatusOr<std::shared_ptr<const store::KeyRing>> keys =
      store::KeyRing::Load(e.key_file(), e.key_env(), e.active_key_id());
  if (!keys.ok()) return keys.status();
  if (*keys == nullptr) {
    spdlog::warn("continuum-{}: data at rest is not encrypted "
                 "(server.encryption unset)",
                 service);
  } else {
    spdlog::info("continuum-{}: data at rest encrypted with AES-256-GCM, "
                 "active key {} (keys listed: {})",
                 service, (*keys)->active_key_id(),
                 absl::StrJoin((*keys)->key_ids(), ", "));
  }
  return keys;
}

int ReportStartupError(const absl::Status& status) {
  std::cerr << "error: " << status.message() << std::endl;
  return 2;
}

int ServeUntilSignal(ServiceServer::Options options) {
  return ServeUntilSignal(std::move(options), ServeHooks());
}

int ServeUntilSignal(ServiceServer::Options options, const ServeHooks& hooks) {
  std::string service = options.service;
  absl::Duration grace = GraceOf(options.config);
  std::string metrics_host = options.config.metrics_listen().substr(
      0, options.config.metrics_listen().rfind(':'));
  std::string health_host = options.config.health_listen().substr(
      0, options.config.health_listen().rfind(':'));
  absl::StatusOr<std::unique_ptr<ServiceServer>> server =
      ServiceServer::Start(std::move(options));
  if (!server.ok()) {
    spdlog::error("continuum-{} failed to start: {}", service,
                  server.status().message());
    std::cerr << "error: " << server.status().message() << std::endl;
    return 1;
  }
  // These two lines are the contract with launchers and tests.
  std::printf("listening on %s\n", (*server)->address().c_str());
  if ((*server)->metrics_port() != 0) {
    std::printf("metrics on %s:%d\n", metrics_host.c_str(),
                (*server)->metrics_port());
  }
  if ((*server)->health_port() != 0) {
    std::printf("health on %s:%d\n", health_host.c_str(),
                (*server)->health_port());
  }
  std::fflush(stdout);
  if (hooks.on_started) {
    if (absl::Status s = hooks.on_started(**server); !s.ok()) {
      spdlog::error("continuum-{} failed to start: {}", service, s.message());
      std::cerr << "error: " << s.message() << std::endl;
      (*server)->Shutdown(absl::ZeroDuration());
      return 1;
    }
  }

  int signal_number = WaitForTerminationSignal();
  ExitOnSecondSignal();
  spdlog::info("received {}; draining for at most {}",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(grace));
  if (hooks.on_draining) hooks.on_draining();
  (*server)->Shutdown(grace);
  server->reset();
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace continuum::core
