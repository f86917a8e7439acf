#include "services/drift/drift_monitor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/field_rules.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/drift/batch_validation.h"
#include "services/drift/canary_judge.h"
#include "services/drift/detector_set.h"
#include "services/drift/drift_metrics.h"
#include "services/drift/monitor_config.h"
#include "services/drift/monitor_query.h"
#include "services/drift/performance_window.h"
#include "services/drift/reference_tester.h"

namespace continuum::drift_service {

struct DriftMonitor::VersionState {
  int64_t observations = 0;
  int64_t outcomes = 0;
  int32_t feature_dim = -1;  // Unknown until the first batch with features.
  OutcomeKind outcome_kind = OutcomeKind::kUnknown;
  int64_t prediction_index = 0;  // Stream index of the prediction signal.
  // Built lazily from the model's monitor; cleared when it changes.
  DetectorSet detectors;
  PerformanceWindow performance;
  VersionReference reference;
};

struct DriftMonitor::ModelState {
  explicit ModelState(int64_t max_canary_samples)
      : canary(max_canary_samples) {}
  v1::Monitor monitor;
  int64_t observations = 0;
  std::map<int64_t, VersionState> versions;
  CanaryJudge canary;
};

DriftMonitor::DriftMonitor(DriftMonitorOptions options)
    : options_(std::move(options)),
      dispatcher_({.clock = options_.clock,
                   .actions = options_.actions,
                   .store = options_.store,
                   .metrics = options_.metrics}),
      alerts_(options_.max_alerts) {
  if (options_.references != nullptr &&
      options_.reference_poll_interval > absl::ZeroDuration()) {
    worker_ = std::make_unique<PeriodicWorker>(
        options_.reference_poll_interval, [this] { RunReferenceWork(); });
  }
}

// The worker goes first: it calls into everything else.
DriftMonitor::~DriftMonitor() { worker_.reset(); }

v1::Monitor DriftMonitor::DefaultMonitor(absl::string_view model) {
  return drift_service::DefaultMonitor(model);
}

DriftMonitor::ModelState& DriftMonitor::GetOrCreateModel(
    const std::string& model) {
  std::unique_ptr<ModelState>& state = models_[model];
  if (state == nullptr) {
    state = std::make_unique<ModelState>(options_.max_canary_samples);
    state->monitor = DefaultMonitor(model);
    *state->monitor.mutable_update_time() = core::ToProto(options_.clock->Now());
  }
  return *state;
}

DriftMonitor::VersionState* DriftMonitor::FindVersion(const std::string& model,
                                                      int64_t version) {
  auto m = models_.find(model);
  if (m == models_.end()) return nullptr;
  auto v = m->second->versions.find(version);
  return v == m->second->versions.end() ? nullptr : &v->second;
}

// ---------------------------------------------------------------------------
// Monitors

absl::StatusOr<v1::Monitor> DriftMonitor::ConfigureMonitor(
    const v1::ConfigureMonitorRequest& request) {
  // drift.proto's rules of every field, whether the update mask names it
  // or not (the gRPC handler checked them too; direct callers get the
  // same answer).
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) return s;
  absl::StatusOr<std::string> model =
      ParseMonitorName(request.monitor().name());
  if (!model.ok()) return model.status();

  absl::MutexLock lock(&mu_);
  auto it = models_.find(*model);
  absl::StatusOr<v1::Monitor> next = ConfiguredMonitor(
      it != models_.end() ? &it->second->monitor : nullptr, request, *model);
  if (!next.ok()) return next.status();
  *next->mutable_update_time() = core::ToProto(options_.clock->Now());
  // Stored first: a configuration the store did not take changes nothing.
  if (options_.store != nullptr) {
    if (absl::Status s = options_.store->PutMonitor(*model, *next); !s.ok()) {
      return s;
    }
  }
  ModelState& state = GetOrCreateModel(*model);
  const bool reference_tests_changed =
      state.monitor.reference_tests().SerializeAsString() !=
      next->reference_tests().SerializeAsString();
  state.monitor = *std::move(next);
  // Detectors start over under the new configuration; counts and the
  // performance window stay. Reference-test windows start over when their
  // configuration changed (the loaded references stay).
  for (auto& [id, version] : state.versions) {
    if (reference_tests_changed) version.reference.Reset();
    version.detectors.Clear();
    version.performance.Rearm();
    version.prediction_index = 0;
  }
  return state.monitor;
}

