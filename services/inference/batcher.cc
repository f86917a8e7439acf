#include "services/inference/batcher.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace continuum::inference {

BatchScheduler::BatchScheduler(BatchSchedulerOptions options)
    : options_([&] {
        options.max_batch_size = std::max(1, options.max_batch_size);
        options.max_queued_rows = std::max(1, options.max_queued_rows);
        options.workers = std::max(1, options.workers);
        return options;
      }()) {
  workers_.reserve(options_.workers);
  for (int i = 0; i < options_.workers; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

BatchScheduler::~BatchScheduler() {
  std::deque<BatchTask> left;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    left.swap(queue_);
    queued_rows_ = 0;
  }
  for (std::thread& t : workers_) t.join();
  for (BatchTask& task : left) {
    task.done(absl::UnavailableError("the model is being unloaded; retry"),
              {});
  }
}

absl::Status BatchScheduler::Schedule(BatchTask task) {
  if (task.servable == nullptr || task.n <= 0 || task.rows == nullptr ||
      !task.done) {
    return absl::InvalidArgumentError(
        "a batch task needs a servable, rows and a callback");
  }
  bool run_inline = false;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      return absl::UnavailableError("the model is being unloaded; retry");
    }
    run_inline = options_.run_inline_when_idle && queue_.empty() &&
                 active_ < options_.workers &&
                 options_.batch_timeout <= absl::ZeroDuration();
    if (run_inline) ++active_;
  }
  if (run_inline) {
    task.enqueue_time = absl::Now();
    std::vector<BatchTask> batch;
    batch.push_back(std::move(task));
    std::vector<float> input, output;
    RunBatch(batch, input, output);
    absl::MutexLock lock(&mu_);
    --active_;
    return absl::OkStatus();
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError("the model is being unloaded; retry");
  }
  if (queued_rows_ + task.n > options_.max_queued_rows && queued_rows_ > 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the queue of model ", task.servable->model, " holds ", queued_rows_,
        " rows and takes at most ", options_.max_queued_rows,
        "; retry with backoff"));
  }
  task.enqueue_time = absl::Now();
  queued_rows_ += task.n;
  ++enqueued_;
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

int BatchScheduler::queued_rows() const {
  absl::MutexLock lock(&mu_);
  return queued_rows_;
}

void BatchScheduler::TakeMatching(const Servable* servable,
                                  std::vector<BatchTask>* batch, int* rows) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (*rows >= options_.max_batch_size) return;
    if (it->servable.get() == servable &&
        *rows + it->n <= options_.max_batch_size) {
      *rows += it->n;
      queued_rows_ -= it->n;
      batch->push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

void BatchScheduler::WorkerLoop() {
  std::vector<BatchTask> batch;
  std::vector<float> input, output;
  for (;;) {
    int rows = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](BatchScheduler* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stopping_ ||
                   (!s->queue_.empty() && s->active_ < s->options_.workers);
          },
          this));
      if (stopping_) return;
      ++active_;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      rows = batch.front().n;
      queued_rows_ -= rows;
      const Servable* servable = batch.front().servable.get();
      TakeMatching(servable, &batch, &rows);
      if (options_.batch_timeout > absl::ZeroDuration()) {
        // Wait for more rows of this version, counted from the oldest
        // task's arrival.
        const absl::Time until =
            batch.front().enqueue_time + options_.batch_timeout;
        while (rows < options_.max_batch_size && !stopping_) {
          uint64_t seen = enqueued_;
          auto arrived = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
            return stopping_ || enqueued_ != seen;
          };
          if (!mu_.AwaitWithDeadline(absl::Condition(&arrived), until)) break;
          TakeMatching(servable, &batch, &rows);
        }
      }
    }
    RunBatch(batch, input, output);
    batch.clear();
    absl::MutexLock lock(&mu_);
    --active_;
  }
}

void BatchScheduler::RunBatch(std::vector<BatchTask>& batch,
                              std::vector<float>& input,
                              std::vector<float>& output) {
  const absl::Time start = absl::Now();
  // Tasks whose deadline passed while queued are answered, not run.
  int live_rows = 0;
  for (BatchTask& task : batch) {
    if (options_.observer != nullptr) {
      options_.observer->OnQueued(*task.servable,
                                  start - task.enqueue_time);
    }
    if (task.deadline < start) {
      task.done(absl::DeadlineExceededError(absl::StrCat(
                    "the deadline passed after ",
                    absl::FormatDuration(start - task.enqueue_time),
                    " in the queue")),
                {});
      task.done = nullptr;
    } else {
      live_rows += task.n;
    }
  }
  if (live_rows == 0) return;
  const Servable& servable = *batch.front().servable;
  const float* in = nullptr;
  int tasks = 0;
  for (BatchTask& task : batch) {
    if (!task.done) continue;
    ++tasks;
    in = task.rows;
  }
  if (tasks > 1) {
    const int dim = servable.input_dim();
    input.resize(static_cast<size_t>(live_rows) * dim);
    float* p = input.data();
    for (BatchTask& task : batch) {
      if (!task.done) continue;
      p = std::copy(task.rows, task.rows + static_cast<size_t>(task.n) * dim,
                    p);
    }
    in = input.data();
  }
  absl::Status status = servable.runner->Forward(in, live_rows, &output);
  const absl::Duration compute = absl::Now() - start;
  if (status.ok()) {
    servable.rows_served.fetch_add(live_rows, std::memory_order_relaxed);
  }
  if (options_.observer != nullptr) {
    options_.observer->OnBatch(servable, tasks, live_rows, compute);
  }
  const size_t out_dim = servable.output_dim();
  size_t offset = 0;
  for (BatchTask& task : batch) {
    if (!task.done) continue;
    if (status.ok()) {
      task.done(status, absl::MakeConstSpan(output.data() + offset * out_dim,
                                            task.n * out_dim));
    } else {
      task.done(status, {});
    }
    offset += task.n;
  }
}

}  // namespace continuum::inference
