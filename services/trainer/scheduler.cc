#include "services/trainer/scheduler.h"

#include <google/protobuf/util/field_mask_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "lib/core/filter.h"
#include "lib/core/logging.h"
#include "lib/core/resource_names.h"
#include "lib/model/training.h"
#include "services/trainer/schedule.h"
#include "services/trainer/time_util.h"

namespace continuum::trainer {
namespace {

using google::protobuf::util::FieldMaskUtil;

constexpr absl::Duration kDefaultWindow = absl::Hours(24 * 30);
constexpr int kDefaultCircuitThreshold = 3;
constexpr int64_t kDefaultMemoryBudget = int64_t{1} << 30;
constexpr absl::Duration kDefaultMaxDuration = absl::Hours(2);
constexpr absl::Duration kDefaultOnlinePublishEvery = absl::Minutes(15);
constexpr absl::Duration kIdempotencyWindow = absl::Hours(24);
constexpr char kShutdownReason[] = "interrupted by a trainer shutdown";

bool IsFinal(v1::RunState state) {
  return state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_REJECTED ||
         state == v1::RUN_STATE_FAILED || state == v1::RUN_STATE_CANCELLED;
}

v1::RpcStatus ToRpcStatus(const absl::Status& status) {
  v1::RpcStatus out;
  out.set_code(static_cast<int>(status.code()));
  out.set_message(std::string(status.message()));
  return out;
}

// `models/{model}/runs/{run}` -> model id.
absl::StatusOr<std::string> ParseRunName(absl::string_view name) {
  std::vector<absl::string_view> parts = absl::StrSplit(name, '/');
  int64_t number = 0;
  if (parts.size() != 4 || parts[0] != "models" || parts[2] != "runs" ||
      !absl::SimpleAtoi(parts[3], &number) || number < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name: \"", name, "\" is not a run name (models/{model}/runs/{run})"));
  }
  if (absl::Status s = core::ValidateResourceId("model", parts[1]); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  return std::string(parts[1]);
}

// `models/{model}/trainingConfig` -> model id.
absl::StatusOr<std::string> ParseConfigName(absl::string_view name) {
  absl::string_view rest = name;
  if (!absl::ConsumePrefix(&rest, "models/") ||
      !absl::ConsumeSuffix(&rest, "/trainingConfig")) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: \"", name,
                     "\" is not a training configuration name "
                     "(models/{model}/trainingConfig)"));
  }
  if (absl::Status s = core::ValidateResourceId("model", rest); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("name: ", s.message()));
  }
  return std::string(rest);
}

std::string ConfigName(const std::string& model) {
  return absl::StrCat("models/", model, "/trainingConfig");
}

// The fields of TrainingConfig a client may not set or override.
bool OutputOnlyPath(absl::string_view path) {
  return path == "name" || path == "schedule_status" ||
         absl::StartsWith(path, "schedule_status.") || path == "update_time" ||
         absl::StartsWith(path, "update_time.");
}

absl::Status ValidateMask(const google::protobuf::FieldMask& mask,
                          absl::string_view field, bool allow_schedule) {
  for (const std::string& path : mask.paths()) {
    if (!FieldMaskUtil::GetFieldDescriptors(
            v1::TrainingConfig::descriptor(), path, nullptr)) {
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

void Merge(const v1::TrainingConfig& from,
           const google::protobuf::FieldMask& mask, v1::TrainingConfig* to) {
  FieldMaskUtil::MergeOptions options;
  options.set_replace_message_fields(true);
  options.set_replace_repeated_fields(true);
  FieldMaskUtil::MergeMessageTo(from, mask, options, to);
}

std::string DescribeCadence(const v1::TrainingSchedule& schedule) {
  if (schedule.has_every()) {
    return absl::StrCat("every ", absl::FormatDuration(FromProto(schedule.every())));
  }
  const v1::TimeOfDay& at = schedule.daily_at();
  return absl::StrFormat("daily at %02d:%02d %s", at.hours(), at.minutes(),
                         at.time_zone().empty() ? "UTC" : at.time_zone());
}

}  // namespace

absl::StatusOr<v1::TrainingConfig> EffectiveTrainingConfig(
    const std::string& model, const v1::TrainingConfig& config) {
  v1::TrainingConfig c = config;
  c.set_name(ConfigName(model));
  c.clear_schedule_status();
  c.clear_update_time();
  if (!v1::TrainingStrategy_IsValid(c.strategy())) {
    return absl::InvalidArgumentError(
        absl::StrCat("strategy: unknown value ", c.strategy()));
  }
  // online.micro_batch_size and publish_every_updates are defaulted and
  // checked by ResolveTrainingConfig.
  if (!c.online().has_publish_every()) {
    *c.mutable_online()->mutable_publish_every() =
        ToProtoDuration(kDefaultOnlinePublishEvery);
  } else if (FromProto(c.online().publish_every()) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "online.publish_every must be positive (got ",
        absl::FormatDuration(FromProto(c.online().publish_every())), ")"));
  }
  if (c.dataset().empty()) c.set_dataset(model);
  if (absl::Status s = core::ValidateResourceId("data set", c.dataset());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("dataset: ", s.message()));
  }
  if (!c.golden_dataset().empty()) {
    if (absl::Status s = core::ValidateResourceId("data set", c.golden_dataset());
        !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("golden_dataset: ", s.message()));
    }
  }
  if (!c.has_window()) {
    *c.mutable_window() = ToProtoDuration(kDefaultWindow);
  } else if (FromProto(c.window()) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("window must be positive (got ",
                     absl::FormatDuration(FromProto(c.window())), ")"));
  }
  if (c.circuit_breaker_threshold() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("circuit_breaker_threshold must not be negative (got ",
                     c.circuit_breaker_threshold(), ")"));
  }
  if (c.circuit_breaker_threshold() == 0) {
    c.set_circuit_breaker_threshold(kDefaultCircuitThreshold);
  }
  v1::ResourceLimits* r = c.mutable_resources();
  if (r->memory_budget_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("resources.memory_budget_bytes must not be negative (got ",
                     r->memory_budget_bytes(), ")"));
  }
  if (r->memory_budget_bytes() == 0) {
    r->set_memory_budget_bytes(kDefaultMemoryBudget);
  }
  if (!r->has_max_duration()) {
    *r->mutable_max_duration() = ToProtoDuration(kDefaultMaxDuration);
  } else if (FromProto(r->max_duration()) <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "resources.max_duration must be positive");
  }
  // intra_op_threads 0 stays 0: the process's torch.intra_op_threads
  // (TrainerConfig), which Train then leaves as it is.
  if (absl::Status s = ValidateSchedule(c.schedule()); !s.ok()) return s;
  return model::ResolveTrainingConfig(c);
}

