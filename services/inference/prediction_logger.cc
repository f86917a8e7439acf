#include "services/inference/prediction_logger.h"

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <random>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "lib/core/channel.h"
#include "lib/core/config.h"
#include "lib/core/logging.h"
#include "lib/core/rpc_metrics.h"

namespace continuum::inference {

namespace logging_internal {

// What the rows of one logged request share.
struct LoggedRequest {
  std::string model;
  int64_t version = 0;
  int64_t revision = 0;
  v1::ServingRole role = v1::SERVING_ROLE_UNSPECIFIED;
  std::string request_id;
  google::protobuf::Map<std::string, std::string> attributes;
  // Approximate serialized size of `attributes`.
  int64_t attribute_bytes = 0;
  absl::Time event_time;
};

// One kept row, shared (read-only) by the sinks' queues.
struct LoggedRow {
  std::shared_ptr<const LoggedRequest> request;
  std::string id;
  std::vector<float> features;
  std::vector<float> outputs;
  std::optional<int32_t> predicted_class;
  std::optional<float> score;
  std::optional<bool> anomaly;
};

}  // namespace logging_internal

namespace {

using logging_internal::LoggedRequest;
using logging_internal::LoggedRow;
using RowPtr = std::shared_ptr<const LoggedRow>;

constexpr int64_t kDefaultMaxPendingRows = 65536;
constexpr int64_t kDefaultMaxBatchRows = 1024;
constexpr absl::Duration kDefaultFlushInterval = absl::Milliseconds(200);
// Requests are cut below gRPC's default 4 MiB receive limit.
constexpr int64_t kMaxRequestBytes = 3 << 20;
// Record ids are at most 128 bytes: leave room for "-<n>".
constexpr size_t kMaxPodIdBytes = 100;
// Longest wait between reconnects to a sink that is down.
constexpr absl::Duration kMaxReconnectBackoff = absl::Seconds(5);
// At most one warning per sink this often; failures are always counted.
constexpr absl::Duration kWarningInterval = absl::Minutes(1);

constexpr absl::string_view kQueueFull = "queue_full";
constexpr absl::string_view kStopped = "stopped";
constexpr absl::string_view kShutdown = "shutdown";

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// SplitMix64's output function.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t RandomSeed() {
  std::random_device device;
  uint64_t seed = (static_cast<uint64_t>(device()) << 32) | device();
  return seed == 0 ? 1 : seed;
}

int64_t ApproxBytes(const LoggedRow& row) {
  return 64 + static_cast<int64_t>(row.id.size()) +
         4 * static_cast<int64_t>(row.features.size() + row.outputs.size()) +
         static_cast<int64_t>(row.request->request_id.size()) +
         row.request->attribute_bytes;
}

// Cuts `rows` into runs of at most kMaxRequestBytes (a larger row goes
// alone) and calls `send` on each.
template <typename Send>
void ForEachChunk(const std::vector<const LoggedRow*>& rows, Send send) {
  size_t begin = 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t row_bytes = ApproxBytes(*rows[i]);
    if (i > begin && bytes + row_bytes > kMaxRequestBytes) {
      send(rows.data() + begin, i - begin);
      begin = i;
      bytes = 0;
    }
    bytes += row_bytes;
  }
  if (begin < rows.size()) send(rows.data() + begin, rows.size() - begin);
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  google::protobuf::Timestamp ts;
  int64_t seconds = micros / 1'000'000;
  int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(rest * 1000));
  return ts;
}

}  // namespace

namespace logging_internal {

// The metric families every sink shares.
struct LogMetrics {
  explicit LogMetrics(prometheus::Registry& registry)
      : sent(prometheus::BuildCounter()
                 .Name(core::MetricName("inference", "log_sent_rows_total"))
                 .Help("Logged prediction rows delivered, by sink "
                       "(collector, drift).")
                 .Register(registry)),
        dropped(prometheus::BuildCounter()
                    .Name(core::MetricName("inference",
                                           "log_dropped_rows_total"))
                    .Help("Logged prediction rows dropped, by sink and "
                          "reason (queue_full, stopped, shutdown, or the "
                          "gRPC code of the failed call in lower case).")
                    .Register(registry)),
        pending(prometheus::BuildGauge()
                    .Name(core::MetricName("inference", "log_pending_rows"))
                    .Help("Logged prediction rows queued or being sent, by "
                          "sink.")
                    .Register(registry)) {}

