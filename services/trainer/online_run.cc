#include "services/trainer/online_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/training.h"
#include "services/trainer/candidate_upload.h"
#include "services/trainer/data_scan.h"
#include "services/trainer/held_out_split.h"
#include "services/trainer/model_fetch.h"
#include "services/trainer/training_rows.h"

namespace continuum::trainer {
namespace {

using internal::v1::ModelBundle;

// One online run's work; the steps share its state.
class OnlineRun {
 public:
  OnlineRun(const TrainingExecutorOptions& options, const v1::Run& run,
            RunControl& control)
      : context_(options, run, control),
        config_(run.config()),
        online_start_(absl::Now()) {}

  RunOutcome Execute() {
    absl::StatusOr<StartingModel> start = FetchModel(context_);
    if (!start.ok()) return OnlineError(start.status());
    start_ = *std::move(start);
    if (start_.spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
      // Micro-batches of single records are not windows of series.
      return OnlineError(absl::FailedPreconditionError(absl::StrCat(
          "model ", context_.run().model(),
          " is a gru_forecaster: online runs follow records one micro-batch "
          "at a time and do not build windows of series yet; train it with "
          "batch runs (TRAINING_STRATEGY_INCREMENTAL or FULL_RETRAIN, e.g. "
          "a daily schedule)")));
    }
    if (absl::Status s = Prepare(); !s.ok()) return OnlineError(s);
    control().SetPhase(
        v1::RUN_PHASE_TRAINING,
        absl::StrCat("online: following data set ", config_.dataset(), " from ",
                     absl::FormatTime(watermark_), " in micro-batches of ",
                     micro_, " rows"));
    return Follow();
  }

 private:
  RunControl& control() { return context_.control(); }

  // Sizes, the starting watermark and the replay pool.
  absl::Status Prepare() {
    const v1::OnlineSettings& os = config_.online();
    micro_ = os.micro_batch_size() > 0 ? os.micro_batch_size() : 1000;
    every_n_ =
        os.publish_every_updates() > 0 ? os.publish_every_updates() : 100;
    every_t_ = os.has_publish_every() ? core::FromProto(os.publish_every())
                                      : absl::Minutes(15);
    format_ =
        RowFormat::For(start_.spec, start_.schema, /*anomaly_labels=*/false);
    const int64_t budget_rows =
        format_.RowsInBudget(config_.resources().memory_budget_bytes());
    pending_cap_ = std::max<int64_t>(micro_, budget_rows / 2);
    holdout_cap_ = std::clamp<int64_t>(budget_rows / 8, 1, 10000);
    recent_cap_ = std::clamp<int64_t>(budget_rows / 8, 1, 10000);
    rng_.seed(config_.seed());
    pending_.input_dim = format_.input_dim;
    pending_.target_width = format_.TargetWidth();

    const v1::TimeWindow& window = context_.run().data_window();
    watermark_ = window.has_start_time()
                     ? core::FromProto(window.start_time())
                     : context_.Now() - core::FromProto(config_.window());
    covered_ = watermark_;
    *data_window_.mutable_start_time() = core::ToProto(watermark_);
    *data_window_.mutable_end_time() = core::ToProto(watermark_);
    const v1::TimeWindow nothing_yet = data_window_;
    control().Update(
        [&](v1::Run* run) { *run->mutable_data_window() = nothing_yet; });
    last_publish_ = context_.Now();
    return LoadReplayPool(budget_rows / 4);
  }