// A run that is not final, in memory.
struct Scheduler::Active {
  v1::Run run;
  bool started = false;
  bool cancel_requested = false;
  std::string cancel_reason;
  bool uploading = false;
  uint64_t sequence = 0;
  uint64_t state_sequence = 0;
  absl::Time last_progress = absl::InfinitePast();
};

// The RunControl of one executing run.
class Scheduler::Control : public RunControl {
 public:
  Control(Scheduler* scheduler, std::string name)
      : s_(scheduler), name_(std::move(name)) {}

  bool cancelled() override {
    absl::MutexLock lock(&s_->mu_);
    Active* a = Find();
    return s_->stopping_ || a == nullptr || a->cancel_requested;
  }

  void SetPhase(v1::RunPhase phase, const std::string& message) override {
    absl::MutexLock lock(&s_->mu_);
    Active* a = Find();
    if (a == nullptr) return;
    if (phase != v1::RUN_PHASE_UPLOADING) a->uploading = false;
    v1::RunProgress* p = a->run.mutable_progress();
    p->set_phase(phase);
    p->set_message(message);
    p->set_samples_done(0);
    *p->mutable_time() = ToProto(s_->options_.clock->Now());
    s_->PersistLocked(a->run);
    s_->TouchLocked(*a, /*state_change=*/true);
  }

  void Progress(const v1::RunProgress& progress) override {
    absl::MutexLock lock(&s_->mu_);
    Active* a = Find();
    if (a == nullptr) return;
    *a->run.mutable_progress() = progress;
    if (!progress.has_time()) {
      *a->run.mutable_progress()->mutable_time() =
          ToProto(s_->options_.clock->Now());
    }
    const absl::Time now = absl::Now();
    if (progress.has_holdout_loss() ||
        now - a->last_progress >= s_->options_.progress_interval) {
      a->last_progress = now;
      s_->TouchLocked(*a, /*state_change=*/false);
      if (s_->options_.metrics != nullptr && progress.samples_per_second() > 0) {
        s_->options_.metrics->SetSamplesPerSecond(a->run.model(),
                                                  progress.samples_per_second());
      }
    }
  }

  void Update(const std::function<void(v1::Run*)>& edit) override {
    absl::MutexLock lock(&s_->mu_);
    Active* a = Find();
    if (a == nullptr) return;
    edit(&a->run);
    s_->PersistLocked(a->run);
    s_->TouchLocked(*a, /*state_change=*/true);
  }

  absl::Status BeginUpload() override {
    absl::MutexLock lock(&s_->mu_);
    Active* a = Find();
    if (a == nullptr || s_->stopping_ || a->cancel_requested) {
      return absl::CancelledError("the run was cancelled before its upload");
    }
    a->uploading = true;
    v1::RunProgress* p = a->run.mutable_progress();
    p->set_phase(v1::RUN_PHASE_UPLOADING);
    p->set_message("uploading the candidate to the registry");
    *p->mutable_time() = ToProto(s_->options_.clock->Now());
    s_->PersistLocked(a->run);
    s_->TouchLocked(*a, /*state_change=*/true);
    return absl::OkStatus();
  }

  bool CandidateDecided(bool approved, const std::string& detail) override {
    absl::MutexLock lock(&s_->mu_);
    Active* a = Find();
    if (a == nullptr) return false;
    return s_->CountOutcomeLocked(
        a->run, approved ? v1::RUN_STATE_SUCCEEDED : v1::RUN_STATE_REJECTED,
        detail);
  }

 private:
  Active* Find() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu_) {
    auto it = s_->active_.find(name_);
    return it == s_->active_.end() ? nullptr : it->second.get();
  }

  Scheduler* const s_;
  const std::string name_;
};

Scheduler::Scheduler(SchedulerOptions options) : options_(std::move(options)) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
      configs = options_.store->ListConfigs();
  if (!configs.ok()) return configs.status();
  absl::MutexLock lock(&mu_);
  if (started_) return absl::FailedPreconditionError("already started");
  for (auto& [model, config] : *configs) {
    configs_[model] = std::move(config);
    if (options_.metrics != nullptr) {
      absl::StatusOr<ScheduleState> state = options_.store->GetSchedule(model);
      if (state.ok()) {
        options_.metrics->SetCircuitOpen(model, state->status.circuit_open());
      }
    }
  }
  started_ = true;
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    threads_.emplace_back([this] { WorkerLoop(); });
  }
  if (options_.tick_interval > absl::ZeroDuration()) {
    threads_.emplace_back([this] { TickerLoop(); });
  }
  return absl::OkStatus();
}

