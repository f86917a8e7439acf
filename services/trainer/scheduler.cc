#include "services/trainer/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/proto_time.h"
#include "services/trainer/federated_settings.h"
#include "services/trainer/run_records.h"
#include "services/trainer/training_config.h"

namespace continuum::trainer {
namespace {

constexpr absl::Duration kIdempotencyWindow = absl::Hours(24);

}  // namespace

// Holds mu_. Releasing it publishes the change sequence to changes_ when
// it moved: after the unlock, since watchers' callbacks read runs (and so
// take mu_) on the publishing thread.
class ABSL_SCOPED_LOCKABLE Scheduler::Lock {
 public:
  explicit Lock(Scheduler* s) ABSL_EXCLUSIVE_LOCK_FUNCTION(s->mu_) : s_(s) {
    s_->mu_.Lock();
    start_ = s_->sequence_;
  }
  ~Lock() ABSL_UNLOCK_FUNCTION() {
    const uint64_t sequence = s_->sequence_;
    s_->mu_.Unlock();
    if (sequence != start_) {
      s_->changes_.Publish(static_cast<int64_t>(sequence));
    }
  }
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

 private:
  Scheduler* const s_;
  uint64_t start_ = 0;
};

Scheduler::Scheduler(SchedulerOptions options)
    : options_(std::move(options)),
      schedules_(options_.store, options_.clock, options_.metrics) {}

Scheduler::~Scheduler() { Stop(); }

absl::Status Scheduler::Start() {
  Lock lock(this);
  if (started_) return absl::FailedPreconditionError("already started");
  if (absl::Status s = schedules_.Load(); !s.ok()) return s;
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
    Lock lock(this);
    if (!started_ || stopping_) return;
    stopping_ = true;
    work_cv_.SignalAll();
    tick_cv_.SignalAll();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  Lock lock(this);
  // Runs that never started (waiting for a worker or queued).
  const absl::Time now = options_.clock->Now();
  for (auto& [name, a] : active_) {
    EndRunAtShutdown(now, &a->run);
    PersistLocked(a->run);
  }
  active_.clear();
  model_runs_.clear();
  ready_.clear();
  ++sequence_;
}

void Scheduler::PersistLocked(const v1::Run& run) {
  if (absl::Status s = options_.store->PutRun(run); !s.ok()) {
    spdlog::error("cannot record run {}: {}", run.name(), s.ToString());
  }
}

void Scheduler::TouchLocked(ActiveRun& active, bool state_change) {
  active.sequence = ++sequence_;
  if (state_change) active.state_sequence = active.sequence;
}

bool Scheduler::AwaitChange(absl::FunctionRef<bool()> done,
                            absl::Time deadline) {
  while (true) {
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      if (done()) return true;
      seen = sequence_;
    }
    if (absl::Now() >= deadline) return false;
    changes_.WaitAbove(static_cast<int64_t>(seen), deadline);
  }
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
      return absl::NotFoundError(
          absl::StrCat("model ", model, " is not registered in the registry"));
    }
    return absl::Status(m.status().code(),
                        absl::StrCat("registry: ", m.status().message()));
  }
  return absl::OkStatus();
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

void Scheduler::AddRunsLocked(const std::string& model,
                              v1::ScheduleStatus* status) {
  auto runs = model_runs_.find(model);
  if (runs != model_runs_.end()) {
    status->set_active_run(runs->second.active);
    status->set_queued_run(runs->second.queued);
  }
}

// ----------------------------------------------------------------- triggers

absl::StatusOr<v1::TriggerRunResponse> Scheduler::TriggerRun(
    const v1::TriggerRunRequest& request, const std::string& actor) {
  absl::StatusOr<TriggerSpec> spec = ParseTriggerRequest(request, actor);
  if (!spec.ok()) return spec.status();
  if (absl::Status s = CheckModel(spec->model); !s.ok()) return s;
  return Trigger(*spec);
}

