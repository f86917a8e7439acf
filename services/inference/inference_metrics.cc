#include "services/inference/inference_metrics.h"

#include "lib/core/metrics.h"

namespace continuum::inference {
namespace {

const prometheus::Histogram::BucketBoundaries& BatchBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};
  return *buckets;
}

// The canonical name of a status code, e.g. "NOT_FOUND" (gRPC's and
// Abseil's codes are the same numbers and names).
std::string CodeName(absl::StatusCode code) {
  std::string name = absl::StatusCodeToString(code);
  return name.empty() ? "UNKNOWN_CODE" : name;
}

const prometheus::Histogram::BucketBoundaries& SwapBuckets() {
  static const auto* buckets = new prometheus::Histogram::BucketBoundaries{
      0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
  return *buckets;
}

int RoleIndex(v1::ServingRole role) {
  return role >= 0 && role < 5 ? static_cast<int>(role) : 0;
}

// The child in `slot`, made by `make` on first use. Threads that race make
// the same child (a family's Add returns the one it holds for the labels).
template <typename Metric, typename Make>
Metric& Cached(std::atomic<Metric*>& slot, Make make) {
  Metric* metric = slot.load(std::memory_order_acquire);
  if (metric == nullptr) {
    metric = &make();
    slot.store(metric, std::memory_order_release);
  }
  return *metric;
}

}  // namespace

std::string RoleName(v1::ServingRole role) {
  switch (role) {
    case v1::SERVING_ROLE_STABLE:
      return "stable";
    case v1::SERVING_ROLE_CANARY:
      return "canary";
    case v1::SERVING_ROLE_SHADOW:
      return "shadow";
    case v1::SERVING_ROLE_PINNED:
      return "pinned";
    default:
      return "unspecified";
  }
}

InferenceMetrics::InferenceMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("continuum_inference_requests_total")
                    .Help("Prediction requests by model, the role of the "
                          "version routed to, and gRPC code")
                    .Register(registry)),
      rows_(prometheus::BuildCounter()
                .Name("continuum_inference_rows_total")
                .Help("Rows answered by model and role")
                .Register(registry)),
      queue_seconds_(prometheus::BuildHistogram()
                         .Name("continuum_inference_queue_seconds")
                         .Help("Time a request waited in its model's queue")
                         .Register(registry)),
      compute_seconds_(prometheus::BuildHistogram()
                           .Name("continuum_inference_compute_seconds")
                           .Help("Time of one batch's forward pass")
                           .Register(registry)),
      batch_rows_(prometheus::BuildHistogram()
                      .Name("continuum_inference_batch_rows")
                      .Help("Rows per forward pass (dynamic batching)")
                      .Register(registry)),
      swaps_(prometheus::BuildCounter()
                 .Name("continuum_inference_swaps_total")
                 .Help("Deployments swapped in that loaded a new version")
                 .Register(registry)),
      swap_seconds_(prometheus::BuildHistogram()
                        .Name("continuum_inference_swap_seconds")
                        .Help("Time to fetch, load and warm up a "
                              "deployment's new versions before the swap")
                        .Register(registry)),
      load_failures_(prometheus::BuildCounter()
                         .Name("continuum_inference_load_failures_total")
                         .Help("Versions that failed to load, by stage "
                               "(fetch, parse, build, warmup)")
                         .Register(registry)),
      serving_version_(prometheus::BuildGauge()
                           .Name("continuum_inference_serving_version")
                           .Help("Version serving each role (0 = none)")
                           .Register(registry)),
      shadow_rows_(prometheus::BuildCounter()
                       .Name("continuum_inference_shadow_rows_total")
                       .Help("Rows copied to and run by the shadow version")
                       .Register(registry)),
      shadow_disagreements_(
          prometheus::BuildCounter()
              .Name("continuum_inference_shadow_disagreements_total")
              .Help("Shadow rows whose prediction differed from the answer")
              .Register(registry)) {}

InferenceMetrics::ModelChildren& InferenceMetrics::ChildrenOf(
    absl::string_view model) {
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = children_.find(model);
    if (it != children_.end()) return *it->second;
  }
  absl::MutexLock lock(&mu_);
  std::unique_ptr<ModelChildren>& children = children_[model];
  if (children == nullptr) children = std::make_unique<ModelChildren>();
  return *children;
}

void InferenceMetrics::OnRequest(const std::string& model,
                                 v1::ServingRole role, absl::StatusCode code,
                                 int rows) {
  if (code != absl::StatusCode::kOk) {
    requests_
        .Add({{"model", model},
              {"role", RoleName(role)},
              {"code", CodeName(code)}})
        .Increment();
    return;
  }
  ModelChildren& children = ChildrenOf(model);
  const int r = RoleIndex(role);
  Cached(children.ok_requests[r], [&]() -> prometheus::Counter& {
    return requests_.Add(
        {{"model", model}, {"role", RoleName(role)}, {"code", "OK"}});
  }).Increment();
  if (rows > 0) {
    Cached(children.rows[r], [&]() -> prometheus::Counter& {
      return rows_.Add({{"model", model}, {"role", RoleName(role)}});
    }).Increment(rows);
  }
}

void InferenceMetrics::OnShadow(const std::string& model, int rows,
                                int disagreements) {
  shadow_rows_.Add({{"model", model}}).Increment(rows);
  shadow_disagreements_.Add({{"model", model}}).Increment(disagreements);
}

void InferenceMetrics::SetServingVersion(const std::string& model,
                                         v1::ServingRole role,
                                         int64_t version) {
  serving_version_.Add({{"model", model}, {"role", RoleName(role)}})
      .Set(static_cast<double>(version));
}

void InferenceMetrics::OnBatch(const Servable& servable, int /*tasks*/,
                               int rows, absl::Duration compute) {
  ModelChildren& children = ChildrenOf(servable.model);
  Cached(children.compute_seconds, [&]() -> prometheus::Histogram& {
    return compute_seconds_.Add({{"model", servable.model}},
                                core::RpcLatencyBuckets());
  }).Observe(absl::ToDoubleSeconds(compute));
  Cached(children.batch_rows, [&]() -> prometheus::Histogram& {
    return batch_rows_.Add({{"model", servable.model}}, BatchBuckets());
  }).Observe(rows);
}

void InferenceMetrics::OnQueued(const Servable& servable,
                                absl::Duration queued) {
  ModelChildren& children = ChildrenOf(servable.model);
  Cached(children.queue_seconds, [&]() -> prometheus::Histogram& {
    return queue_seconds_.Add({{"model", servable.model}},
                              core::RpcLatencyBuckets());
  }).Observe(absl::ToDoubleSeconds(queued));
}

void InferenceMetrics::OnSwap(const std::string& model, absl::Duration load) {
  swaps_.Add({{"model", model}}).Increment();
  swap_seconds_.Add({{"model", model}}, SwapBuckets())
      .Observe(absl::ToDoubleSeconds(load));
}

void InferenceMetrics::OnLoadFailure(const std::string& model,
                                     const std::string& stage) {
  load_failures_.Add({{"model", model}, {"stage", stage}}).Increment();
}

}  // namespace continuum::inference