  prometheus::Family<prometheus::Counter>& sent;
  prometheus::Family<prometheus::Counter>& dropped;
  prometheus::Family<prometheus::Gauge>& pending;
};

struct SinkSettings {
  int64_t max_pending_rows = kDefaultMaxPendingRows;
  int64_t max_batch_rows = kDefaultMaxBatchRows;
  absl::Duration flush_interval = kDefaultFlushInterval;
  absl::Duration rpc_timeout = absl::Seconds(5);
};

// One destination: a bounded queue and the thread that empties it. The
// owner must call BeginStop and Join before destroying it.
class LogSink {
 public:
  LogSink(std::string name, const SinkSettings& settings, LogMetrics& metrics)
      : name_(std::move(name)),
        settings_(settings),
        trigger_rows_(
            std::min(settings.max_batch_rows, settings.max_pending_rows)),
        sent_(metrics.sent.Add({{"sink", name_}})),
        dropped_(metrics.dropped),
        queue_full_(
            metrics.dropped.Add({{"sink", name_}, {"reason", "queue_full"}})),
        pending_(metrics.pending.Add({{"sink", name_}})) {}

  virtual ~LogSink() = default;

  LogSink(const LogSink&) = delete;
  LogSink& operator=(const LogSink&) = delete;

  void Start() { thread_ = std::thread([this] { Run(); }); }

  // Whether a row would be taken now (racy; Enqueue decides).
  bool HasRoom() const {
    return !stopping_flag_.load(std::memory_order_relaxed) &&
           queued_.load(std::memory_order_relaxed) < settings_.max_pending_rows;
  }

  // Counts `rows` rows that could not be queued.
  void Reject(int64_t rows) {
    CountDropped(rows, stopping_flag_.load(std::memory_order_relaxed)
                           ? kStopped
                           : kQueueFull);
  }

