// ServiceServer: the gRPC server every Continuum service runs in.
//
// It binds the configured address (port 0 picks a free port), enables
// grpc.health.v1 and server reflection, records per-RPC metrics through an
// interceptor, serves /metrics, writes port files, and drains gracefully.
//
// Example (what ServeUntilSignal in lib/core/service_main.h does):
//   ServiceServer::Options options;
//   options.service = "registry";
//   options.config = config.server();
//   options.services = {&service};  // e.g. a registry::RegistryServiceImpl
//   absl::StatusOr<std::unique_ptr<ServiceServer>> server =
//       ServiceServer::Start(std::move(options));
//   if (!server.ok()) return server.status();
//   ... wait for SIGTERM ...
//   server->Shutdown(absl::Seconds(10));
#ifndef CONTINUUM_LIB_CORE_SERVER_H_
#define CONTINUUM_LIB_CORE_SERVER_H_

#include <grpcpp/grpcpp.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/config/v1/server_config.pb.h"
#include "lib/core/rpc_metrics.h"
#include "lib/core/watch_reactor.h"

namespace continuum::core {

class ServiceServer {
 public:
  struct Options {
    // Short service name, [a-z][a-z0-9_]*: "collector", "registry", ...; it
    // prefixes the metric names (continuum_<service>_...).
    std::string service;
    // Addresses, port files, limits. Validated by ValidateServerConfig.
    config::v1::ServerConfig config;
    // The gRPC services to serve; not owned, must outlive the server.
    std::vector<grpc::Service*> services;
    // Registry the service's own metrics live in; served on /metrics beside
    // the RPC, build and process metrics. Created if null.
    std::shared_ptr<prometheus::Registry> metrics;
    // The service's long-lived streams (watches); a drain ends them at its
    // start with UNAVAILABLE, so it waits only for unary calls. Not owned;
    // may be null.
    OpenStreams* open_streams = nullptr;
    // Health reported once started. A service that must load something
    // first (inference) starts NOT_SERVING and calls SetServing(true) later.
    bool serving_at_start = true;
  };

  // Builds and starts the server. INVALID_ARGUMENT for a bad config,
  // UNAVAILABLE if an address cannot be bound, INTERNAL if a port file
  // cannot be written.
  static absl::StatusOr<std::unique_ptr<ServiceServer>> Start(Options options);

  // Shuts down with no grace if Shutdown was not called.
  ~ServiceServer();

  ServiceServer(const ServiceServer&) = delete;
  ServiceServer& operator=(const ServiceServer&) = delete;

  // The bound gRPC port and "HOST:PORT" with it.
  int port() const { return port_; }
  std::string address() const;
  // The bound metrics port, or 0 when metrics_listen is empty or after
  // Shutdown.
  int metrics_port() const;
  // The bound port of health_listen (plaintext, grpc.health.v1 only), or 0
  // when it is empty.
  int health_port() const { return health_port_; }

  // The registry served on /metrics, for the service's own metrics.
  prometheus::Registry& metrics() { return *metrics_; }

  // Sets the health status of the server (the "" service name, which
  // Kubernetes' gRPC probes and `continuumctl health` ask about), on the
  // main port and on health_listen's.
  void SetServing(bool serving);

  // Stops taking new calls and reports NOT_SERVING, ends the open streams of
  // `open_streams` (UNAVAILABLE: clients resume from their cursor), lets
  // in-flight calls run for at most `grace`, then cancels those left. Returns once the server
  // has stopped. The metrics endpoint stops at the start of the drain (in
  // the background: civetweb needs up to 2 s). Safe to call more than once;
  // later calls return at once.
  void Shutdown(absl::Duration grace);

  // The underlying server, for in-process channels in tests.
  grpc::Server* grpc_server() { return server_.get(); }

 private:
  explicit ServiceServer(Options options);
  // Builds and starts the gRPC server on options_.config.listen.
  absl::Status StartGrpc();
  // Starts the plaintext health-only server on health_listen, if set.
  absl::Status StartHealthServer();
  // Starts /metrics (when configured) and writes the port files.
  absl::Status StartMetricsAndWritePortFiles();

  Options options_;
  std::shared_ptr<prometheus::Registry> metrics_;
  // Declared before server_ so that it outlives the server's interceptors.
  std::unique_ptr<RpcMetrics> rpc_metrics_;
  std::unique_ptr<grpc::Server> server_;
  // Plaintext, grpc.health.v1 only (health_listen); null when not set.
  std::unique_ptr<grpc::Server> health_server_;
  // Full names of the services registered (ServiceNamesPlugin), for the
  // health service; set while the server starts, read-only after.
  std::vector<std::string> service_names_;
  std::unique_ptr<MetricsExposer> exposer_;
  int port_ = 0;
  int health_port_ = 0;

  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

// Writes `contents` to `path` atomically: a temporary file in the same
// directory, then rename, so a reader never sees a partial file.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_SERVER_H_
