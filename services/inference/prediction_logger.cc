#include "services/inference/prediction_logger.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/config.h"
#include "lib/core/proto_time.h"

namespace continuum::inference {
namespace {

// Record ids are at most 128 bytes: leave room for "-<n>".
constexpr size_t kMaxPodIdBytes = 100;

SinkQueueSettings SettingsOf(const config::v1::PredictionLogConfig& config,
                             absl::Duration rpc_timeout) {
  SinkQueueSettings settings;
  if (config.max_pending_rows() > 0) {
    settings.max_pending_rows = config.max_pending_rows();
  }
  if (config.max_pending_bytes() > 0) {
    settings.max_pending_bytes = config.max_pending_bytes();
  }
  if (config.max_batch_rows() > 0) {
    settings.max_batch_rows = config.max_batch_rows();
  }
  if (config.has_flush_interval() &&
      core::FromProto(config.flush_interval()) > absl::ZeroDuration()) {
    settings.flush_interval = core::FromProto(config.flush_interval());
  }
  settings.rpc_timeout = rpc_timeout;
  return settings;
}

absl::Status CheckAddress(absl::string_view field,
                          const std::string& address) {
  if (address.empty()) return absl::OkStatus();
  absl::Status s = core::ValidateHostPort(address);
  if (s.ok()) return s;
  return absl::InvalidArgumentError(
      absl::StrCat("prediction_log.", field, ": ", s.message()));
}

}  // namespace

absl::Status ValidatePredictionLogConfig(
    const config::v1::PredictionLogConfig& config) {
  if (absl::Status s =
          CheckAddress("collector_address", config.collector_address());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckAddress("drift_address", config.drift_address());
      !s.ok()) {
    return s;
  }
  if (config.has_sample_rate() &&
      !(config.sample_rate() >= 0 && config.sample_rate() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction_log.sample_rate must be in [0, 1], not ",
                     config.sample_rate()));
  }
  if (!std::isfinite(config.confidence_below()) ||
      config.confidence_below() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction_log.confidence_below must be finite and "
                     ">= 0, not ",
                     config.confidence_below()));
  }
  if (config.max_pending_rows() < 0) {
    return absl::InvalidArgumentError(
        "prediction_log.max_pending_rows must be >= 0");
  }
  if (config.max_pending_bytes() < 0) {
    return absl::InvalidArgumentError(
        "prediction_log.max_pending_bytes must be >= 0");
  }
  if (!v1::LogPolicy_IsValid(config.default_policy())) {
    return absl::InvalidArgumentError(
        absl::StrCat("prediction_log.default_policy: ", config.default_policy(),
                     " is not a value of continuum.v1.LogPolicy"));
  }
  for (const auto& [caller, policy] : config.caller_policies()) {
    if (!v1::LogPolicy_IsValid(policy) ||
        policy == v1::LOG_POLICY_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prediction_log.caller_policies[\"", caller, "\"]: ", policy,
          " is not a policy (LOG_POLICY_NEVER, _SAMPLED or _ALWAYS)"));
    }
  }
  if (config.max_batch_rows() < 0) {
    return absl::InvalidArgumentError(
        "prediction_log.max_batch_rows must be >= 0");
  }
  const google::protobuf::Duration& interval = config.flush_interval();
  if (interval.seconds() < 0 || interval.nanos() < 0 ||
      interval.nanos() >= 1'000'000'000) {
    return absl::InvalidArgumentError(
        "prediction_log.flush_interval must be a valid duration >= 0");
  }
  return absl::OkStatus();
}

namespace {

absl::flat_hash_map<std::string, v1::LogPolicy> CallerPolicies(
    const config::v1::PredictionLogConfig& config) {
  absl::flat_hash_map<std::string, v1::LogPolicy> out;
  for (const auto& [caller, policy] : config.caller_policies()) {
    out[caller] = static_cast<v1::LogPolicy>(policy);
  }
  return out;
}

}  // namespace

PredictionLogger::PredictionLogger(
    const config::v1::PredictionLogConfig& config,
    std::vector<std::unique_ptr<PredictionSink>> sinks,
    prometheus::Registry& metrics, PredictionLoggerOptions options)
    : options_(std::move(options)),
      sampler_(config.has_sample_rate() ? config.sample_rate() : 1.0,
               config.confidence_below(), options_.seed),
      caller_policies_(CallerPolicies(config)),
      default_policy_(config.default_policy() == v1::LOG_POLICY_UNSPECIFIED
                          ? v1::LOG_POLICY_SAMPLED
                          : config.default_policy()),
      next_id_(absl::ToUnixMicros(
          (options_.clock != nullptr ? options_.clock : core::Clock::Real())
              ->Now())),
      metrics_(metrics) {
  const SinkQueueSettings settings = SettingsOf(config, options_.rpc_timeout);
  for (std::unique_ptr<PredictionSink>& sink : sinks) {
    if (sink == nullptr) continue;
    queues_.push_back(
        std::make_unique<SinkQueue>(std::move(sink), settings, metrics_));
  }
  for (const std::unique_ptr<SinkQueue>& queue : queues_) queue->Start();
}

PredictionLogger::~PredictionLogger() { Stop(); }