absl::Status DriftMonitor::Restore() {
  if (options_.store == nullptr) return absl::OkStatus();
  absl::StatusOr<DriftState> stored = options_.store->Load();
  if (!stored.ok()) return stored.status();
  int64_t settled = 0;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [model, monitor] : stored->monitors) {
      // The checks of ConfigureMonitor; the stored update_time stays.
      if (absl::Status s = ValidateStoredMonitor(model, monitor); !s.ok()) {
        return s;
      }
      GetOrCreateModel(model).monitor = std::move(monitor);
    }
    alerts_.Restore(std::move(stored->alerts));
    settled = alerts_.settled();
  }
  dispatcher_.Restore(stored->last_actions);
  settled_alerts_.Publish(settled);
  return absl::OkStatus();
}

absl::StatusOr<v1::Monitor> DriftMonitor::GetMonitor(absl::string_view name) {
  absl::StatusOr<std::string> model = ParseMonitorName(name);
  if (!model.ok()) return model.status();
  absl::MutexLock lock(&mu_);
  auto it = models_.find(*model);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", *model,
                                            "' has never been observed or "
                                            "configured"));
  }
  return it->second->monitor;
}

absl::StatusOr<v1::ListMonitorsResponse> DriftMonitor::ListMonitors(
    const v1::ListMonitorsRequest& request) {
  absl::StatusOr<MonitorQuery> query = ParseMonitorQuery(request);
  if (!query.ok()) return query.status();
  v1::ListMonitorsResponse response;
  std::string last_model;  // The last model id returned.
  absl::MutexLock lock(&mu_);
  auto it = query->after.empty() ? models_.begin()
                                 : models_.upper_bound(query->after);
  for (; it != models_.end(); ++it) {
    const v1::Monitor& m = it->second->monitor;
    if (!MonitorMatches(*query, m)) continue;
    if (response.monitors_size() == query->page_size) {
      response.set_next_page_token(NextMonitorPageToken(*query, last_model));
      break;
    }
    *response.add_monitors() = m;
    last_model = it->first;
  }
  return response;
}

// ---------------------------------------------------------------------------
// Observations

absl::StatusOr<ObserveResult> DriftMonitor::Observe(
    const v1::ObservationBatch& batch) {
  ObserveResult result;
  {
    absl::MutexLock lock(&mu_);
    KnownVersion known;
    if (auto m = models_.find(batch.model()); m != models_.end()) {
      known.monitor = &m->second->monitor;
      if (auto v = m->second->versions.find(batch.version());
          v != m->second->versions.end()) {
        known.feature_dim = v->second.feature_dim;
        known.outcome_kind = v->second.outcome_kind;
      }
    }
    if (absl::Status s = ValidateBatch(batch, known); !s.ok()) return s;
    absl::StatusOr<VersionState*> version = VersionFor(batch);
    if (!version.ok()) return version.status();
    std::vector<v1::Alert> alerts;
    Apply(batch, *models_[batch.model()], **version, result, alerts);
    result.alerts = static_cast<int64_t>(alerts.size());
    for (v1::Alert& alert : alerts) RaiseAlert(std::move(alert));
  }
  if (options_.metrics != nullptr) {
    options_.metrics->AddObservations(batch.model(), result.observations,
                                      result.outcomes);
  }
  if (result.outcomes > 0) MaybeJudgeCanary(batch.model());
  RunPendingActions();
  return result;
}

absl::StatusOr<DriftMonitor::VersionState*> DriftMonitor::VersionFor(
    const v1::ObservationBatch& batch) {
  if (!models_.contains(batch.model()) &&
      static_cast<int64_t>(models_.size()) >= options_.max_models) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the drift service monitors at most ", options_.max_models,
        " models; model '", batch.model(), "' is not monitored"));
  }
  ModelState& model = GetOrCreateModel(batch.model());
  if (!model.versions.contains(batch.version()) &&
      static_cast<int>(model.versions.size()) >=
          options_.max_versions_per_model) {
    // Versions only grow: the oldest one no longer serves.
    const int64_t oldest = model.versions.begin()->first;
    if (batch.version() < oldest) {
      return absl::FailedPreconditionError(
          absl::StrCat("version ", batch.version(), " of model '",
                       batch.model(), "' is older than the ",
                       options_.max_versions_per_model, " versions tracked"));
    }
    model.canary.ForgetVersion(oldest);
    model.versions.erase(model.versions.begin());
  }
  return &model.versions[batch.version()];
}

