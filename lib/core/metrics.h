// Prometheus metrics shared by every service: metric names, process
// metrics and the /metrics HTTP endpoint. No gRPC here: the per-RPC metrics
// of a server are in lib/core/rpc_metrics.h.
//
// Names follow Prometheus conventions: every service's metrics start with
// continuum_<service>_, carry their unit (_seconds, _bytes) and counters end
// in _total. Labels are of bounded cardinality (method, code).
#ifndef CONTINUUM_LIB_CORE_METRICS_H_
#define CONTINUUM_LIB_CORE_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::core {

// Returns "continuum_<service>_<name>", e.g. MetricName("registry",
// "watchers") == "continuum_registry_watchers".
std::string MetricName(absl::string_view service, absl::string_view name);

// Checks that `service` can be part of a metric name: [a-z][a-z0-9_]*.
absl::Status ValidateServiceName(absl::string_view service);

// Upper bounds, in seconds, of the RPC latency histogram (and of other latencies): 50 us to 30 s.
const std::vector<double>& RpcLatencyBuckets();

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
