#include "services/trainer/run_requests.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/core/page_token.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/trainer/federated_settings.h"
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
    case v1::RUN_TRIGGER_FEDERATED:
      return absl::InvalidArgumentError(
          absl::StrCat("trigger: ", v1::RunTrigger_Name(trigger),
                       " is internal to the trainer; use RUN_TRIGGER_MANUAL or "
                       "RUN_TRIGGER_DRIFT"));
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("trigger: unknown value ", trigger));
  }
}

// The enums of the filter's keys.
const absl::flat_hash_map<std::string, const google::protobuf::EnumDescriptor*>&
FilterEnums() {
  static const auto* enums = new absl::flat_hash_map<
      std::string, const google::protobuf::EnumDescriptor*>{
      {"state", v1::RunState_descriptor()},
      {"trigger", v1::RunTrigger_descriptor()},
      {"strategy", v1::TrainingStrategy_descriptor()}};
  return *enums;
}

// The full name of an enum value written in full or without its prefix
// (core::CheckFilterEnums has accepted it), e.g. FAILED ->
// RUN_STATE_FAILED. The prefix is that of the zero value, PREFIX_UNSPECIFIED
// (Buf's ENUM_ZERO_VALUE_SUFFIX).
std::string FullEnumName(const google::protobuf::EnumDescriptor* type,
                         const std::string& value) {
  if (type->FindValueByName(value) != nullptr) return value;
  absl::string_view prefix = type->FindValueByNumber(0)->name();
  absl::ConsumeSuffix(&prefix, "UNSPECIFIED");
  return absl::StrCat(prefix, value);
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
  if (absl::Status s = CheckFederatedConfig(request.overrides().federated(),
                                            "overrides.federated");
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
  const int page_size = request.page_size() <= 0
                            ? 50
                            : std::min(request.page_size(), 1000);
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "state" || key == "trigger" || key == "strategy" ||
               key == "model";
      });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(*filter, FilterEnums());
      !s.ok()) {
    return s;
  }
  // The token last: a broken filter is a clearer error than a token that
  // does not fit it.
  std::string key = absl::StrCat(request.parent(), "\n", request.filter());
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), key);
  if (!position.ok()) return position.status();
  int64_t before = 0;
  if (!position->empty() &&
      (!absl::SimpleAtoi(*position, &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token: malformed position");
  }
  std::vector<Conjunction> disjuncts = filter->disjuncts();
  for (Conjunction& conjunction : disjuncts) {
    for (core::Filter::Comparison& c : conjunction) {
      auto it = FilterEnums().find(c.key);
      if (it != FilterEnums().end()) c.value = FullEnumName(it->second, c.value);
    }
  }
  return RunQuery(std::move(model), page_size, before, std::move(key),
                  std::move(disjuncts));
}

bool RunQuery::Matches(const v1::Run& run) const {
  auto value_of = [&](absl::string_view key) -> std::string {
    if (key == "state") return v1::RunState_Name(run.state());
    if (key == "trigger") return v1::RunTrigger_Name(run.trigger());
    if (key == "strategy") return v1::TrainingStrategy_Name(run.strategy());
    return run.model();
  };
  if (filter_.empty()) return true;
  for (const Conjunction& conjunction : filter_) {
    bool all = true;
    for (const core::Filter::Comparison& c : conjunction) {
      if ((value_of(c.key) == c.value) != c.equal) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

std::string RunQuery::NextPageToken(int64_t before) const {
  return core::EncodePageToken(absl::StrCat(before), key_);
}

}  // namespace continuum::trainer