  // Reads the replay pool mixed into every update (at most `cap` rows).
  // With a production version, the same sample also gives the retention
  // set: rows held out with a margin (IsHeldOut at half the fraction), as
  // an incremental run's (batch_run.h); every buffered row predates the
  // run.
  absl::Status LoadReplayPool(int64_t cap) {
    const double r = config_.guards().replay_ratio();
    const double fraction = config_.holdout_fraction() > 0
                                ? config_.holdout_fraction()
                                : kDefaultHoldoutFraction;
    int64_t replay_want = 0;
    if (r > 0) {
      const int64_t per_update = static_cast<int64_t>(
          std::ceil(static_cast<double>(micro_) * r / (1 - r)));
      replay_want = 20 * per_update;
    }
    RetentionSplit retention;
    if (!start_.cold_start) {
      retention.rows = config_.retention_rows() > 0 ? config_.retention_rows()
                                                    : kDefaultRetentionRows;
    }
    retention.min_rows = kMinRetentionRows;
    const uint64_t seed = config_.seed();
    retention.eligible = [seed, fraction](uint64_t key) {
      return IsHeldOut(key, seed, fraction / 2);
    };
    const int64_t want = std::min<int64_t>(
        cap, replay_want + static_cast<int64_t>(std::ceil(
                               static_cast<double>(retention.rows) /
                               (fraction / 2))));
    if (want <= 0) return absl::OkStatus();
    absl::StatusOr<ReplaySample> sample =
        SampleReplay(context_, format_, want,
                     [this](uint64_t key) { return HeldOut(key); }, retention);
    if (!sample.ok()) return sample.status();
    retention_ = std::move(sample->retention);
    if (retention.rows > 0 && retention_.size() == 0) {
      notes_.push_back(absl::StrCat(
          "retention: the replay sample held ", sample->retention_found,
          " held-out rows (at least ", kMinRetentionRows,
          " needed); no retention set is evaluated"));
    }
    if (replay_want <= 0) return absl::OkStatus();
    replay_ = std::move(sample->rows);
    KeepFirstRows(replay_want, &replay_);
    has_replay_ = replay_.size() > 0;
    if (!has_replay_) {
      notes_.push_back("replay: the collector's replay buffer gave no rows");
    }
    return absl::OkStatus();
  }

  bool HeldOut(uint64_t key) const {
    return IsHeldOut(key, config_.seed(), config_.holdout_fraction());
  }

  // The TRAINING loop: poll, train, publish, wait; until the run stops.
  RunOutcome Follow() {
    while (true) {
      if (context_.Stop()) return EndOnline();
      const absl::Time now = context_.Now();
      if (now > watermark_) {
        absl::Status s = Poll(now);
        if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
          // The collector may come back: poll the same window again.
          spdlog::warn("trainer: {}: online poll failed, retrying: {}",
                       context_.run().name(), s.ToString());
          Wait(context_.options().online_poll_interval);
          continue;
        }
        if (!s.ok()) return OnlineError(s);
      }
      bool trained = false;
      while (pending_.size() >= micro_) {
        if (context_.Stop()) return EndOnline();
        if (absl::Status s = TrainMicroBatch(); !s.ok()) return OnlineError(s);
        trained = true;
        if (updates_since_publish_ >= every_n_ && holdout_.size() > 0) {
          if (std::optional<RunOutcome> end = Publish(); end.has_value()) {
            return *end;
          }
        }
      }
      if (updates_since_publish_ > 0 && holdout_.size() > 0 &&
          context_.Now() - last_publish_ >= every_t_) {
        if (std::optional<RunOutcome> end = Publish(); end.has_value()) {
          return *end;
        }
      }
      if (!trained) Wait(context_.options().online_poll_interval);
    }
  }

  // Reads [watermark_, now) into the pending rows; the watermark moves to
  // `now`.
  absl::Status Poll(absl::Time now) {
    v1::ScanRequest scan;
    scan.set_dataset(config_.dataset());
    *scan.mutable_window()->mutable_start_time() = core::ToProto(watermark_);
    *scan.mutable_window()->mutable_end_time() = core::ToProto(now);
    scan.set_only_labeled(format_.OnlyLabeled());
    scan.set_batch_size(context_.options().scan_batch_rows);
    ScanOptions options;
    options.cap = std::max<int64_t>(0, pending_cap_ - pending_.size());
    options.what = "new records";
    // Keeps the updates and loss; only long polls report.
    options.progress = [this](int64_t rows) {
      v1::RunProgress p = OnlineProgress();
      p.set_message(
          absl::StrCat(p.message(), "; reading new records: ", rows, " rows"));
      return p;
    };
    options.progress_at_first_batch = false;
    Rows got;
    bool cut = false;
    if (absl::Status s = ScanRows(context_, scan, format_, options, &got, &cut);
        !s.ok()) {
      return s;
    }
    if (cut && !cut_noted_) {
      cut_noted_ = true;
      notes_.push_back(absl::StrCat(
          "memory budget: a poll of the collector was cut at ", pending_cap_,
          " pending rows; the rest of its window was not trained on"));
    }
    if (got.size() > 0) {
      pending_.Append(got);
      polls_.emplace_back(watermark_, got.size());
    }
    watermark_ = now;
    if (polls_.empty()) covered_ = watermark_;
    return absl::OkStatus();
  }