absl::StatusOr<v1::Run> Scheduler::TriggerFederatedRun(
    const std::string& model, const std::string& round,
    const std::string& reason, const v1::TrainingConfig& overrides,
    const google::protobuf::FieldMask& mask) {
  v1::TriggerRunRequest request;
  request.set_parent(absl::StrCat("models/", model));
  request.set_reason(reason);
  *request.mutable_overrides() = overrides;
  *request.mutable_override_mask() = mask;
  // Parsed as a manual trigger (the same checks of the overrides), then
  // made the federated one it is.
  absl::StatusOr<TriggerSpec> spec = ParseTriggerRequest(request, "federated");
  if (!spec.ok()) return spec.status();
  spec->trigger = v1::RUN_TRIGGER_FEDERATED;
  spec->round = round;
  spec->request_id = round;
  if (absl::Status s = CheckModel(model); !s.ok()) return s;
  absl::StatusOr<v1::TriggerRunResponse> response = Trigger(*spec);
  if (!response.ok()) return response.status();
  return response->run();
}

absl::StatusOr<v1::TriggerRunResponse> Scheduler::Trigger(
    const TriggerSpec& spec) {
  Lock lock(this);
  if (stopping_) {
    return absl::UnavailableError("the trainer is shutting down");
  }
  const absl::Time now = options_.clock->Now();
  if (!spec.request_id.empty()) {
    absl::StatusOr<std::optional<v1::Run>> seen =
        FindTriggeredLocked(spec, now);
    if (!seen.ok()) return seen.status();
    if (seen->has_value()) {
      v1::TriggerRunResponse response;
      *response.mutable_run() = **std::move(seen);
      return response;
    }
  }
  absl::StatusOr<v1::TrainingConfig> config = RunConfigLocked(spec);
  if (!config.ok()) return config.status();
  if (absl::Status s = schedules_.Admit(spec.model, spec.trigger); !s.ok()) {
    return s;
  }
  ModelRuns& runs = model_runs_[spec.model];
  if (spec.trigger == v1::RUN_TRIGGER_FEDERATED &&
      (!runs.queued.empty() ||
       (!runs.active.empty() && !active_.at(runs.active)->started))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", spec.model, " already has a run waiting (",
        runs.queued.empty() ? runs.active : runs.queued,
        "); the run of ", spec.round, " cannot coalesce into it"));
  }
  if (std::optional<v1::TriggerRunResponse> coalesced =
          CoalesceLocked(spec, runs, now)) {
    return *std::move(coalesced);
  }
  return CreateRunLocked(spec, *config, runs, now);
}

absl::StatusOr<std::optional<v1::Run>> Scheduler::FindTriggeredLocked(
    const TriggerSpec& spec, absl::Time now) {
  absl::StatusOr<std::optional<std::string>> seen = options_.store->FindTrigger(
      spec.model, spec.request_id, now - kIdempotencyWindow);
  if (!seen.ok()) return seen.status();
  if (seen->has_value()) {
    absl::StatusOr<v1::Run> run = GetRunLocked(**seen);
    if (run.ok()) return *std::move(run);
  }
  return std::nullopt;
}

absl::StatusOr<v1::TrainingConfig> Scheduler::RunConfigLocked(
    const TriggerSpec& spec) {
  v1::TrainingConfig merged = schedules_.Stored(spec.model);
  const bool overridden = spec.override_mask.paths_size() > 0;
  if (overridden) MergeConfig(spec.overrides, spec.override_mask, &merged);
  absl::StatusOr<v1::TrainingConfig> config =
      EffectiveTrainingConfig(spec.model, merged);
  if (!config.ok() && overridden && absl::IsInvalidArgument(config.status())) {
    return absl::InvalidArgumentError(
        absl::StrCat("overrides: ", config.status().message()));
  }
  return config;
}