bool PredictionLogger::Log(const v1::PredictRequest& request,
                           const v1::PredictResponse& response,
                           absl::string_view caller) {
  if (queues_.empty()) return false;
  v1::LogPolicy policy = request.log();
  if (policy == v1::LOG_POLICY_UNSPECIFIED) {
    auto it = caller_policies_.find(caller);
    policy = request.force_log()            ? v1::LOG_POLICY_ALWAYS
             : it != caller_policies_.end() ? it->second
                                            : default_policy_;
  }
  if (policy == v1::LOG_POLICY_NEVER) return false;
  const bool always = policy == v1::LOG_POLICY_ALWAYS || request.force_log();
  const v1::Tensor& inputs = request.inputs();
  if (inputs.shape_size() == 0) return false;
  const int64_t rows = inputs.shape(0);
  if (rows <= 0 || inputs.data_size() % rows != 0) return false;
  const bool has_scores = response.scores_size() == rows;

  // Sampling allocates nothing unless more than 16 rows are kept.
  absl::InlinedVector<int64_t, 16> kept;
  for (int64_t r = 0; r < rows; ++r) {
    std::optional<float> score;
    if (has_scores) score = response.scores(static_cast<int>(r));
    if (sampler_.Keep(always, score)) kept.push_back(r);
  }
  if (kept.empty()) return false;
  // Copy nothing when no sink can take a row.
  if (std::none_of(queues_.begin(), queues_.end(),
                   [](const std::unique_ptr<SinkQueue>& queue) {
                     return queue->HasRoom();
                   })) {
    const int64_t kept_rows = static_cast<int64_t>(kept.size());
    for (const std::unique_ptr<SinkQueue>& queue : queues_) {
      queue->Reject(kept_rows);
    }
    return false;
  }
  const std::vector<LoggedRowPtr> built = BuildRows(request, response, kept);
  for (const std::unique_ptr<SinkQueue>& queue : queues_) {
    queue->Enqueue(built);
  }
  return true;
}

std::vector<LoggedRowPtr> PredictionLogger::BuildRows(
    const v1::PredictRequest& request, const v1::PredictResponse& response,
    absl::Span<const int64_t> kept) {
  const v1::Tensor& inputs = request.inputs();
  const int64_t rows = inputs.shape(0);
  const int64_t row_size = inputs.data_size() / rows;
  // A forecaster's row is a window [steps, features]: it is logged as its
  // last step, the newest observation of the series (one record per step,
  // as the data set holds them; docs/forecasting.md).
  const int64_t logged_size =
      inputs.shape_size() == 3 ? inputs.shape(2) : row_size;
  const v1::Tensor& outputs = response.outputs();
  int64_t output_size = 0;
  if (outputs.shape_size() > 0 && outputs.shape(0) == rows &&
      outputs.data_size() % rows == 0) {
    output_size = outputs.data_size() / rows;
  }
  const bool has_classes = response.predicted_classes_size() == rows;
  const bool has_scores = response.scores_size() == rows;
  const bool has_anomalies = response.anomalies_size() == rows;

  auto shared = std::make_shared<LoggedRequest>();
  shared->model = response.model().empty() ? request.model() : response.model();
  shared->version = response.version().version();
  shared->revision = response.revision();
  shared->role = response.role();
  shared->request_id =
      response.request_id().empty() ? request.request_id()
                                    : response.request_id();
  shared->attributes = request.attributes();
  for (const auto& [key, value] : request.attributes()) {
    shared->attribute_bytes +=
        static_cast<int64_t>(key.size() + value.size()) + 8;
  }
  shared->event_time =
      (options_.clock != nullptr ? options_.clock : core::Clock::Real())
          ->Now();
  absl::string_view pod_id =
      options_.pod_id.empty() ? absl::string_view("inference")
                              : absl::string_view(options_.pod_id);
  pod_id = pod_id.substr(0, kMaxPodIdBytes);

  std::vector<LoggedRowPtr> built;
  built.reserve(kept.size());
  for (int64_t r : kept) {
    const int ri = static_cast<int>(r);
    auto row = std::make_shared<LoggedRow>();
    row->request = shared;
    if (ri < request.record_ids_size() && !request.record_ids(ri).empty()) {
      row->id = request.record_ids(ri);
    } else {
      row->id = absl::StrCat(
          pod_id, "-", next_id_.fetch_add(1, std::memory_order_relaxed));
    }
    const float* in =
        inputs.data().data() + r * row_size + (row_size - logged_size);
    row->features.assign(in, in + logged_size);
    if (output_size > 0) {
      const float* out = outputs.data().data() + r * output_size;
      row->outputs.assign(out, out + output_size);
    }
    if (has_classes) row->predicted_class = response.predicted_classes(ri);
    if (has_scores) row->score = response.scores(ri);
    if (has_anomalies) row->anomaly = response.anomalies(ri);
    built.push_back(std::move(row));
  }
  return built;
}

void PredictionLogger::Flush() {
  for (const std::unique_ptr<SinkQueue>& queue : queues_) queue->Flush();
}

void PredictionLogger::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  const absl::Time deadline = absl::Now() + options_.stop_timeout;
  for (const std::unique_ptr<SinkQueue>& queue : queues_) {
    queue->BeginStop(deadline);
  }
  for (const std::unique_ptr<SinkQueue>& queue : queues_) queue->Join();
}

bool PredictionLogger::has_sink(absl::string_view name) const {
  return std::any_of(queues_.begin(), queues_.end(),
                     [name](const std::unique_ptr<SinkQueue>& queue) {
                       return queue->name() == name;
                     });
}

}  // namespace continuum::inference