void DriftMonitor::Apply(const v1::ObservationBatch& batch, ModelState& model,
                         VersionState& version, ObserveResult& result,
                         std::vector<v1::Alert>& alerts) {
  const bool predictions = batch.kind() != v1::OBSERVATION_KIND_OUTCOME;
  const int64_t rows = batch.num_rows();
  if (predictions) {
    result.observations = rows;
    model.observations += rows;
    version.observations += rows;
  }
  result.outcomes = batch.outcomes_size();
  if (batch.feature_dim() > 0) version.feature_dim = batch.feature_dim();
  if (options_.references != nullptr && !model.monitor.disabled()) {
    version.reference.Record(model.monitor.reference_tests(), batch,
                             options_.max_window_values,
                             options_.clock->Now());
  }
  if (model.monitor.disabled()) {
    // Counted and dropped, as drift.proto says.
    version.outcomes += batch.outcomes_size();
    return;
  }
  version.detectors.Build(model.monitor);
  FeedRows(batch, model, version, alerts);
}

void DriftMonitor::FeedRows(const v1::ObservationBatch& batch,
                            ModelState& model, VersionState& version,
                            std::vector<v1::Alert>& alerts) {
  const bool predictions = batch.kind() != v1::OBSERVATION_KIND_OUTCOME;
  const int64_t rows = batch.num_rows();
  // Outcomes in row order (stable for equal rows).
  std::vector<int> order(batch.outcomes_size());
  for (int i = 0; i < batch.outcomes_size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return batch.outcomes(a).row() < batch.outcomes(b).row();
  });
  size_t next_outcome = 0;
  const bool canary_samples = !model.monitor.canary_judgement().disabled() &&
                              options_.actions != nullptr &&
                              !batch.outcomes().empty();
  const absl::Time received =
      canary_samples ? options_.clock->Now() : absl::InfinitePast();
  // Each watched feature once per row, in detector order.
  const std::vector<int> watched = version.detectors.WatchedFeatures();
  const DetectorSet::Context context = {.model = batch.model(),
                                        .version = batch.version(),
                                        .clock = options_.clock,
                                        .metrics = options_.metrics};
  const int dim = batch.feature_dim();
  for (int64_t r = 0; r < rows; ++r) {
    if (predictions) {
      for (int f : watched) {
        version.detectors.Feed(context, v1::MONITORED_SIGNAL_FEATURE, f,
                               batch.features(static_cast<int>(r * dim + f)),
                               version.observations - rows + r, alerts);
      }
      const int row = static_cast<int>(r);
      if (batch.confidences_size() > 0 || batch.predicted_values_size() > 0) {
        const double prediction = batch.confidences_size() > 0
                                      ? batch.confidences(row)
                                      : batch.predicted_values(row);
        version.detectors.Feed(context, v1::MONITORED_SIGNAL_PREDICTION, -1,
                               prediction, version.prediction_index++, alerts);
      }
    }
    while (next_outcome < order.size() &&
           batch.outcomes(order[next_outcome]).row() == r) {
      const v1::ObservedOutcome& o = batch.outcomes(order[next_outcome]);
      ++next_outcome;
      const bool is_value = o.result_case() == v1::ObservedOutcome::kErrorValue;
      const double value = is_value ? static_cast<double>(o.error_value())
                                    : (o.correct() ? 0.0 : 1.0);
      FeedOutcome(model, batch.version(), version, is_value, value, alerts);
      if (canary_samples) {
        model.canary.AddOutcome(batch.version(), version.outcome_kind,
                                received, value);
      }
    }
  }
}

