#include "services/trainer/model_schedules.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/trainer/circuit_breaker.h"
#include "services/trainer/schedule.h"
#include "services/trainer/training_config.h"

namespace continuum::trainer {

std::string DueSlot::dataset() const {
  return config.dataset().empty() ? model : config.dataset();
}

v1::TimeWindow DueSlot::NewRecordsWindow(absl::Time now) const {
  v1::TimeWindow window;
  if (state.status.has_last_trained_time()) {
    *window.mutable_start_time() = state.status.last_trained_time();
  }
  *window.mutable_end_time() = core::ToProto(now);
  return window;
}

std::optional<std::string> DueSlot::SkipReason(int64_t new_records) const {
  const v1::TrainingSchedule& schedule = config.schedule();
  if (new_records >= schedule.min_new_records()) return std::nullopt;
  const v1::ScheduleStatus& status = state.status;
  return absl::StrCat(
      "skipped: only ", new_records, " new records in data set ", dataset(),
      status.has_last_trained_time()
          ? absl::StrCat(" since ", absl::FormatTime(core::FromProto(
                                        status.last_trained_time())))
          : std::string(),
      " (schedule.min_new_records is ", schedule.min_new_records(), "; ",
      DescribeCadence(schedule), ")");
}

absl::Status ModelSchedules::Load() {
  absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
      configs = store_->ListConfigs();
  if (!configs.ok()) return configs.status();
  for (auto& [model, config] : *configs) {
    configs_[model] = std::move(config);
    if (metrics_ != nullptr) {
      absl::StatusOr<ScheduleState> state = store_->GetSchedule(model);
      if (state.ok()) {
        metrics_->SetCircuitOpen(model, state->status.circuit_open());
      }
    }
  }
  return absl::OkStatus();
}

v1::TrainingConfig ModelSchedules::Stored(const std::string& model) const {
  auto it = configs_.find(model);
  if (it != configs_.end()) return it->second;
  return v1::TrainingConfig();
}

std::optional<v1::TrainingConfig> ModelSchedules::Effective(
    const std::string& model) const {
  auto it = configs_.find(model);
  if (it == configs_.end()) return std::nullopt;
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig(model, it->second);
  if (!effective.ok()) return std::nullopt;
  return *std::move(effective);
}

v1::ScheduleStatus ModelSchedules::StatusView(
    const std::string& model, const ScheduleState& state) const {
  v1::ScheduleStatus status = state.status;
  auto config = configs_.find(model);
  if (config != configs_.end() && !status.paused() &&
      state.last_slot != absl::InfinitePast()) {
    if (std::optional<absl::Time> next =
            NextScheduledTime(config->second.schedule(), state.last_slot)) {
      *status.mutable_next_run_time() = core::ToProto(*next);
    }
  }
  return status;
}

absl::StatusOr<v1::TrainingConfig> ModelSchedules::Configure(
    const std::string& model, const v1::ConfigureTrainingRequest& request) {
  const v1::TrainingConfig stored = Stored(model);
  v1::TrainingConfig next = stored;
  if (request.update_mask().paths_size() == 0) {
    next = request.config();
  } else {
    MergeConfig(request.config(), request.update_mask(), &next);
  }
  next.clear_schedule_status();
  next.clear_update_time();
  next.set_name(TrainingConfigName(model));
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig(model, next);
  if (!effective.ok()) {
    if (absl::IsInvalidArgument(effective.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.", effective.status().message()));
    }
    return effective.status();
  }
  const absl::Time now = clock_->Now();
  *next.mutable_update_time() = core::ToProto(now);
  if (absl::Status s = store_->PutConfig(model, next); !s.ok()) return s;
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(model);
  if (!schedule.ok()) return schedule.status();
  if (CadenceChanged(stored.schedule(), next.schedule()) ||
      schedule->last_slot == absl::InfinitePast()) {
    schedule->last_slot = now;
    if (absl::Status s = store_->PutSchedule(model, *schedule); !s.ok()) {
      return s;
    }
  }
  configs_[model] = next;
  spdlog::info("trainer: training configuration of model {} set", model);
  v1::TrainingConfig view = *std::move(effective);
  view.set_seed(next.seed());  // 0 stays "random per run".
  *view.mutable_update_time() = next.update_time();
  *view.mutable_schedule_status() = StatusView(model, *schedule);
  return view;
}

absl::StatusOr<v1::TrainingConfig> ModelSchedules::View(
    const std::string& model) {
  const v1::TrainingConfig stored = Stored(model);
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig(model, stored);
  if (!effective.ok()) return effective.status();
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(model);
  if (!schedule.ok()) return schedule.status();
  v1::TrainingConfig view = *std::move(effective);
  view.set_seed(stored.seed());
  *view.mutable_update_time() = stored.update_time();
  *view.mutable_schedule_status() = StatusView(model, *schedule);
  return view;
}

absl::StatusOr<v1::ScheduleStatus> ModelSchedules::PauseSchedule(
    const std::string& model, const std::string& reason) {
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(model);
  if (!schedule.ok()) return schedule.status();
  if (Pause(reason, &schedule->status)) {
    if (absl::Status s = store_->PutSchedule(model, *schedule); !s.ok()) {
      return s;
    }
    spdlog::info("trainer: schedule of model {} paused ({})", model,
                 schedule->status.paused_reason());
  }
  return StatusView(model, *schedule);
}

absl::StatusOr<v1::ScheduleStatus> ModelSchedules::ResumeSchedule(
    const std::string& model, const std::string& reason) {
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(model);
  if (!schedule.ok()) return schedule.status();
  const bool was_open = Resume(&schedule->status);
  // Slots missed while paused are not made up for.
  schedule->last_slot = clock_->Now();
  if (absl::Status s = store_->PutSchedule(model, *schedule); !s.ok()) {
    return s;
  }
  if (metrics_ != nullptr) metrics_->SetCircuitOpen(model, false);
  spdlog::info("trainer: schedule of model {} resumed{}{}", model,
               was_open ? " (circuit breaker closed)" : "",
               reason.empty() ? "" : absl::StrCat(": ", reason));
  return StatusView(model, *schedule);
}

absl::Status ModelSchedules::Admit(const std::string& model,
                                   v1::RunTrigger trigger) {
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(model);
  if (!schedule.ok()) return schedule.status();
  return AdmitTrigger(model, trigger, schedule->status);
}

std::vector<DueSlot> ModelSchedules::TakeDue(absl::Time now) {
  std::vector<DueSlot> due;
  for (const auto& [model, config] : configs_) {
    if (config.schedule().cadence_case() ==
        v1::TrainingSchedule::CADENCE_NOT_SET) {
      continue;
    }
    absl::StatusOr<ScheduleState> state = store_->GetSchedule(model);
    if (!state.ok()) {
      spdlog::error("trainer: schedule of model {}: {}", model,
                    state.status().ToString());
      continue;
    }
    if (state->status.paused()) continue;
    std::optional<absl::Time> next =
        NextScheduledTime(config.schedule(), state->last_slot);
    if (!next.has_value() || *next > now) continue;
    state->last_slot = now;
    if (absl::Status s = store_->PutSchedule(model, *state); !s.ok()) {
      spdlog::error("trainer: schedule of model {}: {}", model, s.ToString());
      continue;
    }
    due.push_back({model, config, *state});
  }
  return due;
}

std::optional<google::protobuf::Timestamp> ModelSchedules::RunStarted(
    const std::string& model, absl::Time now) {
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(model);
  if (!schedule.ok()) return std::nullopt;
  std::optional<google::protobuf::Timestamp> last_trained;
  if (schedule->status.has_last_trained_time()) {
    last_trained = schedule->status.last_trained_time();
  }
  *schedule->status.mutable_last_run_time() = core::ToProto(now);
  (void)store_->PutSchedule(model, *schedule);
  return last_trained;
}

bool ModelSchedules::Count(const v1::Run& run, v1::RunState state,
                           const std::string& detail) {
  absl::StatusOr<ScheduleState> schedule = store_->GetSchedule(run.model());
  if (!schedule.ok()) return true;
  CountedOutcome outcome;
  outcome.run = run.name();
  outcome.state = state;
  outcome.detail = detail;
  outcome.threshold = run.config().circuit_breaker_threshold();
  if (auto c = configs_.find(run.model()); c != configs_.end()) {
    outcome.threshold = c->second.circuit_breaker_threshold();
  }
  outcome.now = clock_->Now();
  outcome.not_better_only =
      state == v1::RUN_STATE_REJECTED && NotBetterOnly(run.decision());
  if (run.data_window().has_end_time()) {
    outcome.trained_through = run.data_window().end_time();
  }
  v1::ScheduleStatus& st = schedule->status;
  const CircuitDecision decision = CountOutcome(outcome, &st);
  if (decision.opened) {
    spdlog::error(
        "trainer: circuit breaker open for model {}: {} consecutive "
        "failed or rejected runs (latest {}: {}: {}); its schedule and "
        "drift triggers are paused until ResumeSchedule",
        run.model(), st.consecutive_failures(), run.name(),
        v1::RunState_Name(state), detail);
    if (metrics_ != nullptr) metrics_->SetCircuitOpen(run.model(), true);
  }
  if (absl::Status s = store_->PutSchedule(run.model(), *schedule); !s.ok()) {
    spdlog::error("trainer: cannot record the schedule of model {}: {}",
                  run.model(), s.ToString());
  }
  return decision.go_on;
}

}  // namespace continuum::trainer
