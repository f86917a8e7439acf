#include "services/trainer/run_requests.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/trainer/training_config.h"

namespace continuum::trainer {
namespace {

// The trigger a client may ask for (UNSPECIFIED: MANUAL).
absl::StatusOr<v1::RunTrigger> CheckTrigger(v1::RunTrigger trigger) {
  switch (trigger) {
    case v1::RUN_TRIGGER_UNSPECIFIED:
      return v1::RUN_TRIGGER_MANUAL;
    case v1::RUN_TRIGGER_MANUAL:
    case v1::RUN_TRIGGER_DRIFT:
      return trigger;
    case v1::RUN_TRIGGER_SCHEDULE:
    case v1::RUN_TRIGGER_ONLINE:
      return absl::InvalidArgumentError(
          absl::StrCat("trigger: ", v1::RunTrigger_Name(trigger),
                       " is internal to the trainer; use RUN_TRIGGER_MANUAL or "
                       "RUN_TRIGGER_DRIFT"));
    case v1::RUN_TRIGGER_FEDERATED:
      return absl::UnimplementedError(
          "trigger: federated rounds are not implemented by this trainer");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("trigger: unknown value ", trigger));
  }
}

// Every value of the filter is a name of its key's enum.
absl::Status CheckFilterValues(const core::Filter& filter) {
  for (const auto& conjunction : filter.disjuncts()) {
    for (const auto& c : conjunction) {
      bool known = true;
      if (c.key == "state") {
        v1::RunState v;
        known = v1::RunState_Parse(c.value, &v);
      } else if (c.key == "trigger") {
        v1::RunTrigger v;
        known = v1::RunTrigger_Parse(c.value, &v);
      } else if (c.key == "strategy") {
        v1::TrainingStrategy v;
        known = v1::TrainingStrategy_Parse(c.value, &v);
      }
      if (!known) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter: \"", c.value, "\" is not a value of ", c.key,
                         " (e.g. RUN_STATE_FAILED, RUN_TRIGGER_DRIFT, "
                         "TRAINING_STRATEGY_INCREMENTAL)"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TriggerSpec> ParseTriggerRequest(
    const v1::TriggerRunRequest& request, const std::string& actor) {
  TriggerSpec spec;
  absl::StatusOr<std::string> model =
      core::ParseResourceName(request.parent(), "models", "model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent: ", model.status().message()));
  }
  spec.model = *std::move(model);
  absl::StatusOr<v1::RunTrigger> trigger = CheckTrigger(request.trigger());
  if (!trigger.ok()) return trigger.status();
  spec.trigger = *trigger;
  if (request.reason().size() > 4096) {
    return absl::InvalidArgumentError("reason is longer than 4096 bytes");
  }
  if (request.request_id().size() > 256) {
    return absl::InvalidArgumentError("request_id is longer than 256 bytes");
  }
  if (request.has_data_window()) {
    const v1::TimeWindow& w = request.data_window();
    if (w.has_start_time() && w.has_end_time() &&
        core::FromProto(w.end_time()) <= core::FromProto(w.start_time())) {
      return absl::InvalidArgumentError(
          "data_window.end_time must be after data_window.start_time");
    }
    spec.window = w;
  }
  if (absl::Status s =
          ValidateConfigMask(request.override_mask(), "override_mask",
                             /*allow_schedule=*/false);
      !s.ok()) {
    return s;
  }
  spec.reason = request.reason();
  spec.alert = request.alert();
  spec.overrides = request.overrides();
  spec.override_mask = request.override_mask();
  spec.request_id = request.request_id();
  spec.actor = actor;
  return spec;
}

absl::StatusOr<RunQuery> RunQuery::Parse(const v1::ListRunsRequest& request) {
  std::string model;
  if (request.parent() != "models/-") {
    absl::StatusOr<std::string> parsed =
        core::ParseResourceName(request.parent(), "models", "model");
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parent: ", parsed.status().message(), " (or models/- for all)"));
    }
    model = *std::move(parsed);
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  const int page_size =
      request.page_size() == 0 ? 50 : std::min(request.page_size(), 1000);
  int64_t before = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "state" || key == "trigger" || key == "strategy" ||
               key == "model";
      });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = CheckFilterValues(*filter); !s.ok()) return s;
  return RunQuery(std::move(model), page_size, before, *std::move(filter));
}

bool RunQuery::Matches(const v1::Run& run) const {
  return filter_.Matches(
      [&](absl::string_view key) -> std::optional<std::string> {
        if (key == "state") return v1::RunState_Name(run.state());
        if (key == "trigger") return v1::RunTrigger_Name(run.trigger());
        if (key == "strategy") return v1::TrainingStrategy_Name(run.strategy());
        return run.model();
      });
}

}  // namespace continuum::trainer
