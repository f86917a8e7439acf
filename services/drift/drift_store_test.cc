// InMemoryDriftStore (the SQLite store has sqlite_drift_store_test).
#include "services/drift/drift_store.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"

namespace continuum::drift_service {
namespace {

v1::Alert Alert(int64_t sequence) {
  v1::Alert alert;
  alert.set_model("m");
  alert.set_sequence(sequence);
  alert.set_name(absl::StrCat("models/m/alerts/", sequence));
  return alert;
}

TEST(InMemoryDriftStoreTest, KeepsWhatWasPut) {
  InMemoryDriftStore store;
  v1::Monitor monitor;
  monitor.set_name("models/m/monitor");
  ASSERT_TRUE(store.PutMonitor("m", monitor).ok());
  ASSERT_TRUE(store.PutAlert(Alert(1)).ok());
  v1::Alert replaced = Alert(1);
  replaced.set_message("acted");
  ASSERT_TRUE(store.PutAlert(replaced).ok());
  ASSERT_TRUE(store.PutLastAction("m", absl::FromUnixSeconds(5)).ok());
  absl::StatusOr<DriftState> state = store.Load();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->monitors.at("m").name(), "models/m/monitor");
  ASSERT_EQ(state->alerts.size(), 1u);
  EXPECT_EQ(state->alerts[0].message(), "acted");
  EXPECT_EQ(state->last_actions.at("m"), absl::FromUnixSeconds(5));
}

TEST(InMemoryDriftStoreTest, KeepsTheNewestMaxAlertsOldestFirst) {
  InMemoryDriftStore store(/*max_alerts=*/2);
  for (int64_t s : {3, 1, 2, 4}) ASSERT_TRUE(store.PutAlert(Alert(s)).ok());
  absl::StatusOr<DriftState> state = store.Load();
  ASSERT_TRUE(state.ok());
  ASSERT_EQ(state->alerts.size(), 2u);
  EXPECT_EQ(state->alerts[0].sequence(), 3);
  EXPECT_EQ(state->alerts[1].sequence(), 4);
  // At least one is always kept.
  InMemoryDriftStore one(/*max_alerts=*/0);
  ASSERT_TRUE(one.PutAlert(Alert(9)).ok());
  EXPECT_EQ(one.Load()->alerts.size(), 1u);
}

}  // namespace
}  // namespace continuum::drift_service
