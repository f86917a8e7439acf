// AlertLog: sequences, retention, the settled watermark watchers follow,
// and the queries of ListAlerts and GetAlert; then the same through
// DriftMonitor (listing, bounding, waiting, watching).
#include "services/drift/alert_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/page_token.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/monitor_test_util.h"
#include "tests/util/subprocess.h"

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

v1::Alert NewAlert(const std::string& model,
                   v1::AlertSeverity severity = v1::ALERT_SEVERITY_WARNING) {
  v1::Alert alert;
  alert.set_model(model);
  alert.set_type(v1::ALERT_TYPE_CONCEPT);
  alert.set_severity(severity);
  return alert;
}

// Settles `alert` with a successful action.
v1::Alert Acted(v1::Alert alert) {
  alert.mutable_action_result()->set_action(v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  alert.mutable_action_result()->set_succeeded(true);
  alert.mutable_action_result()->set_message("done");
  return alert;
}

TEST(AlertLogTest, RaiseNumbersNamesAndMarksPending) {
  AlertLog log(10);
  EXPECT_EQ(log.latest(), 0);
  EXPECT_EQ(log.settled(), 0);
  v1::Alert a = log.Raise(NewAlert("m"));
  EXPECT_EQ(a.sequence(), 1);
  EXPECT_EQ(a.name(), "models/m/alerts/1");
  EXPECT_EQ(a.action_result().action(), v1::DRIFT_ACTION_NONE);
  EXPECT_EQ(a.action_result().message(), kActionPending);
  EXPECT_EQ(log.Raise(NewAlert("n")).sequence(), 2);
  EXPECT_EQ(log.latest(), 2);
  EXPECT_EQ(log.settled(), 0);
  // Listed at once, with the action pending.
  EXPECT_EQ(log.Get("models/n/alerts/2")->action_result().message(),
            kActionPending);
}

TEST(AlertLogTest, SettledIsBelowTheFirstPendingAlert) {
  AlertLog log(10);
  v1::Alert a1 = log.Raise(NewAlert("m"));
  v1::Alert a2 = log.Raise(NewAlert("m"));
  v1::Alert a3 = log.Raise(NewAlert("m"));
  EXPECT_EQ(log.Settle(Acted(a2)), 0);  // 1 is still pending.
  int64_t scanned = -1;
  EXPECT_TRUE(log.After(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10, &scanned)
                  .empty());
  EXPECT_EQ(scanned, 0);
  EXPECT_EQ(log.Settle(a1), 2);
  std::vector<v1::Alert> seen =
      log.After(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10, &scanned);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].action_result().message(), "done");
  EXPECT_EQ(scanned, 2);
  EXPECT_EQ(log.Settle(a3), 3);
  ASSERT_NE(log.LastActed("m"), nullptr);
  EXPECT_EQ(log.LastActed("m")->sequence(), 2);
  EXPECT_EQ(log.LastActed("n"), nullptr);
}

TEST(AlertLogTest, AfterFiltersAndStopsAtTheLimit) {
  AlertLog log(10);
  for (int i = 0; i < 5; ++i) {
    log.Settle(log.Raise(NewAlert(i % 2 == 0 ? "a" : "b",
                                  i == 4 ? v1::ALERT_SEVERITY_CRITICAL
                                         : v1::ALERT_SEVERITY_INFO)));
  }
  int64_t scanned = 0;
  std::vector<v1::Alert> a =
      log.After(0, {"a"}, v1::ALERT_SEVERITY_UNSPECIFIED, 10, &scanned);
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(scanned, 5);
  a = log.After(0, {}, v1::ALERT_SEVERITY_CRITICAL, 10, &scanned);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].sequence(), 5);
  // A full page: the watcher resumes after the last alert returned.
  a = log.After(1, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 2, &scanned);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(scanned, 3);
}

TEST(AlertLogTest, KeepsTheNewestMaxAlerts) {
  AlertLog log(2);
  for (int i = 0; i < 3; ++i) log.Settle(log.Raise(NewAlert("m")));
  EXPECT_EQ(log.latest(), 3);
  std::vector<v1::Alert> kept =
      log.After(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10, nullptr);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].sequence(), 2);
  EXPECT_EQ(log.Get("models/m/alerts/1").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(AlertLogTest, RestoredAlertsAreSettledAndSequencesContinue) {
  AlertLog log(10);
  v1::Alert acted = Acted(NewAlert("m"));
  acted.set_sequence(7);
  v1::Alert pending = NewAlert("m");
  pending.set_sequence(8);
  pending.mutable_action_result()->set_message(kActionPending);
  log.Restore({acted, pending});
  EXPECT_EQ(log.latest(), 8);
  EXPECT_EQ(log.settled(), 8);
  EXPECT_EQ(log.LastActed("m")->sequence(), 7);
  std::vector<v1::Alert> kept =
      log.After(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10, nullptr);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].action_result().message(),
            "action outcome unknown: the drift service stopped before "
            "recording it");
  EXPECT_EQ(log.Raise(NewAlert("m")).sequence(), 9);
}