  // Queues what fits; counts the rest as dropped.
  void Enqueue(const std::vector<RowPtr>& rows) {
    int64_t full = 0;
    int64_t stopped = 0;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) {
        stopped = static_cast<int64_t>(rows.size());
      } else {
        for (const RowPtr& row : rows) {
          if (static_cast<int64_t>(queue_.size()) <
              settings_.max_pending_rows) {
            queue_.push_back(row);
          } else {
            ++full;
          }
        }
        UpdateGaugesLocked();
      }
    }
    if (full > 0) CountDropped(full, kQueueFull);
    if (stopped > 0) CountDropped(stopped, kStopped);
  }

  void Flush() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    int64_t budget = static_cast<int64_t>(queue_.size());
    while (budget > 0 && !queue_.empty()) {
      std::vector<RowPtr> batch = TakeBatchLocked(budget);
      budget -= static_cast<int64_t>(batch.size());
      SendUnlocked(batch, absl::Now() + settings_.rpc_timeout);
    }
    mu_.Await(absl::Condition(this, &LogSink::IdleLocked));
  }

  void BeginStop(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    stopping_flag_.store(true, std::memory_order_relaxed);
    stop_deadline_ = deadline;
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 protected:
  // Sends `n` rows (one request or stream per group) with `deadline` and
  // reports every call's outcome through Report.
  virtual void Send(const RowPtr* rows, size_t n, absl::Time deadline) = 0;

  // Counts the `rows` rows of one call as sent or dropped.
  void Report(const grpc::Status& status, int64_t rows,
              absl::string_view what) {
    if (status.ok()) {
      sent_.Increment(static_cast<double>(rows));
      return;
    }
    std::string reason(core::StatusCodeName(status.error_code()));
    absl::AsciiStrToLower(&reason);
    CountDropped(rows, reason);
    const int64_t now = absl::ToUnixMicros(absl::Now());
    int64_t last = last_warning_micros_.load(std::memory_order_relaxed);
    if (now - last >= absl::ToInt64Microseconds(kWarningInterval) &&
        last_warning_micros_.compare_exchange_strong(last, now)) {
      spdlog::warn(
          "prediction log: dropped {} rows of {} for the {}: {}: {} (further "
          "drops in the next minute are only counted in "
          "continuum_inference_log_dropped_rows_total)",
          rows, what, name_, reason, status.error_message());
    }
  }

 private:
  bool WakeLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return stopping_ || static_cast<int64_t>(queue_.size()) >= trigger_rows_;
  }
  bool IdleLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return in_flight_ == 0;
  }

  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    queued_.store(static_cast<int64_t>(queue_.size()),
                  std::memory_order_relaxed);
    pending_.Set(static_cast<double>(queue_.size()) +
                 static_cast<double>(in_flight_));
  }

  // Moves up to min(limit, max_batch_rows) rows from the queue to in flight.
  std::vector<RowPtr> TakeBatchLocked(int64_t limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const size_t n = static_cast<size_t>(
        std::min({limit, settings_.max_batch_rows,
                  static_cast<int64_t>(queue_.size())}));
    std::vector<RowPtr> batch;
    batch.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    in_flight_ += static_cast<int64_t>(n);
    UpdateGaugesLocked();
    return batch;
  }

  // Sends `batch` without holding mu_, then takes it out of in flight.
  void SendUnlocked(const std::vector<RowPtr>& batch, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mu_.Unlock();
    Send(batch.data(), batch.size(), deadline);
    mu_.Lock();
    in_flight_ -= static_cast<int64_t>(batch.size());
    UpdateGaugesLocked();
  }

  void Run() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    absl::Time next_flush = absl::Now() + settings_.flush_interval;
    while (true) {
      mu_.AwaitWithDeadline(absl::Condition(this, &LogSink::WakeLocked),
                            next_flush);
      if (stopping_) break;
      const bool full =
          static_cast<int64_t>(queue_.size()) >= trigger_rows_;
      if (!full) {
        if (absl::Now() < next_flush) continue;
        next_flush = absl::Now() + settings_.flush_interval;
      }
      if (queue_.empty()) continue;
      std::vector<RowPtr> batch = TakeBatchLocked(settings_.max_batch_rows);
      SendUnlocked(batch, absl::Now() + settings_.rpc_timeout);
    }
    // Stopping: send what is pending once, within the stop deadline.
    while (!queue_.empty() && absl::Now() < stop_deadline_) {
      std::vector<RowPtr> batch = TakeBatchLocked(settings_.max_batch_rows);
      SendUnlocked(batch, std::min(absl::Now() + settings_.rpc_timeout,
                                   stop_deadline_));
    }
    const int64_t left = static_cast<int64_t>(queue_.size());
    queue_.clear();
    UpdateGaugesLocked();
    if (left > 0) CountDropped(left, kShutdown);
  }

  void CountDropped(int64_t rows, absl::string_view reason) {
    if (reason == kQueueFull) {
      queue_full_.Increment(static_cast<double>(rows));
      return;
    }
    dropped_.Add({{"sink", name_}, {"reason", std::string(reason)}})
        .Increment(static_cast<double>(rows));
  }

  const std::string name_;
  const SinkSettings settings_;
  // Queue length that wakes the thread before the interval is over.
  const int64_t trigger_rows_;
  prometheus::Counter& sent_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Counter& queue_full_;
  prometheus::Gauge& pending_;
  // Mirrors of queue_.size() and stopping_ for lock-free HasRoom.
  std::atomic<int64_t> queued_{0};
  std::atomic<bool> stopping_flag_{false};
  std::atomic<int64_t> last_warning_micros_{0};

  absl::Mutex mu_;
  std::deque<RowPtr> queue_ ABSL_GUARDED_BY(mu_);
  // Rows taken from the queue whose call has not finished.
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  std::thread thread_;
};

}  // namespace logging_internal

