// Prometheus metrics shared by every service: per-RPC counters, latency and
// in-flight gauges recorded by a gRPC server interceptor, build information,
// process metrics, and the /metrics HTTP endpoint.
//
// Names follow Prometheus conventions: every service's metrics start with
// continuum_<service>_, carry their unit (_seconds, _bytes) and counters end
// in _total. Labels are of bounded cardinality (method, code).
#ifndef CONTINUUM_LIB_CORE_METRICS_H_
#define CONTINUUM_LIB_CORE_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace continuum::core {

// Returns "continuum_<service>_<name>", e.g. MetricName("registry",
// "watchers") == "continuum_registry_watchers".
std::string MetricName(absl::string_view service, absl::string_view name);

// Checks that `service` can be part of a metric name: [a-z][a-z0-9_]*.
absl::Status ValidateServiceName(absl::string_view service);

// Returns the canonical name of a gRPC status code, e.g. "NOT_FOUND";
// "UNKNOWN_CODE" outside the canonical range.
absl::string_view StatusCodeName(grpc::StatusCode code);

// Upper bounds, in seconds, of the RPC latency histogram: 50 us to 30 s.
const std::vector<double>& RpcLatencyBuckets();

// Per-RPC metrics of one gRPC server:
//   continuum_<service>_rpc_requests_total{method, code}   counter
//   continuum_<service>_rpc_duration_seconds{method}        histogram
//   continuum_<service>_rpc_in_flight{method}               gauge
// `method` is the full gRPC method, e.g. "/grpc.health.v1.Health/Check";
// calls of methods no linked protobuf service defines (a client may send any
// path) are counted under kUnknownMethod. Thread-safe. Must outlive the servers
// whose interceptors it made.
class RpcMetrics {
 public:
  // The `method` label of calls to methods no linked service defines.
  static constexpr absl::string_view kUnknownMethod = "unknown";

  RpcMetrics(prometheus::Registry& registry, absl::string_view service);

  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  // A call of `method` began.
  void CallStarted(absl::string_view method);
  // A call of `method` ended with `code` after `seconds`.
  void CallFinished(absl::string_view method, grpc::StatusCode code,
                    double seconds);

  // Returns an interceptor factory for grpc::ServerBuilder that reports every
  // call on the server to this object.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

 private:
  static constexpr int kNumCodes = 17;  // OK .. UNAUTHENTICATED.

  struct MethodMetrics {
    std::string method;  // The label value.
    prometheus::Histogram* duration = nullptr;
    prometheus::Gauge* in_flight = nullptr;
    // Created on the first call that ends with that code.
    std::array<std::atomic<prometheus::Counter*>, kNumCodes + 1> by_code{};
  };

  // The series of `method` (or of kUnknownMethod), created on first use.
  MethodMetrics& ForMethod(absl::string_view method);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& in_flight_;

  // State below is protected by mu_. Entries are never removed, so references
  // to them stay valid.
  absl::Mutex mu_;
  absl::node_hash_map<std::string, MethodMetrics> methods_ ABSL_GUARDED_BY(mu_);
};

// Adds continuum_<service>_build_info{version, git_commit, build_type,
// grpc_version, protobuf_version} with the value 1.
void RegisterBuildInfo(prometheus::Registry& registry,
                       absl::string_view service);

// Reports the standard process metrics on every scrape, read from /proc:
// process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_open_fds, process_start_time_seconds.
class ProcessCollector : public prometheus::Collectable {
 public:
  ProcessCollector();
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  double start_time_seconds_;
};

// The HTTP endpoint serving /metrics (prometheus-cpp's civetweb server).
class MetricsExposer {
 public:
  // Binds `address` (HOST:PORT, port 0 picks a free one) and serves every
  // collectable given. UNAVAILABLE if the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& address,
      std::vector<std::shared_ptr<prometheus::Collectable>> collectables);

  // The port actually bound.
  int port() const { return port_; }

 private:
  MetricsExposer(std::unique_ptr<prometheus::Exposer> exposer,
                 std::vector<std::shared_ptr<prometheus::Collectable>> kept,
                 int port)
      : exposer_(std::move(exposer)), kept_(std::move(kept)), port_(port) {}

  std::unique_ptr<prometheus::Exposer> exposer_;
  // The exposer holds weak pointers; these keep the collectables alive.
  std::vector<std::shared_ptr<prometheus::Collectable>> kept_;
  int port_;
};

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_METRICS_H_
