#include "lib/core/metrics.h"

#include <dirent.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>
#include <grpcpp/grpcpp.h>
#include <prometheus/metric_family.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/core/build_info.h"

namespace continuum::core {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Records one call: start time at construction, code and latency when the
// status is sent (or CANCELLED if the call ends without one).
class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(RpcMetrics* metrics, const char* method)
      : metrics_(metrics),
        method_(method == nullptr ? "unknown" : method),
        start_(std::chrono::steady_clock::now()) {
    metrics_->CallStarted(method_);
  }

  ~MetricsInterceptor() override {
    if (!finished_) Finish(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      Finish(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Finish(grpc::StatusCode code) {
    finished_ = true;
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start_;
    metrics_->CallFinished(method_, code, elapsed.count());
  }

  RpcMetrics* metrics_;
  std::string method_;
  std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

class MetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(RpcMetrics* metrics) : metrics_(metrics) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method());
  }

 private:
  RpcMetrics* metrics_;
};

constexpr absl::string_view kCodeNames[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

prometheus::MetricFamily OneValueFamily(std::string name, std::string help,
                                        prometheus::MetricType type,
                                        double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  prometheus::ClientMetric metric;
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  family.metric.push_back(std::move(metric));
  return family;
}

}  // namespace

std::string MetricName(absl::string_view service, absl::string_view name) {
  return absl::StrCat("continuum_", service, "_", name);
}

absl::Status ValidateServiceName(absl::string_view service) {
  bool ok = !service.empty() && absl::ascii_islower(service.front());
  for (char c : service) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "service name '", service, "' must match [a-z][a-z0-9_]*"));
  }
  return absl::OkStatus();
}

absl::string_view StatusCodeName(grpc::StatusCode code) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(std::size(kCodeNames))) {
    return "UNKNOWN_CODE";
  }
  return kCodeNames[index];
}

const std::vector<double>& RpcLatencyBuckets() {
  static const std::vector<double> kBuckets = {
      0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,    0.1,    0.25,    0.5,    1,     2.5,    5,     10,   30};
  return kBuckets;
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry,
                       absl::string_view service)
    : requests_(prometheus::BuildCounter()
                    .Name(MetricName(service, "rpc_requests_total"))
                    .Help("gRPC calls finished, by method and status code.")
                    .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name(MetricName(service, "rpc_duration_seconds"))
                    .Help("Time from a call's start to its status, by method.")
                    .Register(registry)),
      in_flight_(prometheus::BuildGauge()
                     .Name(MetricName(service, "rpc_in_flight"))
                     .Help("gRPC calls started and not yet finished.")
                     .Register(registry)) {}

static bool IsKnownMethod(absl::string_view method) {
  // "/continuum.v1.RegistryService/GetModel" ->
  // "continuum.v1.RegistryService.GetModel"
  if (method.size() < 4 || method.front() != '/') return false;
  std::string full(method.substr(1));
  size_t slash = full.find('/');
  if (slash == std::string::npos) return false;
  full[slash] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(
             full) != nullptr;
}

RpcMetrics::MethodMetrics& RpcMetrics::ForMethod(absl::string_view method) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = methods_.find(method);
    if (it != methods_.end()) return it->second;
  }
  // Clients may send any path; only methods of linked services get their own
  // series, so the label's cardinality stays bounded.
  if (!IsKnownMethod(method)) method = kUnknownMethod;
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = methods_.try_emplace(std::string(method));
  if (inserted) {
    it->second.method = it->first;
    std::map<std::string, std::string> labels = {{"method", it->first}};
    it->second.duration = &duration_.Add(labels, RpcLatencyBuckets());
    it->second.in_flight = &in_flight_.Add(labels);
  }
  return it->second;
}

void RpcMetrics::CallStarted(absl::string_view method) {
  ForMethod(method).in_flight->Increment();
}