TEST(AlertLogTest, QueriesAreChecked) {
  v1::ListAlertsRequest request;
  request.set_parent("models/-");
  absl::StatusOr<AlertQuery> all = ParseAlertQuery(request);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->model.empty());
  EXPECT_EQ(all->page_size, 100);
  request.set_parent("models/m");
  request.set_page_size(5000);
  // Page tokens are opaque (core::EncodePageToken), bound to the parent
  // and the filter.
  request.set_page_token(core::EncodePageToken("12", "models/m\n"));
  absl::StatusOr<AlertQuery> one = ParseAlertQuery(request);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->model, "m");
  EXPECT_EQ(one->page_size, 1000);
  EXPECT_EQ(one->before, 12);
  // Issue 14: a bare sequence number (what tokens used to be), a token of
  // another parent, a token whose position is no sequence.
  for (const std::string& token :
       {std::string("12"), core::EncodePageToken("12", "models/-\n"),
        core::EncodePageToken("0", "models/m\n")}) {
    request.set_page_token(token);
    EXPECT_EQ(ParseAlertQuery(request).status().code(),
              absl::StatusCode::kInvalidArgument)
        << token;
  }
  request.set_page_token(core::EncodePageToken("0", "models/m\n"));
  EXPECT_EQ(ParseAlertQuery(request).status().message(),
            "page_token is malformed");
  request.clear_page_token();
  request.set_page_size(-1);
  EXPECT_EQ(ParseAlertQuery(request).status().message(),
            "page_size must be >= 0");
  request.set_page_size(0);
  request.set_filter("colour = red");
  EXPECT_EQ(ParseAlertQuery(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_parent("datasets/x");
  EXPECT_EQ(ParseAlertQuery(request).status().message(),
            "parent: name \"datasets/x\" is not of the form models/{model} "
            "(or models/- for every model)");
}

TEST(AlertLogTest, GetChecksTheName) {
  AlertLog log(10);
  log.Raise(NewAlert("m"));
  EXPECT_TRUE(log.Get("models/m/alerts/1").ok());
  EXPECT_EQ(log.Get("models/n/alerts/1").status().message(),
            "alert 'models/n/alerts/1' not found");
  EXPECT_EQ(log.Get("models/m/alerts/0").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log.Get("models/m/alerts").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// Through DriftMonitor.

TEST_F(DriftMonitorTest, ListAlertsFiltersAndPages) {
  FeedErrorJump("a", 1);
  FeedErrorJump("a", 2);
  FeedErrorJump("b", 1);
  const int64_t total = monitor_.latest_sequence();
  ASSERT_EQ(total, 3);

  v1::ListAlertsRequest request;
  request.set_parent("models/-");
  request.set_page_size(2);
  auto page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->alerts_size(), 2);
  EXPECT_EQ(page->alerts(0).sequence(), 3);  // Newest first.
  EXPECT_EQ(page->alerts(1).sequence(), 2);
  ASSERT_FALSE(page->next_page_token().empty());
  request.set_page_token(page->next_page_token());
  page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->alerts_size(), 1);
  EXPECT_EQ(page->alerts(0).sequence(), 1);
  EXPECT_TRUE(page->next_page_token().empty());

  request.Clear();
  request.set_parent("models/a");
  request.set_filter("version = 2 AND type = ALERT_TYPE_CONCEPT");
  page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->alerts_size(), 1);
  EXPECT_EQ(page->alerts(0).version(), 2);
  EXPECT_EQ(page->alerts(0).model(), "a");

  request.set_filter("type = ALERT_TYPE_DATA");
  page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->alerts_size(), 0);

  request.set_filter("colour = red");
  EXPECT_EQ(monitor_.ListAlerts(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_filter("");
  request.set_page_token("x");
  EXPECT_EQ(monitor_.ListAlerts(request).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto alert = monitor_.GetAlert("models/b/alerts/3");
  ASSERT_TRUE(alert.ok()) << alert.status();
  EXPECT_EQ(alert->model(), "b");
  EXPECT_EQ(monitor_.GetAlert("models/a/alerts/3").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(monitor_.GetAlert("models/alerts/3").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(monitor_.GetAlert("models/a/alerts/x").status().code(),
            absl::StatusCode::kInvalidArgument);

  std::vector<v1::Alert> after =
      monitor_.AlertsAfter(1, {"a"}, v1::ALERT_SEVERITY_WARNING, 10);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].sequence(), 2);
}

TEST_F(DriftMonitorTest, AlertsAreBounded) {
  DriftMonitor small(DriftMonitorOptions{.clock = &clock_, .max_alerts = 2});
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_monitor()->mutable_performance()->set_max_error_rate(0.2);
  ASSERT_TRUE(small.ConfigureMonitor(request).ok());
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(
        small.Observe(Batch("m", v, std::vector<bool>(200, false))).ok());
  }
  EXPECT_EQ(small.latest_sequence(), 3);
  std::vector<v1::Alert> kept = AllAlerts(small);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].sequence(), 2);
}