  // Drops the first `n` pending rows, moving `covered_`.
  void ConsumePending(int64_t n) {
    pending_.EraseFront(n);
    while (n > 0 && !polls_.empty()) {
      const int64_t take = std::min(n, polls_.front().second);
      polls_.front().second -= take;
      n -= take;
      if (polls_.front().second == 0) polls_.pop_front();
    }
    covered_ = polls_.empty() ? watermark_ : polls_.front().first;
  }

  // A fresh updater from the last accepted weights; a cold start first
  // fits its normalisation to the finite rows at hand.
  absl::Status StartUpdater() {
    if (start_.cold_start && !normalization_fitted_) {
      std::vector<int64_t> finite;
      for (int64_t i = 0; i < pending_.size(); ++i) {
        if (pending_.Finite(i)) finite.push_back(i);
      }
      FitColdStartNormalization(pending_.ToDataset(finite), &start_);
      normalization_fitted_ = true;
    }
    absl::StatusOr<std::unique_ptr<model::OnlineUpdater>> updater =
        model::OnlineUpdater::Create(start_.bundle, config_);
    if (!updater.ok()) {
      return absl::Status(updater.status().code(),
                          absl::StrCat("online: ", updater.status().message()));
    }
    updater_ = *std::move(updater);
    return absl::OkStatus();
  }

  // Trains on the first micro-batch of the pending rows.
  absl::Status TrainMicroBatch() {
    if (updater_ == nullptr) {
      if (absl::Status s = StartUpdater(); !s.ok()) return s;
    }
    const int64_t n = micro_;
    bool finite = true;
    std::vector<int64_t> train_idx, holdout_idx;
    for (int64_t i = 0; i < n; ++i) {
      finite = finite && pending_.Finite(i);
      (HeldOut(pending_.keys[i]) ? holdout_idx : train_idx).push_back(i);
    }
    const model::Dataset train = pending_.ToDataset(train_idx);
    const model::Dataset held = pending_.ToDataset(holdout_idx);
    ConsumePending(n);
    if (!finite) {
      ++skipped_batches_;
      ReportOnlineProgress();
      return absl::OkStatus();
    }
    AppendRecent(held, format_.TargetWidth(), holdout_cap_, &holdout_);
    if (train.size() == 0) return absl::OkStatus();
    return ApplyUpdate(train);
  }

  // One optimizer step on `train` and its share of replay rows.
  absl::Status ApplyUpdate(const model::Dataset& train) {
    const int width = format_.TargetWidth();
    const int64_t train_rows = train.size();
    model::Dataset batch = train;
    int64_t replayed = 0;
    if (has_replay_) {
      const double r = config_.guards().replay_ratio();
      const int64_t k = static_cast<int64_t>(
          std::llround(static_cast<double>(train_rows) * r / (1 - r)));
      std::uniform_int_distribution<int64_t> pick(0, replay_.size() - 1);
      std::vector<int64_t> idx;
      for (int64_t i = 0; i < k; ++i) idx.push_back(pick(rng_));
      AppendRows(replay_, width, idx, &batch);
      replayed = k;
    }
    absl::StatusOr<double> loss = updater_->Update(batch);
    if (!loss.ok()) {
      if (!absl::IsInvalidArgument(loss.status())) {
        return absl::Status(
            loss.status().code(),
            absl::StrCat("online update: ", loss.status().message()));
      }
      // A non-finite loss or gradient: the model is unchanged.
      ++skipped_batches_;
      ReportOnlineProgress();
      return absl::OkStatus();
    }
    ++total_updates_;
    ++updates_since_publish_;
    online_train_rows_ += train_rows;
    online_replay_rows_ += replayed;
    loss_ema_ = total_updates_ == 1 ? *loss : 0.9 * loss_ema_ + 0.1 * *loss;
    AppendRecent(train, width, recent_cap_, &recent_);
    ReportOnlineProgress();
    return absl::OkStatus();
  }