void Scheduler::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
    work_cv_.SignalAll();
    tick_cv_.SignalAll();
    change_cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  absl::MutexLock lock(&mu_);
  // Runs that never started (waiting for a worker or queued).
  const absl::Time now = options_.clock->Now();
  for (auto& [name, a] : active_) {
    v1::Run& run = a->run;
    run.set_state(v1::RUN_STATE_FAILED);
    *run.mutable_error() = ToRpcStatus(absl::AbortedError(kShutdownReason));
    run.mutable_progress()->set_phase(v1::RUN_PHASE_DONE);
    run.mutable_progress()->set_message(kShutdownReason);
    *run.mutable_end_time() = ToProto(now);
    PersistLocked(run);
  }
  active_.clear();
  model_runs_.clear();
  ready_.clear();
  ++sequence_;
  change_cv_.SignalAll();
}

void Scheduler::PersistLocked(const v1::Run& run) {
  if (absl::Status s = options_.store->PutRun(run); !s.ok()) {
    spdlog::error("cannot record run {}: {}", run.name(), s.ToString());
  }
}

void Scheduler::TouchLocked(Active& active, bool state_change) {
  active.sequence = ++sequence_;
  if (state_change) active.state_sequence = active.sequence;
  change_cv_.SignalAll();
}

absl::Status Scheduler::CheckModel(const std::string& model) {
  if (options_.registry == nullptr) {
    return absl::FailedPreconditionError(
        "the trainer has no registry_address configured, so it cannot tell "
        "which models exist");
  }
  absl::StatusOr<v1::Model> m = options_.registry->GetModel(model);
  if (!m.ok()) {
    if (absl::IsNotFound(m.status())) {
      return absl::NotFoundError(absl::StrCat(
          "model ", model, " is not registered in the registry"));
    }
    return absl::Status(m.status().code(),
                        absl::StrCat("registry: ", m.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::TrainingConfig> Scheduler::StoredConfig(
    const std::string& model) {
  auto it = configs_.find(model);
  if (it != configs_.end()) return it->second;
  return v1::TrainingConfig();
}

absl::StatusOr<v1::Run> Scheduler::GetRunLocked(const std::string& name) {
  auto it = active_.find(name);
  if (it != active_.end()) return it->second->run;
  absl::StatusOr<std::optional<v1::Run>> stored = options_.store->GetRun(name);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return absl::NotFoundError(absl::StrCat("run ", name, " not found"));
  }
  return **stored;
}

v1::ScheduleStatus Scheduler::StatusView(const std::string& model,
                                         const ScheduleState& state) {
  v1::ScheduleStatus status = state.status;
  auto runs = model_runs_.find(model);
  if (runs != model_runs_.end()) {
    status.set_active_run(runs->second.active);
    status.set_queued_run(runs->second.queued);
  }
  auto config = configs_.find(model);
  if (config != configs_.end() && !status.paused() &&
      state.last_slot != absl::InfinitePast()) {
    if (std::optional<absl::Time> next =
            NextScheduledTime(config->second.schedule(), state.last_slot)) {
      *status.mutable_next_run_time() = ToProto(*next);
    }
  }
  return status;
}

// ----------------------------------------------------------------- triggers

absl::StatusOr<v1::TriggerRunResponse> Scheduler::TriggerRun(
    const v1::TriggerRunRequest& request, const std::string& actor) {
  absl::StatusOr<std::string> model =
      core::ParseResourceName(request.parent(), "models", "model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent: ", model.status().message()));
  }
  v1::RunTrigger trigger = request.trigger();
  switch (trigger) {
    case v1::RUN_TRIGGER_UNSPECIFIED:
      trigger = v1::RUN_TRIGGER_MANUAL;
      break;
    case v1::RUN_TRIGGER_MANUAL:
    case v1::RUN_TRIGGER_DRIFT:
      break;
    case v1::RUN_TRIGGER_SCHEDULE:
    case v1::RUN_TRIGGER_ONLINE:
      return absl::InvalidArgumentError(absl::StrCat(
          "trigger: ", v1::RunTrigger_Name(trigger),
          " is internal to the trainer; use RUN_TRIGGER_MANUAL or "
          "RUN_TRIGGER_DRIFT"));
    case v1::RUN_TRIGGER_FEDERATED:
      return absl::UnimplementedError(
          "trigger: federated rounds are not implemented by this trainer");
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("trigger: unknown value ", request.trigger()));
  }
  if (request.reason().size() > 4096) {
    return absl::InvalidArgumentError("reason is longer than 4096 bytes");
  }
  if (request.request_id().size() > 256) {
    return absl::InvalidArgumentError("request_id is longer than 256 bytes");
  }
  const v1::TimeWindow* window = nullptr;
  if (request.has_data_window()) {
    const v1::TimeWindow& w = request.data_window();
    if (w.has_start_time() && w.has_end_time() &&
        FromProto(w.end_time()) <= FromProto(w.start_time())) {
      return absl::InvalidArgumentError(
          "data_window.end_time must be after data_window.start_time");
    }
    window = &w;
  }
  if (absl::Status s = ValidateMask(request.override_mask(), "override_mask",
                                    /*allow_schedule=*/false);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  return Trigger(*model, trigger, request.reason(), request.alert(),
                 request.overrides(), request.override_mask(), window,
                 request.request_id(), actor);
}

absl::StatusOr<v1::TriggerRunResponse> Scheduler::Trigger(
    const std::string& model, v1::RunTrigger trigger,
    const std::string& reason, const std::string& alert,
    const v1::TrainingConfig& overrides,
    const google::protobuf::FieldMask& override_mask,
    const v1::TimeWindow* window, const std::string& request_id,
    const std::string& actor) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::UnavailableError("the trainer is shutting down");
  }
  const absl::Time now = options_.clock->Now();
  v1::TriggerRunResponse response;
  if (!request_id.empty()) {
    absl::StatusOr<std::optional<std::string>> seen =
        options_.store->FindTrigger(model, request_id, now - kIdempotencyWindow);
    if (!seen.ok()) return seen.status();
    if (seen->has_value()) {
      absl::StatusOr<v1::Run> run = GetRunLocked(**seen);
      if (run.ok()) {
        *response.mutable_run() = *std::move(run);
        return response;
      }
    }
  }
  absl::StatusOr<v1::TrainingConfig> stored = StoredConfig(model);
  if (!stored.ok()) return stored.status();
  v1::TrainingConfig merged = *stored;
  if (override_mask.paths_size() > 0) Merge(overrides, override_mask, &merged);
  absl::StatusOr<v1::TrainingConfig> config =
      EffectiveTrainingConfig(model, merged);
  if (!config.ok()) {
    if (override_mask.paths_size() > 0 &&
        absl::IsInvalidArgument(config.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("overrides: ", config.status().message()));
    }
    return config.status();
  }
  absl::StatusOr<ScheduleState> schedule = options_.store->GetSchedule(model);
  if (!schedule.ok()) return schedule.status();
  if (trigger != v1::RUN_TRIGGER_MANUAL && schedule->status.paused()) {
    const v1::ScheduleStatus& st = schedule->status;
    if (st.circuit_open()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the circuit breaker of model ", model, " is open (",
          st.paused_reason(), "); only manual triggers are accepted until "
          "ResumeSchedule (continuumctl trainer resume ", model, ")"));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "the schedule of model ", model, " is paused (", st.paused_reason(),
        "); only manual triggers are accepted until ResumeSchedule"));
  }

  ModelRuns& runs = model_runs_[model];
  std::string target = runs.queued;
  if (target.empty() && !runs.active.empty() &&
      !active_.at(runs.active)->started) {
    target = runs.active;
  }
  if (!target.empty()) {
    Active& a = *active_.at(target);
    a.run.set_coalesced_triggers(a.run.coalesced_triggers() + 1);
    PersistLocked(a.run);
    TouchLocked(a, /*state_change=*/true);
    if (!request_id.empty()) {
      (void)options_.store->PutTrigger(model, request_id, target, now);
    }
    spdlog::info("trainer: {} trigger for model {} coalesced into {}",
                 v1::RunTrigger_Name(trigger), model, target);
    *response.mutable_run() = a.run;
    response.set_coalesced(true);
    return response;
  }

  v1::Run run;
  run.set_model(model);
  run.set_state(v1::RUN_STATE_QUEUED);
  run.set_trigger(trigger);
  run.set_reason(reason);
  run.set_alert(alert);
  run.set_strategy(config->strategy());
  *run.mutable_config() = *config;
  if (window != nullptr) *run.mutable_data_window() = *window;
  *run.mutable_create_time() = ToProto(now);
  run.set_actor(actor);
  run.mutable_progress()->set_phase(v1::RUN_PHASE_QUEUED);
  run.mutable_progress()->set_message(
      runs.active.empty() ? "waiting for a worker"
                          : absl::StrCat("waiting for ", runs.active));
  absl::StatusOr<v1::Run> created = options_.store->CreateRun(std::move(run));
  if (!created.ok()) return created.status();
  auto active = std::make_unique<Active>();
  active->run = *created;
  const std::string name = created->name();
  Active& a = *active;
  active_[name] = std::move(active);
  if (runs.active.empty()) {
    runs.active = name;
    ready_.push_back(name);
    work_cv_.Signal();
  } else {
    runs.queued = name;
  }
  TouchLocked(a, /*state_change=*/true);
  if (!request_id.empty()) {
    (void)options_.store->PutTrigger(model, request_id, name, now);
  }
  spdlog::info("trainer: {} {} ({}: {})", name,
               runs.queued == name ? "queued" : "triggered",
               v1::RunTrigger_Name(trigger), reason);
  *response.mutable_run() = a.run;
  return response;
}