void RpcMetrics::CallFinished(absl::string_view method, grpc::StatusCode code,
                              double seconds) {
  MethodMetrics& m = ForMethod(method);
  m.in_flight->Decrement();
  m.duration->Observe(seconds);
  int index = static_cast<int>(code);
  if (index < 0 || index > kNumCodes) index = kNumCodes;  // UNKNOWN_CODE slot.
  prometheus::Counter* counter =
      m.by_code[index].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add returns the same series for the same labels, so a race
    // between two first calls stores the same pointer twice.
    counter = &requests_.Add(
        {{"method", m.method}, {"code", std::string(StatusCodeName(code))}});
    m.by_code[index].store(counter, std::memory_order_release);
  }
  counter->Increment();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcMetrics::NewInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

void RegisterBuildInfo(prometheus::Registry& registry,
                       absl::string_view service) {
  prometheus::BuildGauge()
      .Name(MetricName(service, "build_info"))
      .Help("Build facts of this binary; the value is always 1.")
      .Register(registry)
      .Add({{"version", std::string(kVersion)},
            {"git_commit", std::string(kGitCommit)},
            {"build_type", std::string(kBuildType)},
            {"grpc_version", grpc::Version()},
            {"protobuf_version", google::protobuf::internal::VersionString(
                                     GOOGLE_PROTOBUF_VERSION)}})
      .Set(1);
}

ProcessCollector::ProcessCollector()
    : start_time_seconds_(
          std::chrono::duration<double>(
              std::chrono::system_clock::now().time_since_epoch())
              .count()) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  const double page_size = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));

  std::ifstream statm("/proc/self/statm");
  double virtual_pages = 0, resident_pages = 0;
  if (statm >> virtual_pages >> resident_pages) {
    families.push_back(OneValueFamily(
        "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        prometheus::MetricType::Gauge, virtual_pages * page_size));
    families.push_back(OneValueFamily(
        "process_resident_memory_bytes", "Resident memory size in bytes.",
        prometheus::MetricType::Gauge, resident_pages * page_size));
  }

  // /proc/self/stat: fields 14 and 15 are user and system time in ticks. The
  // command name (field 2) may hold spaces, so split after its ')'.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)),
                   std::istreambuf_iterator<char>());
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos) {
    std::vector<absl::string_view> fields =
        absl::StrSplit(absl::string_view(stat).substr(paren + 2), ' ');
    // After ')' the first field is field 3 (state).
    if (fields.size() > 12) {
      double utime = std::strtod(std::string(fields[11]).c_str(), nullptr);
      double stime = std::strtod(std::string(fields[12]).c_str(), nullptr);
      families.push_back(OneValueFamily(
          "process_cpu_seconds_total", "User and system CPU time in seconds.",
          prometheus::MetricType::Counter, (utime + stime) / ticks));
    }
  }

  if (DIR* dir = opendir("/proc/self/fd")) {
    int count = 0;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
    // Less the descriptor opendir itself holds.
    families.push_back(OneValueFamily(
        "process_open_fds", "Open file descriptors.",
        prometheus::MetricType::Gauge, static_cast<double>(count - 1)));
  }

  families.push_back(OneValueFamily(
      "process_start_time_seconds",
      "Start time of the process since the Unix epoch, in seconds.",
      prometheus::MetricType::Gauge, start_time_seconds_));
  return families;
}

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& address,
    std::vector<std::shared_ptr<prometheus::Collectable>> collectables) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    // Two civetweb threads: one scrape at a time is the norm; a second keeps
    // a slow scraper from blocking the next.
    exposer = std::make_unique<prometheus::Exposer>(address, 2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", address, ": ", e.what()));
  }
  std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(
        absl::StrCat("metrics server on ", address, " bound no port"));
  }
  for (const auto& collectable : collectables) {
    exposer->RegisterCollectable(collectable);
  }
  return std::unique_ptr<MetricsExposer>(new MetricsExposer(
      std::move(exposer), std::move(collectables), ports[0]));
}

}  // namespace continuum::core
