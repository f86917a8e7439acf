#include "services/trainer/training_config.h"

#include <google/protobuf/util/field_mask_util.h>

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "lib/model/training.h"
#include "services/trainer/schedule.h"

namespace continuum::trainer {
namespace {

using google::protobuf::util::FieldMaskUtil;

// The fields of TrainingConfig a client may not set or override.
bool OutputOnlyPath(absl::string_view path) {
  return path == "name" || path == "schedule_status" ||
         absl::StartsWith(path, "schedule_status.") || path == "update_time" ||
         absl::StartsWith(path, "update_time.");
}

// A positive duration field, or INVALID_ARGUMENT "<field> must be positive
// (got ...)".
absl::Status CheckPositive(const google::protobuf::Duration& d,
                           absl::string_view field) {
  if (core::FromProto(d) > absl::ZeroDuration()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " must be positive (got ",
                   absl::FormatDuration(core::FromProto(d)), ")"));
}

// The data sets, the window and the online cadence.
absl::Status ApplyDataDefaults(const std::string& model,
                               v1::TrainingConfig* c) {
  // online.micro_batch_size and publish_every_updates are defaulted and
  // checked by ResolveTrainingConfig.
  if (!c->online().has_publish_every()) {
    *c->mutable_online()->mutable_publish_every() =
        core::ToProtoDuration(kDefaultOnlinePublishEvery);
  } else if (absl::Status s = CheckPositive(c->online().publish_every(),
                                            "online.publish_every");
             !s.ok()) {
    return s;
  }
  if (c->dataset().empty()) c->set_dataset(model);
  if (absl::Status s = core::ValidateResourceId("data set", c->dataset());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: ", s.message()));
  }
  if (!c->golden_dataset().empty()) {
    if (absl::Status s =
            core::ValidateResourceId("data set", c->golden_dataset());
        !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("golden_dataset: ", s.message()));
    }
  }
  if (!c->has_window()) {
    *c->mutable_window() = core::ToProtoDuration(kDefaultWindow);
  } else if (absl::Status s = CheckPositive(c->window(), "window"); !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

// The circuit breaker and the resource limits.
absl::Status ApplyLimitDefaults(v1::TrainingConfig* c) {
  if (c->circuit_breaker_threshold() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("circuit_breaker_threshold must not be negative (got ",
                     c->circuit_breaker_threshold(), ")"));
  }
  if (c->circuit_breaker_threshold() == 0) {
    c->set_circuit_breaker_threshold(kDefaultCircuitBreakerThreshold);
  }
  v1::ResourceLimits* r = c->mutable_resources();
  if (r->memory_budget_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.memory_budget_bytes must not be negative (got ",
                     r->memory_budget_bytes(), ")"));
  }
  if (r->memory_budget_bytes() == 0) {
    r->set_memory_budget_bytes(kDefaultMemoryBudget);
  }
  if (!r->has_max_duration()) {
    *r->mutable_max_duration() = core::ToProtoDuration(kDefaultMaxDuration);
  } else if (core::FromProto(r->max_duration()) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "resources.max_duration must be positive");
  }
  // intra_op_threads 0 stays 0: the process's torch.intra_op_threads
  // (TrainerConfig), which Train then leaves as it is.
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::TrainingConfig> EffectiveTrainingConfig(
    const std::string& model, const v1::TrainingConfig& config) {
  v1::TrainingConfig c = config;
  c.set_name(TrainingConfigName(model));
  c.clear_schedule_status();
  c.clear_update_time();
  if (!v1::TrainingStrategy_IsValid(c.strategy())) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy: unknown value ", c.strategy()));
  }
  if (absl::Status s = ApplyDataDefaults(model, &c); !s.ok()) return s;
  if (absl::Status s = ApplyLimitDefaults(&c); !s.ok()) return s;
  if (absl::Status s = ValidateSchedule(c.schedule()); !s.ok()) return s;
  return model::ResolveTrainingConfig(c);
}

std::string TrainingConfigName(absl::string_view model) {
  return absl::StrCat(core::ModelName(model), "/trainingConfig");
}

absl::StatusOr<std::string> ParseTrainingConfigName(absl::string_view name) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, "models/{model}/trainingConfig");
  if (!parts.ok()) {
    if (absl::StartsWith(parts.status().message(), "name ")) {
      return parts.status();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("name: ", parts.status().message()));
  }
  return (*parts)[0];
}

absl::Status ValidateConfigMask(const google::protobuf::FieldMask& mask,
                                absl::string_view field, bool allow_schedule) {
  for (const std::string& path : mask.paths()) {
    if (!FieldMaskUtil::GetFieldDescriptors(v1::TrainingConfig::descriptor(),
                                            path, nullptr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ": \"", path, "\" is not a field of TrainingConfig"));
    }
    if (OutputOnlyPath(path)) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": \"", path, "\" is output only"));
    }
    if (!allow_schedule &&
        (path == "schedule" || absl::StartsWith(path, "schedule."))) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": \"", path,
                       "\" cannot be overridden for one run (use "
                       "ConfigureTraining)"));
    }
  }
  return absl::OkStatus();
}

void MergeConfig(const v1::TrainingConfig& from,
                 const google::protobuf::FieldMask& mask,
                 v1::TrainingConfig* to) {
  const v1::TrainingStrategy before = to->strategy();
  FieldMaskUtil::MergeOptions options;
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  FieldMaskUtil::MergeMessageTo(from, mask, options, to);
  if (to->strategy() == before) return;
  // A new strategy brings its own defaults for the fields whose default
  // depends on it, unless the mask names them.
  auto named = [&](const std::string& path) {
    return FieldMaskUtil::IsPathInFieldMask(path, mask);
  };
  if (!named("epochs")) to->set_epochs(0);
  if (!named("optimizer.learning_rate")) {
    to->mutable_optimizer()->set_learning_rate(0);
  }
}

std::string DescribeCadence(const v1::TrainingSchedule& schedule) {
  if (schedule.has_every()) {
    return absl::StrCat(
        "every ", absl::FormatDuration(core::FromProto(schedule.every())));
  }
  const v1::TimeOfDay& at = schedule.daily_at();
  return absl::StrFormat("daily at %02d:%02d %s", at.hours(), at.minutes(),
                         at.time_zone().empty() ? "UTC" : at.time_zone());
}

bool CadenceChanged(const v1::TrainingSchedule& before,
                    const v1::TrainingSchedule& after) {
  return before.cadence_case() != after.cadence_case() ||
         before.every().SerializeAsString() !=
             after.every().SerializeAsString() ||
         before.daily_at().SerializeAsString() !=
             after.daily_at().SerializeAsString();
}

}  // namespace continuum::trainer
