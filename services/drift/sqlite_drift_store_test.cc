#include "services/drift/sqlite_drift_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "lib/core/clock.h"
#include "services/drift/drift_monitor.h"
#include "tests/util/subprocess.h"

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

v1::Monitor Monitor(const std::string& model, double max_error_rate) {
  v1::Monitor monitor = DriftMonitor::DefaultMonitor(model);
  monitor.set_is_default(false);
  monitor.mutable_performance()->set_max_error_rate(max_error_rate);
  return monitor;
}

v1::Alert Alert(const std::string& model, int64_t sequence) {
  v1::Alert alert;
  alert.set_model(model);
  alert.set_sequence(sequence);
  alert.set_name(absl::StrCat("models/", model, "/alerts/", sequence));
  alert.set_message(absl::StrCat("alert ", sequence));
  return alert;
}

std::vector<int64_t> Sequences(const DriftState& state) {
  std::vector<int64_t> out;
  for (const v1::Alert& a : state.alerts) out.push_back(a.sequence());
  return out;
}

class SqliteDriftStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("drift_store_");
    path_ = dir_ + "/drift.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<SqliteDriftStore> Open(int64_t max_alerts = 100) {
    auto store = SqliteDriftStore::Open(path_, max_alerts);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(SqliteDriftStoreTest, MonitorsAlertsAndActionsSurviveReopening) {
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->PutMonitor("a", Monitor("a", 0.1)).ok());
    ASSERT_TRUE(store->PutMonitor("b", Monitor("b", 0.2)).ok());
    ASSERT_TRUE(store->PutMonitor("a", Monitor("a", 0.3)).ok());  // Replaces.
    ASSERT_TRUE(store->PutAlert(Alert("a", 1)).ok());
    ASSERT_TRUE(store->PutAlert(Alert("b", 2)).ok());
    v1::Alert acted = Alert("a", 1);
    acted.mutable_action_result()->set_action(v1::DRIFT_ACTION_ROLLBACK);
    acted.mutable_action_result()->set_succeeded(true);
    ASSERT_TRUE(store->PutAlert(acted).ok());  // Replaces by sequence.
    ASSERT_TRUE(store->PutLastAction("a", absl::FromUnixSeconds(1234)).ok());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  absl::StatusOr<DriftState> state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  ASSERT_EQ(state->monitors.size(), 2u);
  EXPECT_EQ(state->monitors.at("a").performance().max_error_rate(), 0.3);
  EXPECT_EQ(state->monitors.at("b").name(), "models/b/monitor");
  EXPECT_EQ(Sequences(*state), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(state->alerts[0].name(), "models/a/alerts/1");
  EXPECT_TRUE(state->alerts[0].action_result().succeeded());
  EXPECT_EQ(state->alerts[1].message(), "alert 2");
  ASSERT_EQ(state->last_actions.size(), 1u);
  EXPECT_EQ(state->last_actions.at("a"), absl::FromUnixSeconds(1234));
}

TEST_F(SqliteDriftStoreTest, KeepsTheNewestMaxAlerts) {
  auto store = Open(/*max_alerts=*/3);
  ASSERT_NE(store, nullptr);
  for (int64_t s = 1; s <= 5; ++s)
    ASSERT_TRUE(store->PutAlert(Alert("a", s)).ok());
  // A late action result for a dropped alert does not bring it back.
  ASSERT_TRUE(store->PutAlert(Alert("a", 1)).ok());
  absl::StatusOr<DriftState> state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(Sequences(*state), (std::vector<int64_t>{3, 4, 5}));
  store.reset();
  // Reopened with a smaller bound: trimmed on the next alert.
  store = Open(/*max_alerts=*/1);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->PutAlert(Alert("a", 6)).ok());
  state = store->Load();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(Sequences(*state), (std::vector<int64_t>{6}));
}

TEST_F(SqliteDriftStoreTest, NewerSchemaIsRefused) {
  ASSERT_NE(Open(), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         absl::StrCat("INSERT INTO schema_version (version) "
                                      "VALUES (",
                                      SqliteDriftStore::kSchemaVersion + 1, ")")
                             .c_str(),
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteDriftStore::Open(path_, 100);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(store.status().message(), HasSubstr("drift"));
}

TEST_F(SqliteDriftStoreTest, CorruptMonitorIsDataLoss) {
  ASSERT_NE(Open(), nullptr);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "INSERT INTO monitors (model, proto) "
                         "VALUES ('a', x'ffffffff')",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Load().status().code(), absl::StatusCode::kDataLoss);
}

// A DriftMonitor over the SQLite store: a configured monitor is back after
// a restart, with its update time; an invalid one stops the restore.
TEST_F(SqliteDriftStoreTest, DriftMonitorRestoresConfiguredMonitor) {
  core::FakeClock clock;
  v1::ConfigureMonitorRequest request;
  *request.mutable_monitor() = Monitor("fraud", 0.25);
  google::protobuf::Timestamp configured;
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    DriftMonitor monitor({.clock = &clock, .store = store.get()});
    ASSERT_TRUE(monitor.Restore().ok());
    auto set = monitor.ConfigureMonitor(request);
    ASSERT_TRUE(set.ok()) << set.status();
    configured = set->update_time();
  }
  clock.Advance(absl::Hours(1));
  {
    auto store = Open();
    ASSERT_NE(store, nullptr);
    DriftMonitor monitor({.clock = &clock, .store = store.get()});
    ASSERT_TRUE(monitor.Restore().ok());
    auto got = monitor.GetMonitor("models/fraud/monitor");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->performance().max_error_rate(), 0.25);
    EXPECT_FALSE(got->is_default());
    EXPECT_EQ(got->update_time().seconds(), configured.seconds());
    // Written by a build that knew another detector.
    v1::Monitor bad = *got;
    bad.mutable_detectors(0)->set_detector("no_such_detector");
    ASSERT_TRUE(store->PutMonitor("fraud", bad).ok());
  }
  auto store = Open();
  ASSERT_NE(store, nullptr);
  DriftMonitor monitor({.clock = &clock, .store = store.get()});
  absl::Status restored = monitor.Restore();
  EXPECT_EQ(restored.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(restored.message(), HasSubstr("fraud"));
}

}  // namespace
}  // namespace continuum::drift_service
