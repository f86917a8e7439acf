#include "services/inference/batcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "lib/model/model.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A model that doubles its input (input_dim = output_dim = 2) and records
// each batch's row count; it can be told to block until released.
class DoublingModel final : public model::Model {
 public:
  int input_dim() const override { return 2; }
  int output_dim() const override { return 2; }
  absl::Status Forward(const float* rows, int n,
                       std::vector<float>* out) const override {
    {
      absl::MutexLock lock(&mu_);
      batches_.push_back(n);
      ++running_;
      mu_.Await(absl::Condition(
          +[](bool* open) { return *open; }, &open_));
      --running_;
    }
    if (fail_) return absl::InternalError("boom");
    out->assign(rows, rows + 2 * n);
    for (float& v : *out) v *= 2;
    return absl::OkStatus();
  }
  const internal::v1::ModelBundle& bundle() const override { return bundle_; }

  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void WaitRunning(int n) {
    absl::MutexLock lock(&mu_);
    auto cond = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return running_ >= n;
    };
    mu_.Await(absl::Condition(&cond));
  }
  std::vector<int> batches() const {
    absl::MutexLock lock(&mu_);
    return batches_;
  }
  bool fail_ = false;

 private:
  internal::v1::ModelBundle bundle_;
  mutable absl::Mutex mu_;
  mutable std::vector<int> batches_ ABSL_GUARDED_BY(mu_);
  mutable int running_ ABSL_GUARDED_BY(mu_) = 0;
  mutable bool open_ ABSL_GUARDED_BY(mu_) = true;
};

struct Fixture {
  std::shared_ptr<Servable> servable = [] {
    auto s = std::make_shared<Servable>();
    s->model = "m";
    s->version = 1;
    s->runner = std::make_unique<DoublingModel>();
    return s;
  }();
  DoublingModel& model() {
    return *static_cast<DoublingModel*>(servable->runner.get());
  }
};

// One worker that runs at once with what is queued and never inline:
// batches form only from what queued while the worker was busy.
BatchSchedulerOptions OneWorker(int max_batch_size,
                                int max_queued_rows = 100) {
  return {.max_batch_size = max_batch_size,
          .batch_timeout = absl::ZeroDuration(),
          .max_queued_rows = max_queued_rows,
          .workers = 1,
          .run_inline_when_idle = false};
}

// Collects answers of tasks.
struct Results {
  absl::Mutex mu;
  std::vector<absl::Status> statuses ABSL_GUARDED_BY(mu);
  std::vector<std::vector<float>> outputs ABSL_GUARDED_BY(mu);

  BatchTask Task(ServableHandle s, const std::vector<float>& rows) {
    BatchTask t;
    t.servable = std::move(s);
    t.rows = rows.data();
    t.n = static_cast<int>(rows.size() / 2);
    t.done = [this](const absl::Status& status, absl::Span<const float> out) {
      absl::MutexLock lock(&mu);
      statuses.push_back(status);
      outputs.emplace_back(out.begin(), out.end());
    };
    return t;
  }
  void WaitFor(size_t n) {
    absl::MutexLock lock(&mu);
    auto cond = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return statuses.size() >= n;
    };
    mu.Await(absl::Condition(&cond));
  }
};

TEST(BatchSchedulerTest, QueuedRequestsRunTogetherUpToMaxBatchSize) {
  Fixture f;
  Results results;
  BatchScheduler scheduler(OneWorker(4));
  // Hold the worker in a first batch so that the next ones queue up.
  f.model().Close();
  std::vector<float> first = {1, 1};
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, first)).ok());
  f.model().WaitRunning(1);
  std::vector<std::vector<float>> rows;
  for (int i = 0; i < 6; ++i) rows.push_back({float(i), float(10 + i)});
  for (const auto& r : rows) {
    ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  }
  EXPECT_EQ(scheduler.queued_rows(), 6);
  f.model().Open();
  results.WaitFor(7);
  // 1 alone, then 4 together, then the last 2.
  EXPECT_THAT(f.model().batches(), ElementsAre(1, 4, 2));
  absl::MutexLock lock(&results.mu);
  for (size_t i = 1; i < 7; ++i) {
    ASSERT_TRUE(results.statuses[i].ok());
    // Each task gets its own rows back, doubled, in order.
    EXPECT_THAT(results.outputs[i],
                ElementsAre(2 * rows[i - 1][0], 2 * rows[i - 1][1]));
  }
}

TEST(BatchSchedulerTest, WaitsForTheTimeoutToFillABatch) {
  Fixture f;
  Results results;
  BatchScheduler scheduler({.max_batch_size = 3,
                            .batch_timeout = absl::Seconds(30),
                            .max_queued_rows = 100,
                            .workers = 1,
                            .run_inline_when_idle = false});
  std::vector<float> a = {1, 2}, b = {3, 4}, c = {5, 6};
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, a)).ok());
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, b)).ok());
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, c)).ok());
  // The batch is full before the (long) timeout: it runs at once.
  results.WaitFor(3);
  EXPECT_THAT(f.model().batches(), ElementsAre(3));
}

