// The bounded queue and thread of one prediction sink (prediction_sink.h),
// for the prediction log (prediction_logger.h).
//
// Rows enter with Enqueue (on the request path: never blocks on the
// network; a full queue drops the row and counts it). The queue's thread
// calls the sink's Send when `max_batch_rows` rows are pending or
// `flush_interval` has passed since its last send, with a deadline of
// `rpc_timeout`. A failed batch is dropped, never retried. Memory is
// bounded by `max_pending_rows` and `max_pending_bytes` (ApproxBytes of
// the rows queued or in flight) whatever the destination does.
//
// Metrics (families shared by every queue of one logger; sink = the sink's
// name):
//   continuum_inference_log_sent_rows_total{sink}             counter
//   continuum_inference_log_dropped_rows_total{sink, reason}  counter
//     reason: queue_full, stopped (enqueued after BeginStop), shutdown
//     (still pending when the stop deadline passed), or the failed call's
//     status code name in lower case
//   continuum_inference_log_pending_rows{sink}                gauge
//     rows queued or being sent.
//   continuum_inference_log_pending_bytes{sink}               gauge
//     their ApproxBytes.
// Every row offered to Enqueue or Reject is counted exactly once, as sent
// or dropped.
//
// Thread safety: every method is thread-safe. Lifecycle: Start once, then
// BeginStop and Join (the destructor does both if the owner did not).
#ifndef CONTINUUM_SERVICES_INFERENCE_SINK_QUEUE_H_
#define CONTINUUM_SERVICES_INFERENCE_SINK_QUEUE_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/inference/prediction_sink.h"

namespace continuum::inference {

// The metric families every queue of one logger shares (see above).
struct SinkQueueMetrics {
  explicit SinkQueueMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& sent;
  prometheus::Family<prometheus::Counter>& dropped;
  prometheus::Family<prometheus::Gauge>& pending;
  prometheus::Family<prometheus::Gauge>& pending_bytes;
};

struct SinkQueueSettings {
  // Most rows queued; more are dropped as queue_full.
  int64_t max_pending_rows = 65536;
  // Most bytes (ApproxBytes) queued or in flight; more are dropped as
  // queue_full.
  int64_t max_pending_bytes = int64_t{32} << 20;
  // Most rows per Send; this many pending wake the thread early.
  int64_t max_batch_rows = 1024;
  // Longest a row waits for its batch.
  absl::Duration flush_interval = absl::Milliseconds(200);
  // Deadline of each Send.
  absl::Duration rpc_timeout = absl::Seconds(5);
};

class SinkQueue {
 public:
  // `metrics` must outlive the queue.
  SinkQueue(std::unique_ptr<PredictionSink> sink,
            const SinkQueueSettings& settings, SinkQueueMetrics& metrics);
  // BeginStop(now) and Join, unless done already.
  ~SinkQueue();

  SinkQueue(const SinkQueue&) = delete;
  SinkQueue& operator=(const SinkQueue&) = delete;

  // Starts the thread. Call once.
  void Start();

  // Whether a row would be taken now (racy and lock-free, for the request
  // path; Enqueue decides).
  bool HasRoom() const {
    return !stopping_flag_.load(std::memory_order_relaxed) &&
           queued_.load(std::memory_order_relaxed) <
               settings_.max_pending_rows &&
           pending_bytes_mirror_.load(std::memory_order_relaxed) <
               settings_.max_pending_bytes;
  }

  // Counts `rows` rows that were not offered because no queue had room
  // (as stopped after BeginStop, else as queue_full).
  void Reject(int64_t rows);

  // Queues what fits; counts the rest as dropped (queue_full, or stopped
  // after BeginStop).
  void Enqueue(const std::vector<LoggedRowPtr>& rows) ABSL_LOCKS_EXCLUDED(mu_);

  // Sends what is queued now on the calling thread and returns once no
  // batch is in flight.
  void Flush() ABSL_LOCKS_EXCLUDED(mu_);

  // Stops taking rows; the thread sends what is pending until `deadline`
  // and drops the rest as shutdown. Idempotent.
  void BeginStop(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  // Waits for the thread to end (after BeginStop).
  void Join();

  absl::string_view name() const { return name_; }

 private:
  bool WakeLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  bool IdleLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void UpdateGaugesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves up to min(limit, max_batch_rows) rows from the queue to in flight.
  std::vector<LoggedRowPtr> TakeBatchLocked(int64_t limit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends `batch` without holding mu_, then takes it out of in flight.
  void SendUnlocked(const std::vector<LoggedRowPtr>& batch,
                    absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Counts the `rows` rows of one call as sent or dropped.
  void Report(int64_t rows, const absl::Status& status,
              absl::string_view what);
  void CountDropped(int64_t rows, absl::string_view reason);

  const std::unique_ptr<PredictionSink> sink_;
  const std::string name_;
  const SinkQueueSettings settings_;
  // Queue length that wakes the thread before the interval is over.
  const int64_t trigger_rows_;
  prometheus::Counter& sent_;
  prometheus::Family<prometheus::Counter>& dropped_;
  prometheus::Counter& queue_full_;
  prometheus::Gauge& pending_;
  prometheus::Gauge& pending_bytes_gauge_;
  // Mirrors of queue_.size() and stopping_ for lock-free HasRoom.
  std::atomic<int64_t> queued_{0};
  std::atomic<int64_t> pending_bytes_mirror_{0};
  std::atomic<bool> stopping_flag_{false};
  std::atomic<int64_t> last_warning_micros_{0};

  // State below is protected by mu_.
  absl::Mutex mu_;
  std::deque<LoggedRowPtr> queue_ ABSL_GUARDED_BY(mu_);
  // Rows taken from the queue whose call has not finished.
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // ApproxBytes of the rows queued and in flight.
  int64_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  std::thread thread_;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_SINK_QUEUE_H_
