// The RunStore contract (run_store.h) against both implementations,
// SqliteRunStore and InMemoryRunStore; crash recovery, which only the
// SQLite file has, against SqliteRunStore alone.
#include "services/trainer/run_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "lib/core/proto_time.h"
#include "services/trainer/in_memory_run_store.h"
#include "services/trainer/sqlite_run_store.h"
#include "tests/util/subprocess.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::testing::HasSubstr;

v1::Run NewRun(const std::string& model, v1::RunState state,
               v1::RunPhase phase) {
  v1::Run run;
  run.set_model(model);
  run.set_state(state);
  run.mutable_progress()->set_phase(phase);
  return run;
}

enum class Backend { kSqlite, kMemory };

class RunStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    dir_ = ::continuum::testing::MakeTempDir("trainer_run_store_");
    path_ = dir_ + "/trainer.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<RunStore> Open() {
    if (GetParam() == Backend::kMemory) {
      return std::make_unique<InMemoryRunStore>();
    }
    auto store = SqliteRunStore::Open(path_, absl::FromUnixSeconds(1000));
    EXPECT_TRUE(store.ok()) << store.status();
    if (!store.ok()) return nullptr;
    return *std::move(store);
  }

  // The same store after a restart: SQLite reopens its file; the memory
  // store lives on as it is.
  std::unique_ptr<RunStore> Reopen(std::unique_ptr<RunStore> store) {
    if (GetParam() == Backend::kMemory) return store;
    store.reset();
    return Open();
  }

  std::string dir_;
  std::string path_;
};

TEST_P(RunStoreTest, NumbersRunsPerModelAndListsNewestFirst) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  auto a1 =
      store->CreateRun(NewRun("a", v1::RUN_STATE_QUEUED, v1::RUN_PHASE_QUEUED));
  auto b1 =
      store->CreateRun(NewRun("b", v1::RUN_STATE_QUEUED, v1::RUN_PHASE_QUEUED));
  auto a2 =
      store->CreateRun(NewRun("a", v1::RUN_STATE_QUEUED, v1::RUN_PHASE_QUEUED));
  ASSERT_TRUE(a1.ok() && b1.ok() && a2.ok());
  EXPECT_EQ(a1->name(), "models/a/runs/1");
  EXPECT_EQ(b1->name(), "models/b/runs/1");
  EXPECT_EQ(a2->name(), "models/a/runs/2");

  auto all = store->ListRuns("", 0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].second.name(), "models/a/runs/2");
  EXPECT_EQ((*all)[2].second.name(), "models/a/runs/1");
  auto only_a = store->ListRuns("a", 0, 1);
  ASSERT_TRUE(only_a.ok());
  ASSERT_EQ(only_a->size(), 1u);
  auto rest = store->ListRuns("a", (*only_a)[0].first, 10);
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].second.name(), "models/a/runs/1");

  v1::Run updated = *a1;
  updated.set_state(v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(store->PutRun(updated).ok());
  auto got = store->GetRun("models/a/runs/1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state(), v1::RUN_STATE_SUCCEEDED);
  v1::Run missing = *a1;
  missing.set_name("models/a/runs/9");
  EXPECT_TRUE(absl::IsNotFound(store->PutRun(missing)));
  EXPECT_FALSE(store->GetRun("models/a/runs/9")->has_value());
}

TEST_P(RunStoreTest, ConfigsSchedulesAndTriggersSurviveReopening) {
  auto store = Open();
  ASSERT_NE(store, nullptr);
  {
    v1::TrainingConfig config;
    config.set_epochs(7);
    config.mutable_schedule()->set_min_new_records(5);
    ASSERT_TRUE(store->PutConfig("m", config).ok());
    ScheduleState state;
    state.status.set_circuit_open(true);
    state.status.set_consecutive_failures(3);
    state.status.set_active_run("not stored");
    state.last_slot = absl::FromUnixSeconds(12345);
    ASSERT_TRUE(store->PutSchedule("m", state).ok());
    ASSERT_TRUE(store
                    ->PutTrigger("m", "req-1", "models/m/runs/1",
                                 absl::FromUnixSeconds(100))
                    .ok());
  }
  store = Reopen(std::move(store));
  ASSERT_NE(store, nullptr);
  auto config = store->GetConfig("m");
  ASSERT_TRUE(config.ok() && config->has_value());
  EXPECT_EQ((*config)->epochs(), 7);
  EXPECT_FALSE(store->GetConfig("other")->has_value());
  auto configs = store->ListConfigs();
  ASSERT_TRUE(configs.ok());
  ASSERT_EQ(configs->size(), 1u);
  auto state = store->GetSchedule("m");
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state->status.circuit_open());
  EXPECT_EQ(state->status.consecutive_failures(), 3);
  EXPECT_EQ(state->status.active_run(), "");
  EXPECT_EQ(state->last_slot, absl::FromUnixSeconds(12345));
  auto fresh = store->GetSchedule("other");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->last_slot, absl::InfinitePast());
  auto seen = store->FindTrigger("m", "req-1", absl::FromUnixSeconds(50));
  ASSERT_TRUE(seen.ok() && seen->has_value());
  EXPECT_EQ(**seen, "models/m/runs/1");
  // Older than the idempotency window: forgotten.
  EXPECT_FALSE(store->FindTrigger("m", "req-1", absl::FromUnixSeconds(101))
                   ->has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, RunStoreTest,
                         ::testing::Values(Backend::kSqlite, Backend::kMemory),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return info.param == Backend::kSqlite ? "Sqlite"
                                                                 : "InMemory";
                         });

class SqliteRunStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::continuum::testing::MakeTempDir("trainer_run_store_");
    path_ = dir_ + "/trainer.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SqliteRunStore> Open(
      absl::Time now = absl::FromUnixSeconds(1000)) {
    auto store = SqliteRunStore::Open(path_, now);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

// A crash leaves runs QUEUED or RUNNING in the file: the next Open (here a
// second connection to the same file while the first is still open, as
// after a kill -9) marks them FAILED with the restart reason and leaves
// finished runs alone.
TEST_F(SqliteRunStoreTest, OpenFailsRunsACrashInterrupted) {
  auto first = Open();
  ASSERT_NE(first, nullptr);
  auto running = first->CreateRun(
      NewRun("m", v1::RUN_STATE_RUNNING, v1::RUN_PHASE_TRAINING));
  auto queued =
      first->CreateRun(NewRun("m", v1::RUN_STATE_QUEUED, v1::RUN_PHASE_QUEUED));
  auto done = first->CreateRun(
      NewRun("m", v1::RUN_STATE_SUCCEEDED, v1::RUN_PHASE_DONE));
  ASSERT_TRUE(running.ok() && queued.ok() && done.ok());

  const absl::Time restart = absl::FromUnixSeconds(5000);
  auto second = Open(restart);
  ASSERT_NE(second, nullptr);
  EXPECT_EQ(second->recovered_runs(), 2);
  for (const std::string& name : {running->name(), queued->name()}) {
    auto run = second->GetRun(name);
    ASSERT_TRUE(run.ok() && run->has_value());
    EXPECT_EQ((*run)->state(), v1::RUN_STATE_FAILED) << name;
    EXPECT_EQ((*run)->error().code(),
              static_cast<int>(absl::StatusCode::kAborted));
    EXPECT_THAT((*run)->error().message(), HasSubstr(kInterruptedReason));
    EXPECT_EQ((*run)->progress().phase(), v1::RUN_PHASE_DONE);
    EXPECT_EQ(FromProto((*run)->end_time()), restart);
  }
  EXPECT_THAT((*second->GetRun(running->name()))->error().message(),
              HasSubstr("RUN_PHASE_TRAINING"));
  auto finished = second->GetRun(done->name());
  ASSERT_TRUE(finished.ok() && finished->has_value());
  EXPECT_EQ((*finished)->state(), v1::RUN_STATE_SUCCEEDED);
  // The next run of the model starts clean, numbered after the others.
  auto next = second->CreateRun(
      NewRun("m", v1::RUN_STATE_QUEUED, v1::RUN_PHASE_QUEUED));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->name(), "models/m/runs/4");
  first.reset();
  second.reset();
  // Nothing left to recover.
  auto third = Open();
  ASSERT_NE(third, nullptr);
  EXPECT_EQ(third->recovered_runs(), 1);  // runs/4, left QUEUED above.
}

}  // namespace
}  // namespace continuum::trainer