TEST(BatchSchedulerTest, ShedsLoadWhenTheQueueIsFull) {
  Fixture f;
  Results results;
  BatchScheduler scheduler(OneWorker(1, /*max_queued_rows=*/2));
  f.model().Close();
  std::vector<float> r = {1, 1};
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  f.model().WaitRunning(1);
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  absl::Status shed = scheduler.Schedule(results.Task(f.servable, r));
  EXPECT_EQ(shed.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(shed.message()), HasSubstr("at most 2"));
  f.model().Open();
  results.WaitFor(3);
  absl::MutexLock lock(&results.mu);
  EXPECT_EQ(results.statuses.size(), 3u);
}

TEST(BatchSchedulerTest, ExpiredTasksAreAnsweredWithoutRunning) {
  Fixture f;
  Results results;
  BatchScheduler scheduler(OneWorker(8));
  std::vector<float> r = {1, 1};
  BatchTask t = results.Task(f.servable, r);
  t.deadline = absl::Now() - absl::Seconds(1);
  ASSERT_TRUE(scheduler.Schedule(std::move(t)).ok());
  results.WaitFor(1);
  absl::MutexLock lock(&results.mu);
  EXPECT_EQ(results.statuses[0].code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(f.model().batches().empty());
}

TEST(BatchSchedulerTest, ModelErrorsReachEveryTaskOfTheBatch) {
  Fixture f;
  f.model().fail_ = true;
  Results results;
  BatchScheduler scheduler(OneWorker(8));
  std::vector<float> r = {1, 1};
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  results.WaitFor(1);
  absl::MutexLock lock(&results.mu);
  EXPECT_EQ(results.statuses[0].code(), absl::StatusCode::kInternal);
}

TEST(BatchSchedulerTest, BatchesHoldOneVersionOnly) {
  Fixture f, g;
  g.servable->version = 2;
  Results results;
  BatchScheduler scheduler(OneWorker(8));
  f.model().Close();
  std::vector<float> r = {1, 1};
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  f.model().WaitRunning(1);
  // Interleaved versions: 1, 2, 1, 2 -> one batch of each.
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  ASSERT_TRUE(scheduler.Schedule(results.Task(g.servable, r)).ok());
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  ASSERT_TRUE(scheduler.Schedule(results.Task(g.servable, r)).ok());
  f.model().Open();
  results.WaitFor(5);
  EXPECT_THAT(f.model().batches(), ElementsAre(1, 2));
  EXPECT_THAT(g.model().batches(), ElementsAre(2));
}

TEST(BatchSchedulerTest, AnIdleSchedulerRunsTheTaskInline) {
  Fixture f;
  Results results;
  BatchScheduler scheduler({.max_batch_size = 8,
                            .batch_timeout = absl::ZeroDuration(),
                            .max_queued_rows = 100,
                            .workers = 1});
  std::vector<float> r = {1, 2};
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  // Answered before Schedule returned, on this thread.
  absl::MutexLock lock(&results.mu);
  ASSERT_EQ(results.statuses.size(), 1u);
  EXPECT_TRUE(results.statuses[0].ok());
  EXPECT_THAT(results.outputs[0], ElementsAre(2, 4));
}

TEST(BatchSchedulerTest, InlineRunsCountAgainstTheWorkers) {
  Fixture f;
  Results results;
  BatchScheduler scheduler({.max_batch_size = 8,
                            .batch_timeout = absl::ZeroDuration(),
                            .max_queued_rows = 100,
                            .workers = 1});
  f.model().Close();
  std::vector<float> r = {1, 2};
  // The first runs inline on its own thread and blocks in the model; the
  // second must queue (the one slot is taken), not run beside it.
  std::thread inline_caller([&] {
    ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  });
  f.model().WaitRunning(1);
  ASSERT_TRUE(scheduler.Schedule(results.Task(f.servable, r)).ok());
  EXPECT_EQ(scheduler.queued_rows(), 1);
  f.model().Open();
  inline_caller.join();
  results.WaitFor(2);
  EXPECT_THAT(f.model().batches(), ElementsAre(1, 1));
}

TEST(BatchSchedulerTest, StoppingAnswersQueuedTasksUnavailable) {
  Fixture f;
  Results results;
  std::vector<float> r = {1, 1};
  auto scheduler = std::make_unique<BatchScheduler>(OneWorker(1));
  f.model().Close();
  ASSERT_TRUE(scheduler->Schedule(results.Task(f.servable, r)).ok());
  f.model().WaitRunning(1);
  // The only worker is held in the first batch: the second task stays
  // queued until the scheduler stops.
  ASSERT_TRUE(scheduler->Schedule(results.Task(f.servable, r)).ok());
  ASSERT_EQ(scheduler->queued_rows(), 1);
  // The destructor takes the queue at once, then waits for the running
  // batch; the model opens only once the queue was taken, so the second
  // task cannot have run.
  // `raw` outlives the wait: the destructor cannot end before the model
  // opens.
  BatchScheduler* raw = scheduler.get();
  std::thread stopper([&] { scheduler.reset(); });
  ASSERT_TRUE(continuum::testing::WaitFor(
      [raw] { return raw->queued_rows() == 0; }, absl::Seconds(30)));
  f.model().Open();
  stopper.join();
  results.WaitFor(2);
  absl::MutexLock lock(&results.mu);
  EXPECT_TRUE(results.statuses[0].ok()) << results.statuses[0];
  EXPECT_EQ(results.statuses[1].code(), absl::StatusCode::kUnavailable)
      << results.statuses[1];
  EXPECT_EQ(results.statuses[1].message(),
            "the model is being unloaded; retry");
}

}  // namespace
}  // namespace continuum::inference
