// Dynamic batching (Triton's dynamic batcher): requests for a model are
// queued and run together, up to max_batch_size rows or until
// batch_timeout has passed, by N independent workers (Triton's instance
// groups). The queue is bounded in rows and sheds load with
// RESOURCE_EXHAUSTED instead of growing.
//
// Requests of different versions of one model (stable, canary, shadow)
// share the queue and the workers; a batch holds rows of one version only.
#ifndef CONTINUUM_SERVICES_INFERENCE_BATCHER_H_
#define CONTINUUM_SERVICES_INFERENCE_BATCHER_H_

#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "services/inference/servable.h"

namespace continuum::inference {

// One request's rows for one version. `rows` (n * input_dim floats) must
// stay valid until `done` has been called. `done` is called exactly once,
// on a worker thread (or on the thread of Schedule when it runs inline, or
// in ~BatchScheduler), with the outputs of the n
// rows (n * output_dim floats, valid only during the call) or an error:
// DEADLINE_EXCEEDED if the deadline passed while queued, UNAVAILABLE if the
// scheduler stopped first, or the model's error.
struct BatchTask {
  ServableHandle servable;
  const float* rows = nullptr;
  int n = 0;
  absl::Time deadline = absl::InfiniteFuture();
  absl::AnyInvocable<void(const absl::Status&, absl::Span<const float>)> done;
  // Set by Schedule.
  absl::Time enqueue_time;
};

// Observes what the workers do, for metrics. Called on worker threads.
class BatchObserver {
 public:
  virtual ~BatchObserver() = default;
  // A batch of `rows` rows from `tasks` requests ran on `servable` in
  // `compute`.
  virtual void OnBatch(const Servable& servable, int tasks, int rows,
                       absl::Duration compute) = 0;
  // A task for `servable` waited `queued` before its batch started.
  virtual void OnQueued(const Servable& servable, absl::Duration queued) = 0;
};

struct BatchSchedulerOptions {
  // Most rows per forward pass; a task with more rows runs alone. >= 1.
  int max_batch_size = 64;
  // Longest a worker with fewer rows waits for more. Zero or negative: run
  // at once with what is queued (batches form only under load).
  absl::Duration batch_timeout = absl::ZeroDuration();
  // Most rows queued (not yet taken by a worker). >= 1.
  int max_queued_rows = 2048;
  // Worker threads. >= 1; also the most batches running at once.
  int workers = 1;
  // When nothing is queued, a worker slot is free and batch_timeout is
  // zero, run the task on the calling thread instead of handing it to a
  // worker: a lone request saves two thread wake-ups (one to the worker,
  // one back to gRPC). Under load the queue is not empty and requests
  // batch as usual.
  bool run_inline_when_idle = true;
  // Not owned; may be null.
  BatchObserver* observer = nullptr;
};

class BatchScheduler {
 public:
  explicit BatchScheduler(BatchSchedulerOptions options);
  // Stops the workers after the batches they are running; queued tasks
  // are answered UNAVAILABLE.
  ~BatchScheduler();

  BatchScheduler(const BatchScheduler&) = delete;
  BatchScheduler& operator=(const BatchScheduler&) = delete;

  // Queues `task`. RESOURCE_EXHAUSTED (and `task.done` is not called) if
  // its rows would take the queue past max_queued_rows; INVALID_ARGUMENT
  // for a task without servable, rows or callback.
  absl::Status Schedule(BatchTask task);

  // Rows queued now.
  int queued_rows() const;

  const BatchSchedulerOptions& options() const { return options_; }

 private:
  void WorkerLoop();
  // Moves into `batch` the queued tasks of `servable`, oldest first, while
  // they fit in max_batch_size rows next to `*rows`.
  void TakeMatching(const Servable* servable, std::vector<BatchTask>* batch,
                    int* rows) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs the batch (outside mu_) and answers every task.
  void RunBatch(std::vector<BatchTask>& batch, std::vector<float>& input,
                std::vector<float>& output);

  const BatchSchedulerOptions options_;
  mutable absl::Mutex mu_;
  std::deque<BatchTask> queue_ ABSL_GUARDED_BY(mu_);
  int queued_rows_ ABSL_GUARDED_BY(mu_) = 0;
  // Tasks ever queued; workers waiting for more rows watch it change.
  uint64_t enqueued_ ABSL_GUARDED_BY(mu_) = 0;
  // Batches running now, on workers or inline; at most options_.workers.
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_BATCHER_H_