void DriftMonitor::FeedOutcome(const ModelState& model, int64_t version_id,
                               VersionState& version, bool is_error_value,
                               double value, std::vector<v1::Alert>& alerts) {
  const int64_t index = version.outcomes++;
  version.outcome_kind =
      is_error_value ? OutcomeKind::kErrorValue : OutcomeKind::kCorrect;
  // The default `error_adwin` watches whichever error stream the version's
  // outcomes carry.
  if (model.monitor.is_default() && is_error_value) {
    version.detectors.FollowErrorValues();
  }
  const absl::string_view id = core::ModelIdOf(model.monitor.name());
  version.detectors.Feed(
      {.model = id,
       .version = version_id,
       .clock = options_.clock,
       .metrics = options_.metrics},
      is_error_value ? v1::MONITORED_SIGNAL_ERROR_VALUE
                     : v1::MONITORED_SIGNAL_ERROR_RATE,
      -1, value, index, alerts);
  // Performance bounds over the sliding window.
  const v1::PerformanceThresholds& p = model.monitor.performance();
  version.performance.Add(value, static_cast<size_t>(WindowSizeOf(p)), index);
  std::optional<v1::Alert> alert = version.performance.Check(
      PerformanceBoundOf(p, version.outcome_kind,
                         version.reference.error_rate()),
      MinOutcomesOf(p),
      {.model = id,
       .version = version_id,
       .kind = version.outcome_kind,
       .index = index,
       .clock = options_.clock});
  if (alert.has_value()) alerts.push_back(*std::move(alert));
}

// ---------------------------------------------------------------------------
// Canary judgement

DriftMonitor::ModelState* DriftMonitor::JudgedModel(
    const std::string& model_id) {
  auto it = models_.find(model_id);
  if (it == models_.end()) return nullptr;
  const v1::Monitor& monitor = it->second->monitor;
  if (monitor.disabled() || monitor.canary_judgement().disabled()) {
    return nullptr;
  }
  return it->second.get();
}

void DriftMonitor::MaybeJudgeCanary(const std::string& model_id) {
  if (options_.actions == nullptr) return;  // Production unknown.
  CanaryJudge::Step step = CanaryJudge::Step::kNothing;
  {
    absl::MutexLock lock(&mu_);
    ModelState* model = JudgedModel(model_id);
    if (model == nullptr) return;
    step = model->canary.Prepare(model->monitor.canary_judgement(),
                                 options_.clock->Now());
  }
  if (step == CanaryJudge::Step::kNothing) return;
  if (step == CanaryJudge::Step::kLookUp) {
    // The registry call happens outside the lock.
    absl::StatusOr<int64_t> found =
        options_.actions->ProductionVersion(model_id);
    absl::MutexLock lock(&mu_);
    auto it = models_.find(model_id);
    if (it == models_.end()) return;
    it->second->canary.SetProduction(found.ok() ? *found : 0);
  }
  absl::MutexLock lock(&mu_);
  ModelState* judged = JudgedModel(model_id);
  if (judged == nullptr) return;
  ModelState& model = *judged;
  const v1::CanaryJudgementConfig& config = model.monitor.canary_judgement();
  std::optional<v1::Alert> alert =
      model.canary.Judge(config, model_id, options_.clock->Now());
  if (!alert.has_value()) return;
  auto canary = model.versions.find(alert->version());
  if (canary != model.versions.end()) {
    alert->set_observation_index(canary->second.outcomes - 1);
  }
  RaiseAlert(*std::move(alert));
}

// ---------------------------------------------------------------------------
// Status