// ------------------------------------------------------------------ reading

absl::StatusOr<v1::Run> Scheduler::GetRun(absl::string_view name) {
  absl::StatusOr<std::string> model = ParseRunName(name);
  if (!model.ok()) return model.status();
  absl::MutexLock lock(&mu_);
  return GetRunLocked(std::string(name));
}

absl::StatusOr<v1::ListRunsResponse> Scheduler::ListRuns(
    const v1::ListRunsRequest& request) {
  std::string model;
  if (request.parent() != "models/-") {
    absl::StatusOr<std::string> parsed =
        core::ParseResourceName(request.parent(), "models", "model");
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parent: ", parsed.status().message(), " (or models/- for all)"));
    }
    model = *parsed;
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
  for (const auto& conjunction : filter->disjuncts()) {
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
        return absl::InvalidArgumentError(absl::StrCat(
            "filter: \"", c.value, "\" is not a value of ", c.key,
            " (e.g. RUN_STATE_FAILED, RUN_TRIGGER_DRIFT, "
            "TRAINING_STRATEGY_INCREMENTAL)"));
      }
    }
  }
  v1::ListRunsResponse response;
  absl::MutexLock lock(&mu_);
  int64_t cursor = before;
  while (response.runs_size() < page_size) {
    absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>> page =
        options_.store->ListRuns(model, cursor, 256);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (auto& [seq, stored] : *page) {
      cursor = seq;
      v1::Run run = std::move(stored);
      if (auto it = active_.find(run.name()); it != active_.end()) {
        run = it->second->run;
      }
      const bool match = filter->Matches(
          [&](absl::string_view key) -> std::optional<std::string> {
            if (key == "state") return v1::RunState_Name(run.state());
            if (key == "trigger") return v1::RunTrigger_Name(run.trigger());
            if (key == "strategy") {
              return v1::TrainingStrategy_Name(run.strategy());
            }
            return run.model();
          });
      if (!match) continue;
      run.clear_config();
      run.clear_report();
      *response.add_runs() = std::move(run);
      if (response.runs_size() == page_size) {
        if (cursor > 1) response.set_next_page_token(absl::StrCat(cursor));
        return response;
      }
    }
    if (cursor <= 1) break;
  }
  return response;
}

