#include "services/drift/alert_log.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/core/page_token.h"
#include "lib/core/resource_names.h"

namespace continuum::drift_service {

absl::StatusOr<AlertQuery> ParseAlertQuery(
    const v1::ListAlertsRequest& request) {
  AlertQuery query;
  if (request.parent() != "models/-") {
    absl::StatusOr<std::vector<std::string>> parts =
        core::MatchResourceName(request.parent(), "models/{model}");
    if (!parts.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parent: ", parts.status().message(),
                       " (or models/- for every model)"));
    }
    query.model = (*parts)[0];
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must be >= 0");
  }
  query.page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  query.token_query = absl::StrCat(request.parent(), "\n", request.filter());
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), query.token_query);
  if (!position.ok()) return position.status();
  // Tokens are made by List from a sequence >= 1; a token that decodes is
  // one of them.
  if (!position->empty() &&
      (!absl::SimpleAtoi(*position, &query.before) || query.before < 1)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  absl::StatusOr<AlertFilter> filter = AlertFilter::Parse(request.filter());
  if (!filter.ok()) return filter.status();
  query.filter = *std::move(filter);
  return query;
}

AlertLog::AlertLog(int64_t max_alerts)
    : max_alerts_(std::max<int64_t>(1, max_alerts)) {}

v1::Alert AlertLog::Raise(v1::Alert alert) {
  alert.set_sequence(++last_sequence_);
  alert.set_name(absl::StrCat(core::ModelName(alert.model()), "/alerts/",
                              alert.sequence()));
  v1::ActionResult* action = alert.mutable_action_result();
  action->set_action(v1::DRIFT_ACTION_NONE);
  action->set_message(kActionPending);
  unsettled_.insert(alert.sequence());
  alerts_.push_back(alert);
  while (static_cast<int64_t>(alerts_.size()) > max_alerts_) {
    alerts_.pop_front();
  }
  return alert;
}

void AlertLog::Restore(std::vector<v1::Alert> alerts) {
  for (v1::Alert& alert : alerts) {
    last_sequence_ = std::max(last_sequence_, alert.sequence());
    if (alert.action_result().succeeded()) {
      // Oldest first: the last wins.
      last_acted_[alert.model()] = alert;
    }
    if (alert.action_result().message() == kActionPending) {
      alert.mutable_action_result()->set_message(
          "action outcome unknown: the drift service stopped before "
          "recording it");
    }
    alerts_.push_back(std::move(alert));
  }
  while (static_cast<int64_t>(alerts_.size()) > max_alerts_) {
    alerts_.pop_front();
  }
}

int64_t AlertLog::Settle(const v1::Alert& alert) {
  if (alert.action_result().succeeded()) last_acted_[alert.model()] = alert;
  for (v1::Alert& kept : alerts_) {
    if (kept.sequence() == alert.sequence()) {
      *kept.mutable_action_result() = alert.action_result();
      break;
    }
  }
  unsettled_.erase(alert.sequence());
  return settled();
}

int64_t AlertLog::settled() const {
  return unsettled_.empty() ? last_sequence_ : *unsettled_.begin() - 1;
}

const v1::Alert* AlertLog::LastActed(const std::string& model) const {
  auto it = last_acted_.find(model);
  return it == last_acted_.end() ? nullptr : &it->second;
}

std::vector<v1::Alert> AlertLog::After(int64_t after,
                                       const std::vector<std::string>& models,
                                       v1::AlertSeverity min_severity,
                                       int limit, int64_t* scanned) const {
  std::vector<v1::Alert> out;
  const int64_t settled_sequence = settled();
  int64_t last = std::max(after, settled_sequence);
  for (const v1::Alert& a : alerts_) {
    if (a.sequence() <= after) continue;
    if (a.sequence() > settled_sequence) break;
    if (static_cast<int>(out.size()) >= limit) {
      last = a.sequence() - 1;
      break;
    }
    if (a.severity() < min_severity) continue;
    if (!models.empty() &&
        std::find(models.begin(), models.end(), a.model()) == models.end()) {
      continue;
    }
    out.push_back(a);
  }
  if (scanned != nullptr) *scanned = last;
  return out;
}

v1::ListAlertsResponse AlertLog::List(const AlertQuery& query) const {
  v1::ListAlertsResponse response;
  for (auto it = alerts_.rbegin(); it != alerts_.rend(); ++it) {
    const v1::Alert& a = *it;
    if (a.sequence() >= query.before) continue;
    if (!query.model.empty() && a.model() != query.model) continue;
    if (!query.filter.Matches(a)) continue;
    if (response.alerts_size() == query.page_size) {
      response.set_next_page_token(core::EncodePageToken(
          absl::StrCat(response.alerts(response.alerts_size() - 1).sequence()),
          query.token_query));
      break;
    }
    *response.add_alerts() = a;
  }
  return response;
}

absl::StatusOr<v1::Alert> AlertLog::Get(absl::string_view name) const {
  constexpr absl::string_view kForm = "models/{model}/alerts/{alert}";
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, kForm);
  if (!parts.ok()) return parts.status();
  int64_t sequence = 0;
  if (!absl::SimpleAtoi((*parts)[1], &sequence) || sequence < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", name, "\" is not of the form ", kForm,
                     " ({alert} is a sequence number >= 1)"));
  }
  for (const v1::Alert& a : alerts_) {
    if (a.sequence() == sequence && a.model() == (*parts)[0]) return a;
  }
  return absl::NotFoundError(absl::StrCat("alert '", name, "' not found"));
}

}  // namespace continuum::drift_service