namespace {

using logging_internal::LogMetrics;
using logging_internal::LogSink;
using logging_internal::SinkSettings;

void SetDeadline(grpc::ClientContext* context, absl::Time deadline) {
  context->set_deadline(absl::ToChronoTime(deadline));
}

// One IngestBatch per model (data set = model id).
class CollectorSink final : public LogSink {
 public:
  CollectorSink(const SinkSettings& settings, LogMetrics& metrics,
                const std::shared_ptr<grpc::ChannelInterface>& channel)
      : LogSink("collector", settings, metrics),
        stub_(v1::CollectorService::NewStub(channel)) {}

 protected:
  void Send(const RowPtr* rows, size_t n, absl::Time deadline) override {
    std::map<absl::string_view, std::vector<const LoggedRow*>> by_model;
    for (size_t i = 0; i < n; ++i) {
      by_model[rows[i]->request->model].push_back(rows[i].get());
    }
    for (const auto& [model, model_rows] : by_model) {
      ForEachChunk(model_rows, [&](const LoggedRow* const* chunk, size_t m) {
        v1::IngestBatchRequest request;
        request.set_dataset(std::string(model));
        request.mutable_records()->Reserve(static_cast<int>(m));
        for (size_t i = 0; i < m; ++i) ToRecord(*chunk[i], request.add_records());
        grpc::ClientContext context;
        SetDeadline(&context, deadline);
        v1::IngestBatchResponse response;
        grpc::Status status = stub_->IngestBatch(&context, request, &response);
        Report(status, static_cast<int64_t>(m),
               absl::StrCat("data set '", model, "'"));
      });
    }
  }

 private:
  static void ToRecord(const LoggedRow& row, v1::Record* record) {
    const LoggedRequest& request = *row.request;
    record->set_id(row.id);
    *record->mutable_event_time() = ToTimestamp(request.event_time);
    record->mutable_features()->Add(row.features.begin(), row.features.end());
    *record->mutable_attributes() = request.attributes;
    v1::LoggedPrediction* p = record->mutable_prediction();
    p->mutable_version()->set_model(request.model);
    p->mutable_version()->set_version(request.version);
    p->set_revision(request.revision);
    p->set_role(request.role);
    p->mutable_outputs()->Add(row.outputs.begin(), row.outputs.end());
    if (row.predicted_class) p->set_predicted_class(*row.predicted_class);
    if (row.score) p->set_score(*row.score);
    if (row.anomaly) p->set_anomaly(*row.anomaly);
    p->set_request_id(request.request_id);
  }

  std::unique_ptr<v1::CollectorService::Stub> stub_;
};

// One short Observe stream per (model, version, row length) batch.
class DriftSink final : public LogSink {
 public:
  DriftSink(const SinkSettings& settings, LogMetrics& metrics,
            const std::shared_ptr<grpc::ChannelInterface>& channel)
      : LogSink("drift", settings, metrics),
        stub_(v1::DriftService::NewStub(channel)) {}

 protected:
  void Send(const RowPtr* rows, size_t n, absl::Time deadline) override {
    using Key = std::tuple<absl::string_view, int64_t, size_t>;
    std::map<Key, std::vector<const LoggedRow*>> groups;
    for (size_t i = 0; i < n; ++i) {
      const LoggedRow& row = *rows[i];
      groups[Key(row.request->model, row.request->version,
                 row.features.size())]
          .push_back(&row);
    }
    for (const auto& [key, group] : groups) {
      ForEachChunk(group, [&](const LoggedRow* const* chunk, size_t m) {
        v1::ObserveRequest request;
        FillBatch(chunk, m, request.mutable_batch());
        grpc::ClientContext context;
        SetDeadline(&context, deadline);
        v1::ObserveResponse response;
        std::unique_ptr<grpc::ClientWriter<v1::ObserveRequest>> writer =
            stub_->Observe(&context, &response);
        // A failed Write means the call is over; Finish tells why.
        if (writer->Write(request)) writer->WritesDone();
        grpc::Status status = writer->Finish();
        Report(status, static_cast<int64_t>(m),
               absl::StrCat("model '", std::get<0>(key), "' version ",
                            std::get<1>(key)));
      });
    }
  }

