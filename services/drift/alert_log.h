// AlertLog: the drift service's alerts in memory. Alerts get sequence
// numbers from 1 (continuing after the highest restored one) and the names
// models/{model}/alerts/{sequence}; the newest `max_alerts` are kept (the
// oldest dropped). An alert is raised with its action pending
// (action_result: NONE, "action pending") and settled once its action has
// been decided and run: ListAlerts and GetAlert show it at once, watchers
// (After) only once it is settled, and never past the first alert still
// pending, so a watcher resuming after the sequence it scanned neither
// skips nor repeats an alert.
//
//      Raise ----> pending (listed; not watched) ---- Settle ----> settled
//
// settled() is the highest sequence S such that every alert <= S is
// settled; it never decreases. DriftMonitor publishes it on a
// core::SequenceNotifier after each Settle, which is what WatchAlerts and
// WaitForAlert follow.
//
// Not thread-safe: DriftMonitor calls it under its mutex (as LevelDB's
// DBImpl holds its mutex around its VersionSet).
#ifndef CONTINUUM_SERVICES_DRIFT_ALERT_LOG_H_
#define CONTINUUM_SERVICES_DRIFT_ALERT_LOG_H_

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/drift.pb.h"
#include "services/drift/alert_filter.h"

namespace continuum::drift_service {

// The action_result message of an alert whose action is still pending.
inline constexpr char kActionPending[] = "action pending";

// A ListAlertsRequest, checked.
struct AlertQuery {
  std::string model;  // Empty: every model (parent models/-).
  int page_size = 100;
  // Only alerts with a lower sequence (from the page token).
  int64_t before = std::numeric_limits<int64_t>::max();
  AlertFilter filter;
  // What the page tokens of this query are bound to: parent and filter.
  std::string token_query;
};

// Checks a ListAlertsRequest: parent models/{model} or models/-,
// page_size >= 0 (0 = 100, above 1000 = 1000), page_token the
// next_page_token of the same parent and filter (core::DecodePageToken),
// filter as alert_filter.h says. INVALID_ARGUMENT naming the field.
absl::StatusOr<AlertQuery> ParseAlertQuery(const v1::ListAlertsRequest& request);

class AlertLog {
 public:
  // `max_alerts` < 1 counts as 1.
  explicit AlertLog(int64_t max_alerts);

  // Numbers, names and keeps `alert` with its action pending; returns the
  // kept alert (the copy whose action is to be decided).
  v1::Alert Raise(v1::Alert alert);

  // Takes the alerts a store kept (oldest first), all settled; an alert
  // whose action was pending when the process stopped says that its
  // outcome is unknown. Call before the first Raise.
  void Restore(std::vector<v1::Alert> alerts);

  // Records the final action_result of the kept alert with `alert`'s
  // sequence (and, if it succeeded, `alert` as its model's last acted-on
  // alert); returns settled().
  int64_t Settle(const v1::Alert& alert);

  // The highest sequence raised (0 before the first).
  int64_t latest() const { return last_sequence_; }
  // The highest sequence up to which every action is final.
  int64_t settled() const;

  // The latest alert of `model` whose action succeeded, or null.
  const v1::Alert* LastActed(const std::string& model) const;

  // Kept settled alerts with sequence > `after`, oldest first, of `models`
  // (empty = all) and at least `min_severity`, at most `limit`; *scanned
  // (if set) receives the highest sequence looked at.
  std::vector<v1::Alert> After(int64_t after,
                               const std::vector<std::string>& models,
                               v1::AlertSeverity min_severity, int limit,
                               int64_t* scanned) const;

  // One page of `query`, newest first.
  v1::ListAlertsResponse List(const AlertQuery& query) const;

  // The kept alert named `name` (models/{model}/alerts/{sequence}):
  // INVALID_ARGUMENT for another form, NOT_FOUND if not kept.
  absl::StatusOr<v1::Alert> Get(absl::string_view name) const;

 private:
  const int64_t max_alerts_;
  std::deque<v1::Alert> alerts_;  // Oldest first.
  int64_t last_sequence_ = 0;
  // Sequences of alerts whose action is not final yet.
  std::set<int64_t> unsettled_;
  // The latest alert per model whose action succeeded.
  std::map<std::string, v1::Alert> last_acted_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_ALERT_LOG_H_
