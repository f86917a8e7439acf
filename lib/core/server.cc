#include "lib/core/server.h"

#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.pb.h"
#include "lib/core/auth_processor.h"
#include "lib/core/config.h"
#include "lib/core/parse_errors.h"
#include "lib/core/tls.h"
#include "spdlog/spdlog.h"

namespace continuum::core {
namespace {

std::string HostOf(const std::string& address) {
  return address.substr(0, address.rfind(':'));
}

}  // namespace

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create ", tmp, ": ", std::strerror(errno)));
  }
  size_t written = 0;
  while (written < contents.size()) {
    ssize_t n =
        ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return absl::InternalError(
          absl::StrCat("cannot write ", tmp, ": ", std::strerror(err)));
    }
    written += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
  }
  return absl::OkStatus();
}

namespace {

// Collects the full names of the services a ServerBuilder registers
// (ServerInitializer::GetServiceList), so that the health service answers
// for each of them by name: gRPC's default health service knows only the
// names it is told (grpc.health.v1: "" is the whole server).
class ServiceNamesPlugin final : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::vector<std::string>* names)
      : names_(names) {}
  std::string name() override { return "continuum.service_names"; }
  void InitServer(grpc::ServerInitializer* initializer) override {
    const std::vector<std::string>* list = initializer->GetServiceList();
    if (list == nullptr) return;
    for (const std::string& name : *list) {
      // gRPC's own services (health, reflection) are not ours to report.
      if (!absl::StartsWith(name, "grpc.")) names_->push_back(name);
    }
  }
  void Finish(grpc::ServerInitializer*) override {}
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* names_;
};

class ServiceNamesOption final : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::vector<std::string>* names)
      : names_(names) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(names_));
  }

 private:
  std::vector<std::string>* names_;
};

}  // namespace

ServiceServer::ServiceServer(Options options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<ServiceServer>> ServiceServer::Start(
    Options options) {
  if (absl::Status s = ValidateServiceName(options.service); !s.ok()) return s;
  if (absl::Status s = ValidateServerConfig(options.config); !s.ok()) return s;

  std::unique_ptr<ServiceServer> self(new ServiceServer(std::move(options)));
  const config::v1::ServerConfig& config = self->options_.config;
  const std::string& service = self->options_.service;

  self->metrics_ = self->options_.metrics
                       ? self->options_.metrics
                       : std::make_shared<prometheus::Registry>();
  self->rpc_metrics_ = std::make_unique<RpcMetrics>(*self->metrics_, service);
  RegisterBuildInfo(*self->metrics_, service);

  if (absl::Status s = self->StartGrpc(); !s.ok()) return s;
  if (absl::Status s = self->StartHealthServer(); !s.ok()) {
    self->Shutdown(absl::ZeroDuration());
    return s;
  }
  self->SetServing(self->options_.serving_at_start);
  if (absl::Status s = self->StartMetricsAndWritePortFiles(); !s.ok()) {
    self->Shutdown(absl::ZeroDuration());
    return s;
  }
  spdlog::info("{} serving gRPC on {} (metrics {})", service, self->address(),
               self->exposer_ ? absl::StrCat(HostOf(config.metrics_listen()),
                                             ":", self->exposer_->port())
                              : std::string("disabled"));
  return self;
}

absl::Status ServiceServer::StartGrpc() {
  const config::v1::ServerConfig& config = options_.config;
  // Both are process-wide switches read by every ServerBuilder; setting
  // them again is harmless.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // gRPC's health service carries no protobuf descriptor; touching ours links
  // it in, so reflection can describe grpc.health.v1.Health to clients.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();

  grpc::ServerBuilder builder;
  if (absl::Status s = CheckTlsFiles(config.tls()); !s.ok()) return s;
  std::shared_ptr<grpc::ServerCredentials> credentials =
      ServerCredentialsFor(config.tls());
  if (AuthEnabled(config.auth())) {
    absl::StatusOr<std::shared_ptr<CallAuthenticator>> authenticator =
        CallAuthenticator::Create(config.auth());
    if (!authenticator.ok()) return authenticator.status();
    credentials->SetAuthMetadataProcessor(*authenticator);
  }
  builder.AddListeningPort(config.listen(), credentials, &port_);
  // gRPC sets SO_REUSEPORT by default: a second server on a busy port would
  // then start and silently share its traffic. Fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes());
  builder.SetMaxSendMessageSize(config.max_message_bytes());
  for (grpc::Service* s : options_.services) builder.RegisterService(s);
  builder.SetOption(std::make_unique<ServiceNamesOption>(&service_names_));
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  // The status a parse failure is answered with is settled first, so the
  // metrics count what the client gets.
  interceptors.push_back(NewParseErrorInterceptorFactory());
  interceptors.push_back(rpc_metrics_->NewInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen(),
        ": the address is in use or not local (see server.listen / --listen)"));
  }
  return absl::OkStatus();
}