  void ReportOnlineProgress() { control().Progress(OnlineProgress()); }

  v1::RunProgress OnlineProgress() const {
    v1::RunProgress p;
    p.set_phase(v1::RUN_PHASE_TRAINING);
    p.set_step(total_updates_);
    p.set_loss(loss_ema_);
    const double seconds = absl::ToDoubleSeconds(absl::Now() - online_start_);
    if (seconds > 0) {
      p.set_samples_per_second(
          static_cast<double>(online_train_rows_ + online_replay_rows_) /
          seconds);
    }
    p.set_samples_done(online_train_rows_);
    *p.mutable_time() = core::ToProto(context_.Now());
    p.set_message(OnlineMessage());
    return p;
  }

  std::string OnlineMessage() const {
    return absl::StrCat(
        "online: ", total_updates_, " updates (", skipped_batches_,
        " micro-batches skipped), ", online_train_rows_, " rows, ", published_,
        " candidates published, loss ", absl::SixDigits(loss_ema_));
  }

  // ----------------------------------------------------------- candidates

  // Builds, evaluates and uploads a candidate from the current weights. An
  // outcome when the run must end.
  std::optional<RunOutcome> Publish() {
    control().SetPhase(v1::RUN_PHASE_EVALUATING,
                       absl::StrCat("online: evaluating the candidate after ",
                                    total_updates_, " updates"));
    absl::StatusOr<Candidate> candidate = BuildCandidate();
    if (!candidate.ok()) return OnlineError(candidate.status());
    RecordOnlineCounts();
    *data_window_.mutable_end_time() = core::ToProto(covered_);
    candidate->data_window = data_window_;
    absl::StatusOr<SerializedCandidate> bytes =
        FinalizeCandidate(context_, &*candidate);
    if (!bytes.ok()) return OnlineError(bytes.status());
    const UploadResult upload = UploadCandidate(context_, *candidate, *bytes);
    if (upload.outcome.state != v1::RUN_STATE_SUCCEEDED &&
        upload.outcome.state != v1::RUN_STATE_REJECTED) {
      return upload.outcome;
    }
    return Decide(*std::move(candidate), upload);
  }

  // The current weights as a candidate, evaluated, its report recorded.
  absl::StatusOr<Candidate> BuildCandidate() {
    Candidate c;
    absl::StatusOr<ModelBundle> bundle = updater_->ExportBundle();
    if (!bundle.ok()) return bundle.status();
    c.bundle = *std::move(bundle);
    std::vector<std::string> notes = notes_;
    if (skipped_batches_ > 0) {
      notes.push_back(absl::StrCat(skipped_batches_,
                                   " micro-batches were skipped (non-finite "
                                   "values, loss or gradient)"));
    }
    Recalibrate(&c.bundle, &notes);
    absl::StatusOr<v1::Metrics> metrics =
        EvaluateOn(c.bundle, holdout_, "the candidate", "held_out");
    if (!metrics.ok()) return metrics.status();
    *c.bundle.mutable_manifest()->mutable_metrics() = *metrics;
    SetHyperparameters(c.bundle.mutable_manifest());

    v1::Evaluation* held_out = c.report.add_evaluations();
    held_out->set_evaluation_set("held_out");
    *held_out->mutable_candidate() = *metrics;
    if (start_.version > 0) {
      absl::StatusOr<v1::Metrics> baseline =
          EvaluateOn(start_.bundle, holdout_,
                     absl::StrCat("version ", start_.version), "held_out");
      if (!baseline.ok()) return baseline.status();
      *held_out->mutable_baseline() = *baseline;
      held_out->mutable_baseline_version()->set_model(context_.run().model());
      held_out->mutable_baseline_version()->set_version(start_.version);
    }
    if (start_.version > 0 && retention_.size() > 0) {
      if (absl::Status s = AddRetention(c.bundle, &c.report); !s.ok()) {
        return s;
      }
    }
    RecordReport(context_, notes, &c.report);
    c.holdout_metrics = *metrics;
    c.parent_version = start_.version;
    c.cold_start = start_.cold_start;
    c.train_records = online_train_rows_;
    c.replay_records = online_replay_rows_;
    c.holdout_records = holdout_.size();
    c.online_updates = total_updates_;
    return c;
  }