std::optional<v1::TriggerRunResponse> Scheduler::CoalesceLocked(
    const TriggerSpec& spec, const ModelRuns& runs, absl::Time now) {
  std::string target = runs.queued;
  if (target.empty() && !runs.active.empty() &&
      !active_.at(runs.active)->started) {
    target = runs.active;
  }
  if (target.empty()) return std::nullopt;
  ActiveRun& a = *active_.at(target);
  a.run.set_coalesced_triggers(a.run.coalesced_triggers() + 1);
  PersistLocked(a.run);
  TouchLocked(a, /*state_change=*/true);
  if (!spec.request_id.empty()) {
    (void)options_.store->PutTrigger(spec.model, spec.request_id, target, now);
  }
  spdlog::info("trainer: {} trigger for model {} coalesced into {}",
               v1::RunTrigger_Name(spec.trigger), spec.model, target);
  v1::TriggerRunResponse response;
  *response.mutable_run() = a.run;
  response.set_coalesced(true);
  return response;
}

absl::StatusOr<v1::TriggerRunResponse> Scheduler::CreateRunLocked(
    const TriggerSpec& spec, const v1::TrainingConfig& config, ModelRuns& runs,
    absl::Time now) {
  v1::Run run;
  run.set_model(spec.model);
  run.set_state(v1::RUN_STATE_QUEUED);
  run.set_trigger(spec.trigger);
  run.set_reason(spec.reason);
  run.set_alert(spec.alert);
  run.set_round(spec.round);
  run.set_strategy(config.strategy());
  *run.mutable_config() = config;
  if (spec.window.has_value()) *run.mutable_data_window() = *spec.window;
  *run.mutable_create_time() = core::ToProto(now);
  run.set_actor(spec.actor);
  run.mutable_progress()->set_phase(v1::RUN_PHASE_QUEUED);
  run.mutable_progress()->set_message(
      runs.active.empty() ? "waiting for a worker"
                          : absl::StrCat("waiting for ", runs.active));
  absl::StatusOr<v1::Run> created = options_.store->CreateRun(std::move(run));
  if (!created.ok()) return created.status();
  auto active = std::make_unique<ActiveRun>();
  active->run = *created;
  const std::string name = created->name();
  ActiveRun& a = *active;
  active_[name] = std::move(active);
  if (runs.active.empty()) {
    runs.active = name;
    ready_.push_back(name);
    work_cv_.Signal();
  } else {
    runs.queued = name;
  }
  TouchLocked(a, /*state_change=*/true);
  if (!spec.request_id.empty()) {
    (void)options_.store->PutTrigger(spec.model, spec.request_id, name, now);
  }
  spdlog::info("trainer: {} {} ({}: {})", name,
               runs.queued == name ? "queued" : "triggered",
               v1::RunTrigger_Name(spec.trigger), spec.reason);
  v1::TriggerRunResponse response;
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
  absl::StatusOr<RunQuery> query = RunQuery::Parse(request);
  if (!query.ok()) return query.status();
  v1::ListRunsResponse response;
  absl::MutexLock lock(&mu_);
  int64_t cursor = query->before();
  while (response.runs_size() < query->page_size()) {
    absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>> page =
        options_.store->ListRuns(query->model(), cursor, 256);
    if (!page.ok()) return page.status();
    if (page->empty()) break;
    for (auto& [seq, stored] : *page) {
      cursor = seq;
      v1::Run run = std::move(stored);
      if (auto it = active_.find(run.name()); it != active_.end()) {
        run = it->second->run;
      }
      if (!query->Matches(run)) continue;
      run.clear_config();
      run.clear_report();
      *response.add_runs() = std::move(run);
      if (response.runs_size() == query->page_size()) {
        if (cursor > 1) {
          response.set_next_page_token(query->NextPageToken(cursor));
        }
        return response;
      }
    }
    if (cursor <= 1) break;
  }
  return response;
}

absl::StatusOr<RunUpdate> Scheduler::RunUpdateLocked(const std::string& name) {
  RunUpdate update;
  auto it = active_.find(name);
  if (it == active_.end()) {
    absl::StatusOr<v1::Run> run = GetRunLocked(name);
    if (!run.ok()) return run.status();
    update.run = *std::move(run);
    update.final = IsFinal(update.run.state());
    update.sequence = update.state_sequence = sequence_;
    return update;
  }
  update.run = it->second->run;
  update.sequence = it->second->sequence;
  update.state_sequence = it->second->state_sequence;
  return update;
}