absl::StatusOr<RunUpdate> Scheduler::WaitForRunUpdate(absl::string_view name,
                                                      uint64_t after,
                                                      absl::Time deadline) {
  absl::StatusOr<std::string> model = ParseRunName(name);
  if (!model.ok()) return model.status();
  const std::string key(name);
  absl::MutexLock lock(&mu_);
  while (true) {
    auto it = active_.find(key);
    if (it == active_.end()) {
      absl::StatusOr<v1::Run> run = GetRunLocked(key);
      if (!run.ok()) return run.status();
      RunUpdate update;
      update.run = *std::move(run);
      update.final = IsFinal(update.run.state());
      update.sequence = update.state_sequence = sequence_;
      return update;
    }
    const Active& a = *it->second;
    if (a.sequence > after || change_cv_.WaitWithDeadline(&mu_, deadline)) {
      auto again = active_.find(key);
      if (again == active_.end()) continue;  // It just ended.
      RunUpdate update;
      update.run = again->second->run;
      update.sequence = again->second->sequence;
      update.state_sequence = again->second->state_sequence;
      return update;
    }
  }
}

// ---------------------------------------------------------------- cancels

absl::StatusOr<v1::Run> Scheduler::CancelRun(
    const v1::CancelRunRequest& request) {
  absl::StatusOr<std::string> model = ParseRunName(request.name());
  if (!model.ok()) return model.status();
  const std::string& name = request.name();
  const std::string why =
      request.reason().empty() ? "cancelled by CancelRun"
                               : absl::StrCat("cancelled: ", request.reason());
  absl::MutexLock lock(&mu_);
  auto it = active_.find(name);
  if (it == active_.end()) {
    absl::StatusOr<v1::Run> run = GetRunLocked(name);
    if (!run.ok()) return run.status();
    std::string detail;
    if (run->candidate_version().version() > 0) {
      detail = absl::StrCat("; its candidate was uploaded as version ",
                            run->candidate_version().version());
    }
    return absl::FailedPreconditionError(
        absl::StrCat("run ", name, " has already ended: ",
                     v1::RunState_Name(run->state()), detail));
  }
  Active& a = *it->second;
  if (a.uploading) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", name, " is in ", v1::RunPhase_Name(a.run.progress().phase()),
        ": its candidate is being uploaded to the registry and can no longer "
        "be cancelled"));
  }
  if (!a.started) {
    ready_.erase(std::remove(ready_.begin(), ready_.end(), name), ready_.end());
    FinishLocked(name, {v1::RUN_STATE_CANCELLED, absl::CancelledError(why)});
    return GetRunLocked(name);
  }
  if (!a.cancel_requested) {
    a.cancel_requested = true;
    a.cancel_reason = why;
    a.run.mutable_progress()->set_message("cancelling");
    TouchLocked(a, /*state_change=*/true);
    spdlog::info("trainer: cancelling {} ({})", name, why);
  }
  const absl::Time deadline = absl::Now() + options_.cancel_wait;
  while (active_.count(name) > 0) {
    if (change_cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return GetRunLocked(name);
}

// ---------------------------------------------------------------- configs

absl::StatusOr<v1::TrainingConfig> Scheduler::ConfigureTraining(
    const v1::ConfigureTrainingRequest& request) {
  absl::StatusOr<std::string> model = ParseConfigName(request.config().name());
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.", model.status().message()));
  }
  if (absl::Status s = ValidateMask(request.update_mask(), "update_mask",
                                    /*allow_schedule=*/true);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<v1::TrainingConfig> stored = StoredConfig(*model);
  if (!stored.ok()) return stored.status();
  v1::TrainingConfig next;
  if (request.update_mask().paths_size() == 0) {
    next = request.config();
  } else {
    next = *stored;
    Merge(request.config(), request.update_mask(), &next);
  }
  next.clear_schedule_status();
  next.clear_update_time();
  next.set_name(ConfigName(*model));
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig(*model, next);
  if (!effective.ok()) {
    if (absl::IsInvalidArgument(effective.status())) {
      return absl::InvalidArgumentError(
          absl::StrCat("config.", effective.status().message()));
    }
    return effective.status();
  }
  const absl::Time now = options_.clock->Now();
  *next.mutable_update_time() = ToProto(now);
  if (absl::Status s = options_.store->PutConfig(*model, next); !s.ok()) {
    return s;
  }
  absl::StatusOr<ScheduleState> schedule = options_.store->GetSchedule(*model);
  if (!schedule.ok()) return schedule.status();
  // A new cadence counts from now: its first slot is one period (or the
  // next daily time) away.
  const bool cadence_changed =
      stored->schedule().cadence_case() != next.schedule().cadence_case() ||
      stored->schedule().every().SerializeAsString() !=
          next.schedule().every().SerializeAsString() ||
      stored->schedule().daily_at().SerializeAsString() !=
          next.schedule().daily_at().SerializeAsString() ||
      schedule->last_slot == absl::InfinitePast();
  if (cadence_changed) {
    schedule->last_slot = now;
    if (absl::Status s = options_.store->PutSchedule(*model, *schedule);
        !s.ok()) {
      return s;
    }
  }
  configs_[*model] = next;
  spdlog::info("trainer: training configuration of model {} set", *model);
  v1::TrainingConfig view = *effective;
  view.set_seed(next.seed());  // 0 stays "random per run".
  *view.mutable_update_time() = next.update_time();
  *view.mutable_schedule_status() = StatusView(*model, *schedule);
  return view;
}

absl::StatusOr<v1::TrainingConfig> Scheduler::GetTrainingConfig(
    absl::string_view name) {
  absl::StatusOr<std::string> model = ParseConfigName(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<v1::TrainingConfig> stored = StoredConfig(*model);
  if (!stored.ok()) return stored.status();
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig(*model, *stored);
  if (!effective.ok()) return effective.status();
  absl::StatusOr<ScheduleState> schedule = options_.store->GetSchedule(*model);
  if (!schedule.ok()) return schedule.status();
  v1::TrainingConfig view = *effective;
  view.set_seed(stored->seed());
  *view.mutable_update_time() = stored->update_time();
  *view.mutable_schedule_status() = StatusView(*model, *schedule);
  return view;
}

absl::StatusOr<v1::ScheduleStatus> Scheduler::PauseSchedule(
    absl::string_view name, const std::string& reason) {
  absl::StatusOr<std::string> model = ParseConfigName(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<ScheduleState> schedule = options_.store->GetSchedule(*model);
  if (!schedule.ok()) return schedule.status();
  if (!schedule->status.circuit_open()) {
    schedule->status.set_paused(true);
    schedule->status.set_paused_reason(
        reason.empty() ? "paused by PauseSchedule"
                       : absl::StrCat("paused: ", reason));
    if (absl::Status s = options_.store->PutSchedule(*model, *schedule);
        !s.ok()) {
      return s;
    }
    spdlog::info("trainer: schedule of model {} paused ({})", *model,
                 schedule->status.paused_reason());
  }
  return StatusView(*model, *schedule);
}

absl::StatusOr<v1::ScheduleStatus> Scheduler::ResumeSchedule(
    absl::string_view name, const std::string& reason) {
  absl::StatusOr<std::string> model = ParseConfigName(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<ScheduleState> schedule = options_.store->GetSchedule(*model);
  if (!schedule.ok()) return schedule.status();
  const bool was_open = schedule->status.circuit_open();
  schedule->status.set_paused(false);
  schedule->status.set_circuit_open(false);
  schedule->status.set_paused_reason("");
  schedule->status.set_consecutive_failures(0);
  // Slots missed while paused are not made up for.
  schedule->last_slot = options_.clock->Now();
  if (absl::Status s = options_.store->PutSchedule(*model, *schedule);
      !s.ok()) {
    return s;
  }
  if (options_.metrics != nullptr) options_.metrics->SetCircuitOpen(*model, false);
  spdlog::info("trainer: schedule of model {} resumed{}{}", *model,
               was_open ? " (circuit breaker closed)" : "",
               reason.empty() ? "" : absl::StrCat(": ", reason));
  return StatusView(*model, *schedule);
}

// --------------------------------------------------------------- schedules

int Scheduler::RunDue() {
  struct Due {
    std::string model;
    v1::TrainingConfig config;
    ScheduleState state;
  };
  std::vector<Due> due;
  const absl::Time now = options_.clock->Now();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return 0;
    for (const auto& [model, config] : configs_) {
      if (config.schedule().cadence_case() ==
          v1::TrainingSchedule::CADENCE_NOT_SET) {
        continue;
      }
      absl::StatusOr<ScheduleState> state = options_.store->GetSchedule(model);
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
      if (absl::Status s = options_.store->PutSchedule(model, *state); !s.ok()) {
        spdlog::error("trainer: schedule of model {}: {}", model, s.ToString());
        continue;
      }
      due.push_back({model, config, *state});
    }
  }
  for (const Due& d : due) {
    const v1::TrainingSchedule& schedule = d.config.schedule();
    const std::string cadence = DescribeCadence(schedule);
    if (schedule.min_new_records() > 0 && options_.collector != nullptr) {
      v1::TimeWindow window;
      if (d.state.status.has_last_trained_time()) {
        *window.mutable_start_time() = d.state.status.last_trained_time();
      }
      *window.mutable_end_time() = ToProto(now);
      const std::string dataset =
          d.config.dataset().empty() ? d.model : d.config.dataset();
      absl::StatusOr<v1::DatasetStats> stats =
          options_.collector->GetDatasetStats(dataset, window);
      if (!stats.ok()) {
        spdlog::warn(
            "trainer: cannot count the new records of model {} (data set "
            "{}): {}; running anyway",
            d.model, dataset, stats.status().ToString());
      } else if (stats->record_count() < schedule.min_new_records()) {
        RecordSkip(
            d.model,
            absl::StrCat(
                "skipped: only ", stats->record_count(),
                " new records in data set ", dataset,
                d.state.status.has_last_trained_time()
                    ? absl::StrCat(" since ",
                                   absl::FormatTime(FromProto(
                                       d.state.status.last_trained_time())))
                    : std::string(),
                " (schedule.min_new_records is ", schedule.min_new_records(),
                "; ", cadence, ")"));
        continue;
      }
    }
    absl::StatusOr<v1::TriggerRunResponse> r =
        Trigger(d.model, v1::RUN_TRIGGER_SCHEDULE, absl::StrCat("schedule: ", cadence),
                "", v1::TrainingConfig(), google::protobuf::FieldMask(), nullptr,
                "", "trainer");
    if (!r.ok()) {
      spdlog::warn("trainer: scheduled run of model {} not started: {}",
                   d.model, r.status().ToString());
    }
  }
  return static_cast<int>(due.size());
}

void Scheduler::RecordSkip(const std::string& model,
                           const std::string& reason) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  v1::Run run;
  run.set_model(model);
  run.set_state(v1::RUN_STATE_CANCELLED);
  run.set_trigger(v1::RUN_TRIGGER_SCHEDULE);
  run.set_reason(reason);
  *run.mutable_error() = ToRpcStatus(absl::FailedPreconditionError(reason));
  run.mutable_progress()->set_phase(v1::RUN_PHASE_DONE);
  run.mutable_progress()->set_message(reason);
  *run.mutable_create_time() = ToProto(now);
  *run.mutable_end_time() = ToProto(now);
  run.set_actor("trainer");
  if (auto config = configs_.find(model); config != configs_.end()) {
    absl::StatusOr<v1::TrainingConfig> effective =
        EffectiveTrainingConfig(model, config->second);
    if (effective.ok()) {
      run.set_strategy(effective->strategy());
      *run.mutable_config() = *effective;
    }
  }
  absl::StatusOr<v1::Run> created = options_.store->CreateRun(std::move(run));
  if (!created.ok()) {
    spdlog::error("trainer: cannot record a skipped run of model {}: {}",
                  model, created.status().ToString());
    return;
  }
  if (options_.metrics != nullptr) options_.metrics->ScheduledSkip(model);
  spdlog::info("trainer: {} {}", created->name(), reason);
  ++sequence_;
  change_cv_.SignalAll();
}

void Scheduler::TickerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time deadline = absl::Now() + options_.tick_interval;
      while (!stopping_ && !tick_cv_.WaitWithDeadline(&mu_, deadline)) {
      }
      if (stopping_) return;
    }
    RunDue();
  }
}