 private:
  static void FillBatch(const LoggedRow* const* rows, size_t n,
                        v1::ObservationBatch* batch) {
    const LoggedRequest& first = *rows[0]->request;
    batch->set_model(first.model);
    batch->set_version(first.version);
    batch->set_kind(v1::OBSERVATION_KIND_PREDICTION);
    batch->set_num_rows(static_cast<int32_t>(n));
    batch->set_feature_dim(static_cast<int32_t>(rows[0]->features.size()));
    bool all_classes = true;
    bool all_scores = true;
    for (size_t i = 0; i < n; ++i) {
      all_classes = all_classes && rows[i]->predicted_class.has_value();
      all_scores = all_scores && rows[i]->score.has_value();
    }
    batch->mutable_features()->Reserve(
        static_cast<int>(n * rows[0]->features.size()));
    for (size_t i = 0; i < n; ++i) {
      const LoggedRow& row = *rows[i];
      batch->mutable_features()->Add(row.features.begin(), row.features.end());
      batch->add_ids(row.id);
      batch->add_event_time_unix_micros(
          absl::ToUnixMicros(row.request->event_time));
      if (all_classes) {
        batch->add_predicted_classes(*row.predicted_class);
        if (all_scores) batch->add_confidences(*row.score);
      } else if (all_scores) {
        batch->add_predicted_values(*row.score);
      }
    }
  }

  std::unique_ptr<v1::DriftService::Stub> stub_;
};

std::shared_ptr<grpc::ChannelInterface> ChannelFor(
    const std::shared_ptr<grpc::ChannelInterface>& given,
    const std::string& address) {
  if (given != nullptr) return given;
  if (address.empty()) return nullptr;
  // A capped reconnect backoff: after an outage, rows are sent again as
  // soon as the service is back.
  return core::CreateServiceChannel(address, kMaxReconnectBackoff);
}

}  // namespace