absl::StatusOr<RunUpdate> Scheduler::GetRunUpdate(absl::string_view name) {
  absl::StatusOr<std::string> model = ParseRunName(name);
  if (!model.ok()) return model.status();
  absl::MutexLock lock(&mu_);
  return RunUpdateLocked(std::string(name));
}

absl::StatusOr<RunUpdate> Scheduler::WaitForRunUpdate(absl::string_view name,
                                                      uint64_t after,
                                                      absl::Time deadline) {
  absl::StatusOr<std::string> model = ParseRunName(name);
  if (!model.ok()) return model.status();
  const std::string key(name);
  while (true) {
    const bool last_look = absl::Now() >= deadline;
    uint64_t seen;
    {
      absl::MutexLock lock(&mu_);
      absl::StatusOr<RunUpdate> update = RunUpdateLocked(key);
      if (!update.ok() || active_.count(key) == 0 || update->sequence > after ||
          last_look) {
        return update;
      }
      seen = sequence_;
    }
    changes_.WaitAbove(static_cast<int64_t>(seen), deadline);
  }
}

// ---------------------------------------------------------------- cancels

absl::StatusOr<v1::Run> Scheduler::CancelRun(
    const v1::CancelRunRequest& request) {
  absl::StatusOr<std::string> model = ParseRunName(request.name());
  if (!model.ok()) return model.status();
  const std::string& name = request.name();
  const std::string why = request.reason().empty()
                              ? "cancelled by CancelRun"
                              : absl::StrCat("cancelled: ", request.reason());
  {
    Lock lock(this);
    auto it = active_.find(name);
    if (it == active_.end()) {
      absl::StatusOr<v1::Run> run = GetRunLocked(name);
      if (!run.ok()) return run.status();
      std::string detail;
      if (run->candidate_version().version() > 0) {
        detail = absl::StrCat("; its candidate was uploaded as version ",
                              run->candidate_version().version());
      }
      return absl::FailedPreconditionError(absl::StrCat(
          "run ", name, " has already ended: ", v1::RunState_Name(run->state()),
          detail));
    }
    ActiveRun& a = *it->second;
    if (a.uploading) {
      return absl::FailedPreconditionError(absl::StrCat(
          "run ", name, " is in ", v1::RunPhase_Name(a.run.progress().phase()),
          ": its candidate is being uploaded to the registry and can no "
          "longer be cancelled"));
    }
    if (!a.started) {
      ready_.erase(std::remove(ready_.begin(), ready_.end(), name),
                   ready_.end());
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
  }
  AwaitChange([&] { return active_.count(name) == 0; },
              absl::Now() + options_.cancel_wait);
  absl::MutexLock lock(&mu_);
  return GetRunLocked(name);
}

// ---------------------------------------------------------------- configs

absl::StatusOr<v1::TrainingConfig> Scheduler::ConfigureTraining(
    const v1::ConfigureTrainingRequest& request) {
  absl::StatusOr<std::string> model =
      ParseTrainingConfigName(request.config().name());
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config.", model.status().message()));
  }
  if (absl::Status s = ValidateConfigMask(request.update_mask(), "update_mask",
                                          /*allow_schedule=*/true);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckFederatedConfig(request.config().federated(),
                                            "config.federated");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  Lock lock(this);
  absl::StatusOr<v1::TrainingConfig> view =
      schedules_.Configure(*model, request);
  if (view.ok()) AddRunsLocked(*model, view->mutable_schedule_status());
  return view;
}

absl::StatusOr<v1::TrainingConfig> Scheduler::GetTrainingConfig(
    absl::string_view name) {
  absl::StatusOr<std::string> model = ParseTrainingConfigName(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<v1::TrainingConfig> view = schedules_.View(*model);
  if (view.ok()) AddRunsLocked(*model, view->mutable_schedule_status());
  return view;
}

absl::StatusOr<v1::ScheduleStatus> Scheduler::PauseSchedule(
    absl::string_view name, const std::string& reason) {
  return EditSchedule(name, [&](const std::string& model) {
    return schedules_.PauseSchedule(model, reason);
  });
}

absl::StatusOr<v1::ScheduleStatus> Scheduler::ResumeSchedule(
    absl::string_view name, const std::string& reason) {
  return EditSchedule(name, [&](const std::string& model) {
    return schedules_.ResumeSchedule(model, reason);
  });
}

absl::StatusOr<v1::ScheduleStatus> Scheduler::EditSchedule(
    absl::string_view name, ScheduleEdit edit) {
  absl::StatusOr<std::string> model = ParseTrainingConfigName(name);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckModel(*model); !s.ok()) return s;
  Lock lock(this);
  absl::StatusOr<v1::ScheduleStatus> status = edit(*model);
  if (status.ok()) AddRunsLocked(*model, &*status);
  return status;
}

// --------------------------------------------------------------- schedules

int Scheduler::RunDue() {
  const absl::Time now = options_.clock->Now();
  const std::vector<DueSlot> due = TakeDueSlots(now);
  for (const DueSlot& slot : due) {
    const std::string reason =
        absl::StrCat("schedule: ", DescribeCadence(slot.config.schedule()));
    if (options_.take_scheduled_slot &&
        options_.take_scheduled_slot(slot.model, reason)) {
      continue;
    }
    if (std::optional<std::string> skip = SkipReason(slot, now)) {
      RecordSkip(slot.model, *skip);
      continue;
    }
    TriggerSpec spec;
    spec.model = slot.model;
    spec.trigger = v1::RUN_TRIGGER_SCHEDULE;
    spec.reason = reason;
    spec.actor = "trainer";
    absl::StatusOr<v1::TriggerRunResponse> r = Trigger(spec);
    if (!r.ok()) {
      spdlog::warn("trainer: scheduled run of model {} not started: {}",
                   slot.model, r.status().ToString());
    }
  }
  return static_cast<int>(due.size());
}

std::vector<DueSlot> Scheduler::TakeDueSlots(absl::Time now) {
  Lock lock(this);
  if (stopping_) return {};
  return schedules_.TakeDue(now);
}

std::optional<std::string> Scheduler::SkipReason(const DueSlot& slot,
                                                 absl::Time now) {
  if (slot.config.schedule().min_new_records() <= 0 ||
      options_.collector == nullptr) {
    return std::nullopt;
  }
  absl::StatusOr<v1::DatasetStats> stats = options_.collector->GetDatasetStats(
      slot.dataset(), slot.NewRecordsWindow(now));
  if (!stats.ok()) {
    spdlog::warn(
        "trainer: cannot count the new records of model {} (data set {}): "
        "{}; running anyway",
        slot.model, slot.dataset(), stats.status().ToString());
    return std::nullopt;
  }
  return slot.SkipReason(stats->record_count());
}

void Scheduler::RecordSkip(const std::string& model,
                           const std::string& reason) {
  Lock lock(this);
  const std::optional<v1::TrainingConfig> effective =
      schedules_.Effective(model);
  absl::StatusOr<v1::Run> created = options_.store->CreateRun(
      SkippedRun(model, reason, options_.clock->Now(),
                 effective.has_value() ? &*effective : nullptr));
  if (!created.ok()) {
    spdlog::error("trainer: cannot record a skipped run of model {}: {}", model,
                  created.status().ToString());
    return;
  }
  if (options_.metrics != nullptr) options_.metrics->ScheduledSkip(model);
  spdlog::info("trainer: {} {}", created->name(), reason);
  ++sequence_;
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

v1::Run Scheduler::StartRunLocked(ActiveRun& a) {
  const absl::Time now = options_.clock->Now();
  a.started = true;
  v1::Run& run = a.run;
  StartRun(now, schedules_.RunStarted(run.model(), now), &run);
  PersistLocked(run);
  TouchLocked(a, /*state_change=*/true);
  spdlog::info(
      "trainer: {} started ({}, window {} .. {})", run.name(),
      v1::TrainingStrategy_Name(run.strategy()),
      absl::FormatTime(core::FromProto(run.data_window().start_time())),
      absl::FormatTime(core::FromProto(run.data_window().end_time())));
  return run;
}

void Scheduler::WorkerLoop() {
  while (true) {
    std::string name;
    v1::Run run;
    {
      Lock lock(this);
      while (!stopping_ && ready_.empty()) work_cv_.Wait(&mu_);
      if (stopping_) return;
      name = ready_.front();
      ready_.pop_front();
      run = StartRunLocked(*active_.at(name));
    }
    ActiveRunControl control(this, name, options_.clock, options_.metrics,
                             options_.progress_interval);
    RunOutcome outcome = options_.executor->Execute(run, control);
    Lock lock(this);
    FinishLocked(name, outcome);
  }
}

bool Scheduler::EditRun(const std::string& name, Edit edit) {
  Lock lock(this);
  auto it = active_.find(name);
  if (it == active_.end()) return false;
  ActiveRun& a = *it->second;
  const Change change = edit(a, stopping_);
  if (change == Change::kState) PersistLocked(a.run);
  if (change != Change::kNone) TouchLocked(a, change == Change::kState);
  return true;
}

bool Scheduler::CountCandidate(const std::string& name, bool approved,
                               const std::string& detail) {
  Lock lock(this);
  auto it = active_.find(name);
  if (it == active_.end()) return false;
  return schedules_.Count(
      it->second->run,
      approved ? v1::RUN_STATE_SUCCEEDED : v1::RUN_STATE_REJECTED, detail);
}

void Scheduler::FinishLocked(const std::string& name,
                             const RunOutcome& outcome) {
  auto it = active_.find(name);
  if (it == active_.end()) return;
  std::unique_ptr<ActiveRun> a = std::move(it->second);
  active_.erase(it);
  v1::Run& run = a->run;
  v1::RunState state = outcome.state;
  absl::Status error = outcome.error;
  bool interrupted = false;
  if (stopping_ && !a->cancel_requested && state != v1::RUN_STATE_SUCCEEDED &&
      state != v1::RUN_STATE_REJECTED) {
    state = v1::RUN_STATE_FAILED;
    error = absl::AbortedError(kShutdownReason);
    interrupted = true;
  }
  if (state == v1::RUN_STATE_CANCELLED && a->cancel_requested) {
    error = absl::CancelledError(a->cancel_reason);
  }
  EndRun(state, error, options_.clock->Now(), &run);
  PersistLocked(run);

  // The schedule: failure count, circuit breaker, trained window. An online
  // run's candidates were counted one by one (CandidateDecided), so its
  // SUCCEEDED or REJECTED end is not counted again.
  const bool online_counted =
      run.strategy() == v1::TRAINING_STRATEGY_ONLINE &&
      (state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_REJECTED);
  if (!interrupted && !online_counted &&
      (state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_FAILED ||
       state == v1::RUN_STATE_REJECTED)) {
    schedules_.Count(run, state, std::string(error.message()));
  }
  if (options_.metrics != nullptr) options_.metrics->RunFinished(run);
  if (error.ok()) {
    spdlog::info("trainer: {} ended {}", run.name(), v1::RunState_Name(state));
  } else {
    spdlog::warn("trainer: {} ended {}: {}", run.name(),
                 v1::RunState_Name(state), error.ToString());
  }
  AdvanceQueueLocked(name, run.model());
  ++sequence_;
}

void Scheduler::AdvanceQueueLocked(const std::string& name,
                                   const std::string& model) {
  ModelRuns& runs = model_runs_[model];
  if (runs.queued == name) {
    runs.queued.clear();
  } else if (runs.active == name) {
    runs.active.clear();
    if (!runs.queued.empty() && !stopping_) {
      runs.active = runs.queued;
      runs.queued.clear();
      ready_.push_back(runs.active);
      work_cv_.Signal();
      ActiveRun& next = *active_.at(runs.active);
      next.run.mutable_progress()->set_message("waiting for a worker");
      TouchLocked(next, /*state_change=*/true);
    }
  }
  if (runs.active.empty() && runs.queued.empty()) model_runs_.erase(model);
}

bool Scheduler::WaitIdle(absl::Duration timeout) {
  return AwaitChange([&] { return active_.empty(); }, absl::Now() + timeout);
}

}  // namespace continuum::trainer