absl::Status ServiceServer::StartHealthServer() {
  const config::v1::ServerConfig& config = options_.config;
  if (config.health_listen().empty()) return absl::OkStatus();
  // No service registered: the builder adds gRPC's default health service
  // (enabled process-wide in StartGrpc), and nothing else answers here.
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.health_listen(),
                           grpc::InsecureServerCredentials(), &health_port_);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  health_server_ = builder.BuildAndStart();
  if (health_server_ == nullptr || health_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.health_listen(),
        ": the address is in use or not local (see server.health_listen / "
        "--health_listen)"));
  }
  return absl::OkStatus();
}

absl::Status ServiceServer::StartMetricsAndWritePortFiles() {
  const config::v1::ServerConfig& config = options_.config;
  if (!config.metrics_listen().empty()) {
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables = {
        metrics_, std::make_shared<ProcessCollector>()};
    absl::StatusOr<std::unique_ptr<MetricsExposer>> exposer =
        MetricsExposer::Start(config.metrics_listen(), std::move(collectables));
    if (!exposer.ok()) return exposer.status();
    exposer_ = *std::move(exposer);
  }
  if (!config.port_file().empty()) {
    absl::Status s =
        WriteFileAtomically(config.port_file(), absl::StrCat(port_, "\n"));
    if (!s.ok()) return s;
  }
  if (!config.metrics_port_file().empty() && exposer_ != nullptr) {
    absl::Status s = WriteFileAtomically(config.metrics_port_file(),
                                         absl::StrCat(exposer_->port(), "\n"));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

ServiceServer::~ServiceServer() { Shutdown(absl::ZeroDuration()); }

std::string ServiceServer::address() const {
  return absl::StrCat(HostOf(options_.config.listen()), ":", port_);
}

int ServiceServer::metrics_port() const {
  return exposer_ ? exposer_->port() : 0;
}

void ServiceServer::SetServing(bool serving) {
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    if (grpc::HealthCheckServiceInterface* health =
            server->GetHealthCheckService()) {
      // The whole server ("") and each of its services by full name (e.g.
      // continuum.v1.RegistryService), as grpc.health.v1 clients ask.
      health->SetServingStatus(serving);
      for (const std::string& name : service_names_) {
        health->SetServingStatus(name, serving);
      }
    }
  }
}

void ServiceServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (server_ == nullptr) return;
  auto started = std::chrono::steady_clock::now();
  // civetweb takes up to 2 s to stop (its listener polls with a 2 s
  // timeout): stop it beside the drain, on a thread of its own that the
  // process does not wait for, so the process exits within the grace.
  if (exposer_ != nullptr) {
    std::thread([exposer = std::move(exposer_)]() mutable {
      exposer.reset();
    }).detach();
  }
  // Health first, so load balancers and watchers see NOT_SERVING while the
  // server drains; this also ends the health service's Watch streams' updates.
  for (grpc::Server* server : {server_.get(), health_server_.get()}) {
    if (server == nullptr) continue;
    if (grpc::HealthCheckServiceInterface* health =
            server->GetHealthCheckService()) {
      health->Shutdown();
    }
  }
  if (options_.open_streams != nullptr) {
    options_.open_streams->EndAll(grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        absl::StrCat("the ", options_.service,
                     " is shutting down: resume the stream from your last "
                     "cursor")));
  }
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoNanoseconds(grace));
  server_->Wait();
  if (health_server_ != nullptr) {
    health_server_->Shutdown(std::chrono::system_clock::now());
    health_server_->Wait();
  }
  std::chrono::duration<double> took =
      std::chrono::steady_clock::now() - started;
  spdlog::info("{} stopped after a {:.3f} s drain", options_.service,
               took.count());
}

}  // namespace continuum::core
