// Per-RPC metrics of a gRPC server (counters, latency, in-flight calls,
// recorded by a server interceptor) and the build information every
// service reports. Names follow lib/core/metrics.h.
#ifndef CONTINUUM_LIB_CORE_RPC_METRICS_H_
#define CONTINUUM_LIB_CORE_RPC_METRICS_H_

#include <grpcpp/support/server_interceptor.h>
#include <grpcpp/support/status.h>
#include <prometheus/counter.h>
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
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "lib/core/metrics.h"

namespace continuum::core {

// Returns the canonical name of a gRPC status code, e.g. "NOT_FOUND";
// "UNKNOWN_CODE" outside the canonical range.
absl::string_view StatusCodeName(grpc::StatusCode code);

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

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_RPC_METRICS_H_