absl::StatusOr<v1::GetDriftStatusResponse> DriftMonitor::GetDriftStatus(
    absl::string_view name, int64_t version_filter) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, "models/{model}");
  if (!parts.ok()) return parts.status();
  const std::string& model_id = (*parts)[0];
  if (version_filter < 0) {
    return absl::InvalidArgumentError("version must be >= 0");
  }
  absl::MutexLock lock(&mu_);
  auto it = models_.find(model_id);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "model '", model_id, "' has never been observed or configured"));
  }
  const ModelState& model = *it->second;
  if (version_filter != 0 && !model.versions.contains(version_filter)) {
    return absl::NotFoundError(absl::StrCat("model '", model_id,
                                            "' has no observations of "
                                            "version ",
                                            version_filter));
  }
  v1::GetDriftStatusResponse response;
  response.set_model(model_id);
  response.set_observations(model.observations);
  for (const auto& [id, version] : model.versions) {
    if (version_filter != 0 && id != version_filter) continue;
    version.detectors.AppendStatus(id, *response.mutable_detectors());
    v1::VersionPerformance* p = response.add_performance();
    p->set_version(id);
    p->set_observations(version.observations);
    p->set_outcomes(version.outcomes);
    if (!version.performance.empty()) {
      const double mean = version.performance.Mean();
      if (version.outcome_kind == OutcomeKind::kCorrect) p->set_error_rate(mean);
      if (version.outcome_kind == OutcomeKind::kErrorValue) {
        p->set_mean_error_value(mean);
      }
    }
    if (std::optional<double> rate = version.reference.error_rate()) {
      p->set_reference_error_rate(*rate);
    }
    p->set_reference_status(version.reference.status());
    if (version.reference.latest_run().has_value()) {
      *response.add_reference_tests() = *version.reference.latest_run();
    }
  }
  if (std::optional<absl::Time> until = dispatcher_.CooldownUntil(
          model_id, model.monitor.actions(), options_.clock->Now())) {
    *response.mutable_cooldown_until() = core::ToProto(*until);
  }
  if (const v1::Alert* acted = alerts_.LastActed(model_id)) {
    *response.mutable_last_action_alert() = *acted;
  }
  const std::optional<v1::CanaryJudgement>& judgement = model.canary.latest();
  if (judgement.has_value() &&
      (version_filter == 0 || judgement->canary_version() == version_filter ||
       judgement->stable_version() == version_filter)) {
    *response.mutable_latest_canary_judgement() = *judgement;
  }
  return response;
}

// ---------------------------------------------------------------------------
// Alerts

void DriftMonitor::RaiseAlert(v1::Alert alert) {
  v1::Alert raised = alerts_.Raise(std::move(alert));
  if (options_.metrics != nullptr) {
    options_.metrics->AddAlert(raised.model(),
                               v1::AlertType_Name(raised.type()));
  }
  // The action is decided and run after the observation batch, outside
  // the lock (it may call the registry or the trainer).
  pending_actions_.push_back(std::move(raised));
}

absl::StatusOr<v1::ListAlertsResponse> DriftMonitor::ListAlerts(
    const v1::ListAlertsRequest& request) {
  absl::StatusOr<AlertQuery> query = ParseAlertQuery(request);
  if (!query.ok()) return query.status();
  absl::MutexLock lock(&mu_);
  if (!query->model.empty() && !models_.contains(query->model)) {
    return absl::NotFoundError(absl::StrCat(
        "model '", query->model, "' has never been observed or configured"));
  }
  return alerts_.List(*query);
}

absl::StatusOr<v1::Alert> DriftMonitor::GetAlert(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  return alerts_.Get(name);
}

std::vector<v1::Alert> DriftMonitor::AlertsAfter(
    int64_t after, const std::vector<std::string>& models,
    v1::AlertSeverity min_severity, int limit, int64_t* scanned) {
  absl::MutexLock lock(&mu_);
  return alerts_.After(after, models, min_severity, limit, scanned);
}

int64_t DriftMonitor::latest_sequence() const {
  absl::MutexLock lock(&mu_);
  return alerts_.latest();
}

int64_t DriftMonitor::WaitForAlert(int64_t after, absl::Time deadline,
                                   const std::function<bool()>& cancelled) {
  return settled_alerts_.WaitAbove(after, deadline, cancelled);
}

// ---------------------------------------------------------------------------
// Actions

void DriftMonitor::StoreAlert(const v1::Alert& alert) {
  // Store errors do not stop actions: the alert stays in memory.
  if (options_.store == nullptr) return;
  if (absl::Status s = options_.store->PutAlert(alert); !s.ok()) {
    spdlog::error("drift: cannot store alert {}: {}", alert.name(),
                  s.ToString());
  }
}