absl::Status ValidatePredictionLogConfig(
    const config::v1::PredictionLogConfig& config) {
  auto check_address = [](absl::string_view field,
                          const std::string& address) {
    if (address.empty()) return absl::OkStatus();
    absl::Status s = core::ValidateHostPort(address);
    if (s.ok()) return s;
    return absl::InvalidArgumentError(
        absl::StrCat("prediction_log.", field, ": ", s.message()));
  };
  if (absl::Status s =
          check_address("collector_address", config.collector_address());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = check_address("drift_address", config.drift_address());
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

RowSampler::RowSampler(double sample_rate, double confidence_below,
                       uint64_t seed)
    : sample_rate_(std::isnan(sample_rate)
                       ? 1.0
                       : std::clamp(sample_rate, 0.0, 1.0)),
      confidence_below_(std::isfinite(confidence_below) ? confidence_below
                                                        : 0.0),
      seed_(seed != 0 ? seed : RandomSeed()) {}

bool RowSampler::Keep(bool force_log, std::optional<float> score) {
  if (force_log) return true;
  if (sample_rate_ <= 0) return false;
  if (sample_rate_ < 1) {
    const uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t bits = Mix(seed_ + (n + 1) * 0x9E3779B97F4A7C15ULL);
    const double u = static_cast<double>(bits >> 11) * 0x1.0p-53;
    if (u >= sample_rate_) return false;
  }
  if (confidence_below_ > 0) {
    // In float, like the scores: a score of 0.7f is not below 0.7.
    return score.has_value() &&
           *score < static_cast<float>(confidence_below_);
  }
  return true;
}

PredictionLogger::PredictionLogger(
    const config::v1::PredictionLogConfig& config,
    prometheus::Registry& metrics, PredictionLoggerOptions options)
    : options_(std::move(options)),
      sampler_(config.has_sample_rate() ? config.sample_rate() : 1.0,
               config.confidence_below(), options_.seed),
      next_id_(absl::ToUnixMicros(
          (options_.clock != nullptr ? options_.clock : core::Clock::Real())
              ->Now())) {
  SinkSettings settings;
  if (config.max_pending_rows() > 0) {
    settings.max_pending_rows = config.max_pending_rows();
  }
  if (config.max_batch_rows() > 0) {
    settings.max_batch_rows = config.max_batch_rows();
  }
  if (config.has_flush_interval() &&
      ToDuration(config.flush_interval()) > absl::ZeroDuration()) {
    settings.flush_interval = ToDuration(config.flush_interval());
  }
  settings.rpc_timeout = options_.rpc_timeout;

  LogMetrics log_metrics(metrics);
  if (auto channel = ChannelFor(options_.collector_channel,
                                config.collector_address())) {
    collector_ =
        std::make_unique<CollectorSink>(settings, log_metrics, channel);
    sinks_.push_back(collector_.get());
  }
  if (auto channel =
          ChannelFor(options_.drift_channel, config.drift_address())) {
    drift_ = std::make_unique<DriftSink>(settings, log_metrics, channel);
    sinks_.push_back(drift_.get());
  }
  for (LogSink* sink : sinks_) sink->Start();
}

PredictionLogger::~PredictionLogger() { Stop(); }

void PredictionLogger::Log(const v1::PredictRequest& request,
                           const v1::PredictResponse& response) {
  if (sinks_.empty()) return;
  const v1::Tensor& inputs = request.inputs();
  if (inputs.shape_size() == 0) return;
  const int64_t rows = inputs.shape(0);
  if (rows <= 0 || inputs.data_size() % rows != 0) return;
  const int64_t row_size = inputs.data_size() / rows;
  const v1::Tensor& outputs = response.outputs();
  int64_t output_size = 0;
  if (outputs.shape_size() > 0 && outputs.shape(0) == rows &&
      outputs.data_size() % rows == 0) {
    output_size = outputs.data_size() / rows;
  }
  const bool has_classes = response.predicted_classes_size() == rows;
  const bool has_scores = response.scores_size() == rows;
  const bool has_anomalies = response.anomalies_size() == rows;

  // Sampling allocates nothing unless more than 16 rows are kept.
  absl::InlinedVector<int64_t, 16> kept;
  for (int64_t r = 0; r < rows; ++r) {
    std::optional<float> score;
    if (has_scores) score = response.scores(static_cast<int>(r));
    if (sampler_.Keep(request.force_log(), score)) kept.push_back(r);
  }
  if (kept.empty()) return;
  const int64_t kept_rows = static_cast<int64_t>(kept.size());
  // Copy nothing when no sink can take a row.
  if (std::none_of(sinks_.begin(), sinks_.end(),
                   [](const LogSink* sink) { return sink->HasRoom(); })) {
    for (LogSink* sink : sinks_) sink->Reject(kept_rows);
    return;
  }

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

  std::vector<RowPtr> built;
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
    const float* in = inputs.data().data() + r * row_size;
    row->features.assign(in, in + row_size);
    if (output_size > 0) {
      const float* out = outputs.data().data() + r * output_size;
      row->outputs.assign(out, out + output_size);
    }
    if (has_classes) row->predicted_class = response.predicted_classes(ri);
    if (has_scores) row->score = response.scores(ri);
    if (has_anomalies) row->anomaly = response.anomalies(ri);
    built.push_back(std::move(row));
  }
  for (LogSink* sink : sinks_) sink->Enqueue(built);
}

void PredictionLogger::Flush() {
  for (LogSink* sink : sinks_) sink->Flush();
}

void PredictionLogger::Stop() {
  absl::MutexLock lock(&stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  const absl::Time deadline = absl::Now() + options_.stop_timeout;
  for (LogSink* sink : sinks_) sink->BeginStop(deadline);
  for (LogSink* sink : sinks_) sink->Join();
}

}  // namespace continuum::inference