  // The candidate and the version it descends from on the retention rows.
  absl::Status AddRetention(const ModelBundle& candidate,
                            v1::ValidationReport* report) {
    v1::Evaluation* e = report->add_evaluations();
    e->set_evaluation_set("retention");
    absl::StatusOr<v1::Metrics> c =
        EvaluateOn(candidate, retention_, "the candidate", "retention");
    if (!c.ok()) return c.status();
    absl::StatusOr<v1::Metrics> b =
        EvaluateOn(start_.bundle, retention_,
                   absl::StrCat("version ", start_.version), "retention");
    if (!b.ok()) return b.status();
    *e->mutable_candidate() = *c;
    *e->mutable_baseline() = *b;
    e->mutable_baseline_version()->set_model(context_.run().model());
    e->mutable_baseline_version()->set_version(start_.version);
    return absl::OkStatus();
  }

  // The Fisher diagonal on the recent training rows and an autoencoder's
  // threshold on the held-out rows; a note for what could not be computed.
  void Recalibrate(ModelBundle* bundle, std::vector<std::string>* notes) {
    if (recent_.size() > 0) {
      if (absl::Status s = model::UpdateFisherDiagonal(recent_, bundle);
          !s.ok()) {
        notes->push_back(absl::StrCat("fisher: not recomputed: ", s.message()));
      }
    }
    if (model::TaskFamily(start_.spec) != v1::MODEL_FAMILY_AUTOENCODER) {
      return;
    }
    absl::StatusOr<std::unique_ptr<model::Model>> m =
        model::Model::FromBundle(*bundle);
    absl::StatusOr<float> threshold =
        m.ok() ? model::CalibrateAnomalyThreshold(
                     **m, holdout_, config_.target_false_positive_rate())
               : absl::StatusOr<float>(m.status());
    if (!threshold.ok()) {
      notes->push_back(absl::StrCat("threshold: not recalibrated: ",
                                    threshold.status().message()));
      return;
    }
    v1::ArtifactManifest* mf = bundle->mutable_manifest();
    mf->mutable_thresholds()->set_anomaly_threshold(*threshold);
    mf->mutable_thresholds()->set_target_false_positive_rate(
        config_.target_false_positive_rate());
  }

  void SetHyperparameters(v1::ArtifactManifest* manifest) const {
    auto& h = *manifest->mutable_hyperparameters();
    h["strategy"] = v1::TrainingStrategy_Name(config_.strategy());
    h["optimizer"] = v1::Optimizer_Name(config_.optimizer().optimizer());
    h["learning_rate"] = absl::StrCat(config_.optimizer().learning_rate());
    h["micro_batch_size"] = absl::StrCat(micro_);
    h["updates"] = absl::StrCat(total_updates_);
    h["replay_ratio"] = absl::StrCat(config_.guards().replay_ratio());
    h["ewc_lambda"] = absl::StrCat(config_.guards().ewc_lambda());
    h["seed"] = absl::StrCat(config_.seed());
  }

  // The registry decided on `candidate`: an approved one becomes the
  // parent; after a rejected one the run goes on from the last accepted
  // weights. An outcome when the circuit breaker stops the run.
  std::optional<RunOutcome> Decide(Candidate candidate,
                                   const UploadResult& upload) {
    ++published_;
    updates_since_publish_ = 0;
    last_publish_ = context_.Now();
    const bool approved = upload.outcome.state == v1::RUN_STATE_SUCCEEDED;
    std::string detail;
    if (approved) {
      start_.bundle = std::move(candidate.bundle);
      start_.version = upload.version;
      start_.cold_start = false;  // Later candidates descend from it.
      last_rejection_ = absl::OkStatus();
      const v1::TimeWindow window = data_window_;
      control().Update(
          [&](v1::Run* run) { *run->mutable_data_window() = window; });
      detail = absl::StrCat("candidate version ", upload.version, " approved");
    } else {
      updater_.reset();
      last_rejection_ = upload.outcome.error;
      detail = std::string(upload.outcome.error.message());
    }
    const bool go_on = control().CandidateDecided(approved, detail);
    control().SetPhase(v1::RUN_PHASE_TRAINING, OnlineMessage());
    if (go_on) return std::nullopt;
    RecordOnlineCounts();
    return RunOutcome{
        v1::RUN_STATE_REJECTED,
        absl::FailedPreconditionError(absl::StrCat(
            "the circuit breaker of model ", context_.run().model(),
            " is open; the online run stopped after candidate version ",
            upload.version, " (", detail, ")"))};
  }