// ---------------------------------------------------------------- workers

v1::Run Scheduler::StartRunLocked(Active& a) {
  const absl::Time now = options_.clock->Now();
  v1::Run& run = a.run;
  a.started = true;
  run.set_state(v1::RUN_STATE_RUNNING);
  *run.mutable_start_time() = ToProto(now);
  absl::StatusOr<ScheduleState> schedule =
      options_.store->GetSchedule(run.model());
  if (!run.data_window().has_end_time()) {
    *run.mutable_data_window()->mutable_end_time() = ToProto(now);
  }
  if (!run.data_window().has_start_time()) {
    absl::Time start =
        FromProto(run.data_window().end_time()) - FromProto(run.config().window());
    if (run.strategy() != v1::TRAINING_STRATEGY_FULL_RETRAIN && schedule.ok() &&
        schedule->status.has_last_trained_time()) {
      start = std::max(start, FromProto(schedule->status.last_trained_time()));
    }
    *run.mutable_data_window()->mutable_start_time() = ToProto(start);
  }
  run.mutable_progress()->set_phase(v1::RUN_PHASE_FETCHING_MODEL);
  run.mutable_progress()->set_message("starting");
  *run.mutable_progress()->mutable_time() = ToProto(now);
  if (schedule.ok()) {
    *schedule->status.mutable_last_run_time() = ToProto(now);
    (void)options_.store->PutSchedule(run.model(), *schedule);
  }
  PersistLocked(run);
  TouchLocked(a, /*state_change=*/true);
  spdlog::info("trainer: {} started ({}, window {} .. {})", run.name(),
               v1::TrainingStrategy_Name(run.strategy()),
               absl::FormatTime(FromProto(run.data_window().start_time())),
               absl::FormatTime(FromProto(run.data_window().end_time())));
  return run;
}

