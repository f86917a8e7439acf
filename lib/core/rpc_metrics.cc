#include "lib/core/rpc_metrics.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/common.h>
#include <grpcpp/grpcpp.h>

#include <chrono>

#include "absl/strings/str_cat.h"
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

}  // namespace

absl::string_view StatusCodeName(grpc::StatusCode code) {
  int index = static_cast<int>(code);
  if (index < 0 || index >= static_cast<int>(std::size(kCodeNames))) {
    return "UNKNOWN_CODE";
  }
  return kCodeNames[index];
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

}  // namespace continuum::core