  // --------------------------------------------------------------- ending

  // How the run ends when told to stop by `s` (or fails).
  RunOutcome OnlineError(const absl::Status& s) {
    if (absl::IsCancelled(s) &&
        (context_.timed_out() || control().cancelled())) {
      return EndOnline();
    }
    return {v1::RUN_STATE_FAILED, s};
  }

  RunOutcome EndOnline() {
    RecordOnlineCounts();
    if (control().cancelled()) {
      return {v1::RUN_STATE_CANCELLED, absl::CancelledError("cancelled")};
    }
    if (!last_rejection_.ok()) {
      return {v1::RUN_STATE_REJECTED, last_rejection_};
    }
    return {v1::RUN_STATE_SUCCEEDED, {}};
  }

  void RecordOnlineCounts() {
    const int64_t train = online_train_rows_, replay = online_replay_rows_,
                  holdout = holdout_.size();
    control().Update([&](v1::Run* run) {
      run->set_train_records(train);
      run->set_replay_records(replay);
      run->set_holdout_records(holdout);
    });
  }

  // Waits about `d` of the clock for new records (see
  // TrainingExecutorOptions::online_wait).
  void Wait(absl::Duration d) {
    if (context_.options().online_wait) {
      context_.options().online_wait(d);
      return;
    }
    const absl::Time until = context_.Now() + d;
    while (!control().cancelled()) {
      const absl::Duration left = until - context_.Now();
      if (left <= absl::ZeroDuration()) break;
      absl::SleepFor(std::min(left, absl::Milliseconds(100)));
    }
  }

  RunContext context_;
  const v1::TrainingConfig& config_;
  const absl::Time online_start_;  // real time, for throughput
  // The last accepted version (or the cold start) and its data set.
  StartingModel start_;
  bool normalization_fitted_ = false;
  std::unique_ptr<model::OnlineUpdater> updater_;
  std::mt19937_64 rng_;

  RowFormat format_;
  int64_t micro_ = 1000;
  int64_t every_n_ = 100;
  absl::Duration every_t_ = absl::Minutes(15);
  int64_t pending_cap_ = 1000;
  int64_t holdout_cap_ = 10000;  // holdout_: the most recent held-out rows
  int64_t recent_cap_ = 10000;
  model::Dataset holdout_;
  model::Dataset recent_;  // the most recent training rows (Fisher)
  model::Dataset replay_;
  // Older held-out rows, evaluated against production (empty: none).
  model::Dataset retention_;
  bool has_replay_ = false;
  Rows pending_;  // read, not yet trained on
  // The polls whose rows are pending: window start, rows left.
  std::deque<std::pair<absl::Time, int64_t>> polls_;
  absl::Time watermark_;  // polled up to here
  absl::Time covered_;    // every row before it trained on or held out
  bool cut_noted_ = false;
  // [start, end of the rows the last approved candidate trained on).
  v1::TimeWindow data_window_;
  std::vector<std::string> notes_;

  int64_t total_updates_ = 0;
  int64_t updates_since_publish_ = 0;
  int64_t skipped_batches_ = 0;
  int64_t online_train_rows_ = 0;
  int64_t online_replay_rows_ = 0;
  double loss_ema_ = 0;
  int64_t published_ = 0;
  absl::Time last_publish_;
  absl::Status last_rejection_;
};

}  // namespace

RunOutcome RunOnline(const TrainingExecutorOptions& options, const v1::Run& run,
                     RunControl& control) {
  OnlineRun online(options, run, control);
  return online.Execute();
}

}  // namespace continuum::trainer