void Scheduler::WorkerLoop() {
  while (true) {
    std::string name;
    v1::Run run;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && ready_.empty()) work_cv_.Wait(&mu_);
      if (stopping_) return;
      name = ready_.front();
      ready_.pop_front();
      run = StartRunLocked(*active_.at(name));
    }
    Control control(this, name);
    RunOutcome outcome = options_.executor->Execute(run, control);
    absl::MutexLock lock(&mu_);
    FinishLocked(name, outcome);
  }
}

bool Scheduler::CountOutcomeLocked(const v1::Run& run, v1::RunState state,
                                   const std::string& detail) {
  absl::StatusOr<ScheduleState> schedule =
      options_.store->GetSchedule(run.model());
  if (!schedule.ok()) return true;
  v1::ScheduleStatus& st = schedule->status;
  if (state == v1::RUN_STATE_SUCCEEDED) {
    st.set_consecutive_failures(0);
    *st.mutable_last_success_time() = ToProto(options_.clock->Now());
    if (run.data_window().has_end_time()) {
      *st.mutable_last_trained_time() = run.data_window().end_time();
    }
  } else {
    st.set_consecutive_failures(st.consecutive_failures() + 1);
    int threshold = run.config().circuit_breaker_threshold();
    if (auto c = configs_.find(run.model()); c != configs_.end()) {
      threshold = c->second.circuit_breaker_threshold();
    }
    if (threshold <= 0) threshold = kDefaultCircuitThreshold;
    if (!st.circuit_open() && st.consecutive_failures() >= threshold) {
      st.set_circuit_open(true);
      st.set_paused(true);
      st.set_paused_reason(absl::StrCat(
          "circuit breaker: ", st.consecutive_failures(),
          " consecutive failed or rejected runs, the latest ", run.name(), " ",
          v1::RunState_Name(state),
          detail.empty() ? std::string() : absl::StrCat(": ", detail)));
      spdlog::error(
          "trainer: circuit breaker open for model {}: {} consecutive "
          "failed or rejected runs (latest {}: {}: {}); its schedule and "
          "drift triggers are paused until ResumeSchedule",
          run.model(), st.consecutive_failures(), run.name(),
          v1::RunState_Name(state), detail);
      if (options_.metrics != nullptr) {
        options_.metrics->SetCircuitOpen(run.model(), true);
      }
    }
  }
  if (absl::Status s = options_.store->PutSchedule(run.model(), *schedule);
      !s.ok()) {
    spdlog::error("trainer: cannot record the schedule of model {}: {}",
                  run.model(), s.ToString());
  }
  // An approved candidate never stops an online run, even while the breaker
  // is still open (only ResumeSchedule closes it).
  return state == v1::RUN_STATE_SUCCEEDED || !st.circuit_open();
}

