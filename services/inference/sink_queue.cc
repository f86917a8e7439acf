#include "services/inference/sink_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "lib/core/logging.h"
#include "lib/core/metrics.h"

namespace continuum::inference {
namespace {

constexpr absl::string_view kQueueFull = "queue_full";
constexpr absl::string_view kStopped = "stopped";
constexpr absl::string_view kShutdown = "shutdown";

// At most one warning per sink this often; failures are always counted.
constexpr absl::Duration kWarningInterval = absl::Minutes(1);

// "unavailable", "not_found", ...: the code's canonical name in lower case.
std::string ReasonOf(absl::StatusCode code) {
  std::string reason = absl::StatusCodeToString(code);
  if (reason.empty()) reason = "unknown_code";
  absl::AsciiStrToLower(&reason);
  return reason;
}

}  // namespace

SinkQueueMetrics::SinkQueueMetrics(prometheus::Registry& registry)
    : sent(prometheus::BuildCounter()
               .Name(core::MetricName("inference", "log_sent_rows_total"))
               .Help("Logged prediction rows delivered, by sink "
                     "(collector, drift).")
               .Register(registry)),
      dropped(prometheus::BuildCounter()
                  .Name(core::MetricName("inference", "log_dropped_rows_total"))
                  .Help("Logged prediction rows dropped, by sink and "
                        "reason (queue_full, stopped, shutdown, or the "
                        "gRPC code of the failed call in lower case).")
                  .Register(registry)),
      pending(prometheus::BuildGauge()
                  .Name(core::MetricName("inference", "log_pending_rows"))
                  .Help("Logged prediction rows queued or being sent, by "
                        "sink.")
                  .Register(registry)),
      pending_bytes(
          prometheus::BuildGauge()
              .Name(core::MetricName("inference", "log_pending_bytes"))
              .Help("Approximate bytes of the logged prediction rows queued "
                    "or being sent, by sink (the bound "
                    "prediction_log.max_pending_bytes applies to it).")
              .Register(registry)) {}

SinkQueue::SinkQueue(std::unique_ptr<PredictionSink> sink,
                     const SinkQueueSettings& settings,
                     SinkQueueMetrics& metrics)
    : sink_(std::move(sink)),
      name_(sink_->name()),
      settings_(settings),
      trigger_rows_(
          std::min(settings.max_batch_rows, settings.max_pending_rows)),
      sent_(metrics.sent.Add({{"sink", name_}})),
      dropped_(metrics.dropped),
      queue_full_(
          metrics.dropped.Add({{"sink", name_}, {"reason", "queue_full"}})),
      pending_(metrics.pending.Add({{"sink", name_}})),
      pending_bytes_gauge_(metrics.pending_bytes.Add({{"sink", name_}})) {}

SinkQueue::~SinkQueue() {
  BeginStop(absl::Now());
  Join();
}

void SinkQueue::Start() { thread_ = std::thread([this] { Run(); }); }

void SinkQueue::Reject(int64_t rows) {
  CountDropped(rows, stopping_flag_.load(std::memory_order_relaxed)
                         ? kStopped
                         : kQueueFull);
}

void SinkQueue::Enqueue(const std::vector<LoggedRowPtr>& rows) {
  int64_t full = 0;
  int64_t stopped = 0;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      stopped = static_cast<int64_t>(rows.size());
    } else {
      for (const LoggedRowPtr& row : rows) {
        const int64_t bytes = ApproxBytes(*row);
        if (static_cast<int64_t>(queue_.size()) < settings_.max_pending_rows &&
            pending_bytes_ + bytes <= settings_.max_pending_bytes) {
          queue_.push_back(row);
          pending_bytes_ += bytes;
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

void SinkQueue::Flush() {
  absl::MutexLock lock(&mu_);
  int64_t budget = static_cast<int64_t>(queue_.size());
  while (budget > 0 && !queue_.empty()) {
    std::vector<LoggedRowPtr> batch = TakeBatchLocked(budget);
    budget -= static_cast<int64_t>(batch.size());
    SendUnlocked(batch, absl::Now() + settings_.rpc_timeout);
  }
  mu_.Await(absl::Condition(this, &SinkQueue::IdleLocked));
}

void SinkQueue::BeginStop(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return;
  stopping_ = true;
  stopping_flag_.store(true, std::memory_order_relaxed);
  stop_deadline_ = deadline;
}

void SinkQueue::Join() {
  if (thread_.joinable()) thread_.join();
}

bool SinkQueue::WakeLocked() const {
  return stopping_ || static_cast<int64_t>(queue_.size()) >= trigger_rows_;
}

bool SinkQueue::IdleLocked() const { return in_flight_ == 0; }

void SinkQueue::UpdateGaugesLocked() {
  queued_.store(static_cast<int64_t>(queue_.size()),
                std::memory_order_relaxed);
  pending_.Set(static_cast<double>(queue_.size()) +
               static_cast<double>(in_flight_));
  pending_bytes_mirror_.store(pending_bytes_, std::memory_order_relaxed);
  pending_bytes_gauge_.Set(static_cast<double>(pending_bytes_));
}

std::vector<LoggedRowPtr> SinkQueue::TakeBatchLocked(int64_t limit) {
  const size_t n = static_cast<size_t>(
      std::min({limit, settings_.max_batch_rows,
                static_cast<int64_t>(queue_.size())}));
  std::vector<LoggedRowPtr> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  in_flight_ += static_cast<int64_t>(n);
  UpdateGaugesLocked();
  return batch;
}

void SinkQueue::SendUnlocked(const std::vector<LoggedRowPtr>& batch,
                             absl::Time deadline) {
  mu_.Unlock();
  sink_->Send(batch, deadline,
              [this](int64_t rows, const absl::Status& status,
                     absl::string_view what) { Report(rows, status, what); });
  mu_.Lock();
  in_flight_ -= static_cast<int64_t>(batch.size());
  for (const LoggedRowPtr& row : batch) pending_bytes_ -= ApproxBytes(*row);
  UpdateGaugesLocked();
}

void SinkQueue::Run() {
  absl::MutexLock lock(&mu_);
  absl::Time next_flush = absl::Now() + settings_.flush_interval;
  while (true) {
    mu_.AwaitWithDeadline(absl::Condition(this, &SinkQueue::WakeLocked),
                          next_flush);
    if (stopping_) break;
    const bool full = static_cast<int64_t>(queue_.size()) >= trigger_rows_;
    if (!full) {
      if (absl::Now() < next_flush) continue;
      next_flush = absl::Now() + settings_.flush_interval;
    }
    if (queue_.empty()) continue;
    std::vector<LoggedRowPtr> batch = TakeBatchLocked(settings_.max_batch_rows);
    SendUnlocked(batch, absl::Now() + settings_.rpc_timeout);
  }
  // Stopping: send what is pending once, within the stop deadline.
  while (!queue_.empty() && absl::Now() < stop_deadline_) {
    std::vector<LoggedRowPtr> batch = TakeBatchLocked(settings_.max_batch_rows);
    SendUnlocked(batch, std::min(absl::Now() + settings_.rpc_timeout,
                                 stop_deadline_));
  }
  const int64_t left = static_cast<int64_t>(queue_.size());
  for (const LoggedRowPtr& row : queue_) pending_bytes_ -= ApproxBytes(*row);
  queue_.clear();
  UpdateGaugesLocked();
  if (left > 0) CountDropped(left, kShutdown);
}

void SinkQueue::Report(int64_t rows, const absl::Status& status,
                       absl::string_view what) {
  if (status.ok()) {
    sent_.Increment(static_cast<double>(rows));
    return;
  }
  const std::string reason = ReasonOf(status.code());
  CountDropped(rows, reason);
  const int64_t now = absl::ToUnixMicros(absl::Now());
  int64_t last = last_warning_micros_.load(std::memory_order_relaxed);
  if (now - last >= absl::ToInt64Microseconds(kWarningInterval) &&
      last_warning_micros_.compare_exchange_strong(last, now)) {
    spdlog::warn(
        "prediction log: dropped {} rows of {} for the {}: {}: {} (further "
        "drops in the next minute are only counted in "
        "continuum_inference_log_dropped_rows_total)",
        rows, what, name_, reason, status.message());
  }
}

void SinkQueue::CountDropped(int64_t rows, absl::string_view reason) {
  if (reason == kQueueFull) {
    queue_full_.Increment(static_cast<double>(rows));
    return;
  }
  dropped_.Add({{"sink", name_}, {"reason", std::string(reason)}})
      .Increment(static_cast<double>(rows));
}

}  // namespace continuum::inference