void DriftMonitor::RunPendingActions() {
  std::vector<v1::Alert> work;
  {
    absl::MutexLock lock(&mu_);
    work.swap(pending_actions_);
  }
  for (v1::Alert& alert : work) {
    // Stored before the action runs, so a restart does not forget an alert
    // that was acted on (unless the store failed, which is logged).
    StoreAlert(alert);
    v1::ActionPolicy policy;
    {
      absl::MutexLock lock(&mu_);
      auto it = models_.find(alert.model());
      if (it != models_.end()) policy = it->second->monitor.actions();
    }
    *alert.mutable_action_result() = dispatcher_.Dispatch(
        alert, policy, [this](const std::string& model, int64_t version) {
          return FindRollback(model, version);
        });
    // Stored before watchers see it, so what they see survives a restart.
    StoreAlert(alert);
    int64_t settled = 0;
    {
      absl::MutexLock lock(&mu_);
      settled = alerts_.Settle(alert);
    }
    settled_alerts_.Publish(settled);
  }
}

absl::StatusOr<RollbackTarget> DriftMonitor::FindRollback(
    const std::string& model_id, int64_t version) {
  absl::MutexLock lock(&mu_);
  auto it = models_.find(model_id);
  if (it == models_.end()) {
    return absl::FailedPreconditionError("the model is no longer monitored");
  }
  const ModelState& model = *it->second;
  std::vector<VersionOutcomes> outcomes;
  for (const auto& [id, v] : model.versions) {
    outcomes.push_back(
        {.version = id,
         .kind = v.outcome_kind,
         .count = static_cast<int64_t>(v.performance.size()),
         .mean = v.performance.empty() ? 0.0 : v.performance.Mean()});
  }
  return EarlierVersionThatDidBetter(outcomes, version,
                                     MinOutcomesOf(model.monitor.performance()));
}

// ---------------------------------------------------------------------------
// Reference tests

void DriftMonitor::RunReferenceWork() {
  if (options_.references == nullptr) return;
  absl::MutexLock serial(&reference_work_mu_);
  FetchReferences();
  RunDueReferenceTests();
  RunPendingActions();
}

void DriftMonitor::FetchReferences() {
  std::vector<std::pair<std::string, int64_t>> wanted;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [model_id, model] : models_) {
      for (auto& [version_id, version] : model->versions) {
        if (version.reference.TakeFetch(now)) {
          wanted.emplace_back(model_id, version_id);
        }
      }
    }
  }
  for (const auto& [model, version] : wanted) {
    absl::StatusOr<v1::ReferenceStatistics> fetched =
        options_.references->Fetch(model, version);
    absl::StatusOr<std::shared_ptr<const PreparedReference>> prepared =
        fetched.ok() ? PreparedReference::Prepare(*fetched)
                     : absl::StatusOr<std::shared_ptr<const PreparedReference>>(
                           fetched.status());
    absl::MutexLock lock(&mu_);
    VersionState* v = FindVersion(model, version);
    if (v == nullptr) continue;
    const std::string& status =
        v->reference.FetchDone(prepared, options_.clock->Now());
    if (prepared.ok()) {
      spdlog::info("drift: reference of models/{}/versions/{} {}", model,
                   version, status);
    } else {
      spdlog::warn("drift: reference of models/{}/versions/{}: {}", model,
                   version, status);
    }
  }
}

void DriftMonitor::RunDueReferenceTests() {
  std::vector<ReferenceJob> jobs;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [model_id, model] : models_) {
      const v1::ReferenceTestConfig& c = model->monitor.reference_tests();
      if (model->monitor.disabled() || c.disabled()) continue;
      for (auto& [version_id, v] : model->versions) {
        std::optional<ReferenceJob> job = v.reference.TakeDueJob(c, now);
        if (!job.has_value()) continue;
        job->model = model_id;
        job->version = version_id;
        job->observation_index = v.observations - 1;
        jobs.push_back(*std::move(job));
      }
    }
  }
  for (ReferenceJob& job : jobs) {
    absl::StatusOr<ReferenceRun> run =
        RunReferenceJob(job, options_.clock->Now());
    if (!run.ok()) {
      spdlog::error("drift: reference tests of models/{}/versions/{}: {}",
                    job.model, job.version, run.status().ToString());
      continue;
    }
    if (options_.metrics != nullptr) {
      options_.metrics->RecordReferenceRun(job.model, run->run);
    }
    absl::MutexLock lock(&mu_);
    VersionState* v = FindVersion(job.model, job.version);
    if (v == nullptr) continue;
    for (v1::Alert& alert : v->reference.RecordRun(job, *run)) {
      RaiseAlert(std::move(alert));
    }
  }
}

}  // namespace continuum::drift_service