void Scheduler::FinishLocked(const std::string& name,
                             const RunOutcome& outcome) {
  auto it = active_.find(name);
  if (it == active_.end()) return;
  std::unique_ptr<Active> a = std::move(it->second);
  active_.erase(it);
  v1::Run& run = a->run;
  const absl::Time now = options_.clock->Now();
  run.set_state(outcome.state);
  absl::Status error = outcome.error;
  bool interrupted = false;
  if (stopping_ && !a->cancel_requested &&
      outcome.state != v1::RUN_STATE_SUCCEEDED &&
      outcome.state != v1::RUN_STATE_REJECTED) {
    run.set_state(v1::RUN_STATE_FAILED);
    error = absl::AbortedError(kShutdownReason);
    interrupted = true;
  }
  if (run.state() == v1::RUN_STATE_CANCELLED && a->cancel_requested) {
    error = absl::CancelledError(a->cancel_reason);
  }
  if (!error.ok()) {
    *run.mutable_error() = ToRpcStatus(error);
  } else {
    run.clear_error();
  }
  *run.mutable_end_time() = ToProto(now);
  v1::RunProgress* p = run.mutable_progress();
  p->set_phase(v1::RUN_PHASE_DONE);
  p->set_message(error.ok() ? v1::RunState_Name(run.state())
                            : absl::StrCat(v1::RunState_Name(run.state()), ": ",
                                           error.message()));
  *p->mutable_time() = ToProto(now);
  PersistLocked(run);

  // The schedule: failure count, circuit breaker, trained window. An online
  // run's candidates were counted one by one (CandidateDecided), so its
  // SUCCEEDED or REJECTED end is not counted again.
  const bool online_counted = run.strategy() == v1::TRAINING_STRATEGY_ONLINE &&
                              (run.state() == v1::RUN_STATE_SUCCEEDED ||
                               run.state() == v1::RUN_STATE_REJECTED);
  if (!interrupted && !online_counted &&
      (run.state() == v1::RUN_STATE_SUCCEEDED ||
       run.state() == v1::RUN_STATE_FAILED ||
       run.state() == v1::RUN_STATE_REJECTED)) {
    CountOutcomeLocked(run, run.state(), std::string(error.message()));
  }
  if (options_.metrics != nullptr) options_.metrics->RunFinished(run);
  if (error.ok()) {
    spdlog::info("trainer: {} ended {}", run.name(),
                 v1::RunState_Name(run.state()));
  } else {
    spdlog::warn("trainer: {} ended {}: {}", run.name(),
                 v1::RunState_Name(run.state()), error.ToString());
  }

  ModelRuns& runs = model_runs_[run.model()];
  if (runs.queued == name) {
    runs.queued.clear();
  } else if (runs.active == name) {
    runs.active.clear();
    if (!runs.queued.empty() && !stopping_) {
      runs.active = runs.queued;
      runs.queued.clear();
      ready_.push_back(runs.active);
      work_cv_.Signal();
      Active& next = *active_.at(runs.active);
      next.run.mutable_progress()->set_message("waiting for a worker");
      TouchLocked(next, /*state_change=*/true);
    }
  }
  if (runs.active.empty() && runs.queued.empty()) {
    model_runs_.erase(run.model());
  }
  ++sequence_;
  change_cv_.SignalAll();
}

bool Scheduler::WaitIdle(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!active_.empty()) {
    if (change_cv_.WaitWithDeadline(&mu_, deadline)) return active_.empty();
  }
  return true;
}

}  // namespace continuum::trainer