TEST_F(DriftMonitorTest, WaitForAlertWakesOnNewAlert) {
  const absl::Time start = absl::Now();
  EXPECT_EQ(monitor_.WaitForAlert(0, absl::Now() + absl::Milliseconds(150),
                                  [] { return false; }),
            0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(140));

  int64_t woke_with = -1;
  absl::Time woke_at;
  std::thread waiter([&] {
    woke_with = monitor_.WaitForAlert(0, absl::Now() + absl::Seconds(30),
                                      [] { return false; });
    woke_at = absl::Now();
  });
  // The alert is raised only once the waiter is blocked, so that the test
  // sees a wake-up, not a wait that found the alert already there.
  ASSERT_TRUE(continuum::testing::WaitFor(
      [&] { return monitor_.settled_alerts().waiters() == 1; },
      absl::Seconds(30)));
  const absl::Time raised_at = absl::Now();
  FeedErrorJump("w", 1);
  waiter.join();
  EXPECT_EQ(woke_with, 1);
  EXPECT_LT(woke_at - raised_at, absl::Seconds(5));

  // Cancellation ends the wait, with no new alert: it returns the latest
  // sequence as it was.
  std::atomic<bool> cancel = false;
  int64_t cancelled_with = -1;
  std::thread cancelled([&] {
    cancelled_with = monitor_.WaitForAlert(monitor_.latest_sequence(),
                                           absl::Now() + absl::Seconds(30),
                                           [&] { return cancel.load(); });
  });
  ASSERT_TRUE(continuum::testing::WaitFor(
      [&] { return monitor_.settled_alerts().waiters() == 1; },
      absl::Seconds(30)));
  cancel = true;  // Checked at least every 100 ms.
  cancelled.join();
  EXPECT_EQ(cancelled_with, 1);
  EXPECT_EQ(monitor_.settled_alerts().waiters(), 0);
}

TEST(DriftWatchTest, WatchersSeeAnAlertOnlyOnceItsActionRan) {
  core::FakeClock clock;
  BlockingTarget target;
  FakeReferences references;
  DriftMonitorOptions options;
  options.clock = &clock;
  options.actions = &target;
  options.references = &references;
  options.reference_poll_interval = absl::ZeroDuration();
  DriftMonitor monitor(options);
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_monitor()->mutable_reference_tests()->set_window_size(300);
  ASSERT_TRUE(monitor.ConfigureMonitor(request).ok());
  ASSERT_TRUE(monitor.Observe(FeatureRows(1, 300, 8, 1)).ok());
  std::thread worker([&] { monitor.RunReferenceWork(); });
  target.AwaitEntered();
  // Raised and listed (action pending), but not yet shown to watchers.
  v1::ListAlertsRequest list;
  list.set_parent("models/m");
  auto listed = monitor.ListAlerts(list);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->alerts_size(), 1);
  EXPECT_EQ(listed->alerts(0).action_result().message(), "action pending");
  int64_t scanned = -1;
  EXPECT_TRUE(monitor
                  .AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10,
                               &scanned)
                  .empty());
  EXPECT_EQ(scanned, 0);
  EXPECT_EQ(monitor.WaitForAlert(0, absl::Now() + absl::Milliseconds(50),
                                 [] { return false; }),
            0);
  target.Release();
  worker.join();
  std::vector<v1::Alert> watched =
      monitor.AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10);
  ASSERT_EQ(watched.size(), 1u);
  EXPECT_EQ(watched[0].action_result().action(),
            v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  EXPECT_NE(watched[0].action_result().message(), "action pending");
}

}  // namespace
}  // namespace continuum::drift_service
