// The start-up and shutdown sequence every service binary shares, so that a
// service's main.cc only wires its own objects together:
//
//   int main(int argc, char** argv) {
//     continuum::config::v1::RegistryConfig config;
//     if (absl::Status s = continuum::core::InitService(
//             argc, argv, "registry", "Model versions and rollouts.", &config,
//             config.mutable_server());
//         !s.ok()) {
//       return continuum::core::ReportStartupError(s);
//     }
//     ... open the store, build the domain object `reg` ...
//     core::OpenStreams streams;  // the watches a drain ends at its start
//     registry::RegistryServiceImpl service(reg.get(), &streams);
//     core::ServiceServer::Options options;
//     options.service = "registry";
//     options.config = config.server();
//     options.services = {&service};
//     options.open_streams = &streams;
//     return continuum::core::ServeUntilSignal(std::move(options));
//   }
// (services/registry/main.cc is this, with the rollout ticker beside it.)
#ifndef CONTINUUM_LIB_CORE_SERVICE_MAIN_H_
#define CONTINUUM_LIB_CORE_SERVICE_MAIN_H_


#include <google/protobuf/message.h>

#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "continuum/config/v1/server_config.pb.h"
#include "lib/core/server.h"
#include "lib/store/encryption.h"

namespace continuum::core {

// Prepares a service process:
//  1. blocks SIGTERM/SIGINT (before any thread starts),
//  2. parses the command line (--help lists every flag and exits),
//  3. sets `*server` to DefaultServerConfig(service), then merges the file of
//     --config into `config`, then --config_text, then the common flags,
//  4. validates the result, creates the data directory, starts logging, and
//     logs the effective configuration.
// `server` must point into `config` (its `server` field). Errors are
// INVALID_ARGUMENT (bad flag, file, line, field or value), NOT_FOUND (missing
// config file) or INTERNAL (data directory cannot be created).
absl::Status InitService(int argc, char** argv, absl::string_view service,
                         absl::string_view summary,
                         google::protobuf::Message* config,
                         config::v1::ServerConfig* server);

// The keys of server.encryption (store::KeyRing::Load), null when it is
// unset; logs one line saying whether data at rest is encrypted, and with
// which key ids (never the keys). INVALID_ARGUMENT naming the field, file,
// variable or entry otherwise.
absl::StatusOr<std::shared_ptr<const store::KeyRing>> LoadEncryptionKeys(
    const config::v1::ServerConfig& server, absl::string_view service);

// Prints a start-up error to stderr and returns the exit code to use (2).
int ReportStartupError(const absl::Status& status);

// Starts the server, prints "listening on HOST:PORT" and, if enabled,
// "metrics on HOST:PORT" on stdout, waits for SIGTERM or SIGINT, drains for
// the configured shutdown_grace and returns the exit code: 0 after a clean
// shutdown, 1 if the server could not start.
int ServeUntilSignal(ServiceServer::Options options);

// What a service does around the server's life, for services with
// background work tied to the server (the inference pod's registry watch).
struct ServeHooks {
  // Called once the server listens, before waiting for the signal. An error
  // stops the service (exit code 1).
  std::function<absl::Status(ServiceServer&)> on_started;
  // Called when the drain begins, before in-flight calls are waited for.
  std::function<void()> on_draining;
};

// ServeUntilSignal with hooks.
int ServeUntilSignal(ServiceServer::Options options, const ServeHooks& hooks);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_SERVICE_MAIN_H_
