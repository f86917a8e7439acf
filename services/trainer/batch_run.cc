#include "services/trainer/batch_run.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "lib/model/training.h"
#include "services/trainer/candidate_upload.h"
#include "services/trainer/federated_run.h"
#include "services/trainer/data_scan.h"
#include "services/trainer/forecast_data.h"
#include "services/trainer/held_out_split.h"
#include "services/trainer/model_fetch.h"
#include "services/trainer/training_rows.h"

namespace continuum::trainer {
namespace {


std::string FormatWindow(const v1::TimeWindow& w) {
  return absl::StrCat(
      "[",
      w.has_start_time() ? absl::FormatTime(core::FromProto(w.start_time()))
                         : "-inf",
      ", ",
      w.has_end_time() ? absl::FormatTime(core::FromProto(w.end_time()))
                       : "now",
      ")");
}

// One batch run's work; the phases share its state.
class BatchRun {
 public:
  BatchRun(const TrainingExecutorOptions& options, const v1::Run& run,
           RunControl& control)
      : context_(options, run, control), config_(run.config()) {}

  RunOutcome Execute() {
    const absl::Time fetch_start = context_.Now();
    absl::StatusOr<StartingModel> start = FetchModel(context_);
    if (!start.ok()) return context_.Ended(start.status());
    start_ = *std::move(start);
    // A site's phases (federated.proto, ParticipantTimings).
    const absl::Time train_start = context_.Now();
    download_time_ = train_start - fetch_start;
    // A federated site's local run (federated_run.h): train, then submit
    // local - base to the coordinator instead of uploading.
    const bool site = context_.run().trigger() == v1::RUN_TRIGGER_FEDERATED &&
                      context_.options().federated_submit != nullptr;
    absl::Status s = site ? PrepareSiteRound() : absl::OkStatus();
    if (s.ok()) s = FetchData();
    if (s.ok()) s = Train();
    local_training_time_ = context_.Now() - train_start;
    if (site) {
      if (s.ok()) s = SubmitSiteUpdate();
      if (!s.ok()) return context_.Ended(s);
      RunOutcome done;
      done.state = v1::RUN_STATE_SUCCEEDED;
      return done;
    }
    if (s.ok()) s = Evaluate();
    if (!s.ok()) return context_.Ended(s);
    candidate_.data_window = context_.run().data_window();
    candidate_.parent_version = start_.version;
    candidate_.cold_start = start_.cold_start;
    candidate_.train_records = train_.size();
    candidate_.replay_records = has_replay_ ? replay_.size() : 0;
    candidate_.holdout_records = holdout_.size();
    absl::StatusOr<SerializedCandidate> bytes =
        FinalizeCandidate(context_, &candidate_);
    if (!bytes.ok()) return context_.Ended(bytes.status());
    return UploadCandidate(context_, candidate_, *bytes).outcome;
  }

 private:
  RunControl& control() { return context_.control(); }

  // ------------------------------------------------------ FEDERATED SITE

  // The round this local run trains for: its base must be the version
  // fetched; FedProx's proximal term is EWC against the base with a
  // Fisher diagonal of ones (the run's ewc_lambda is mu, set by the site
  // worker's trigger).
  absl::Status PrepareSiteRound() {
    absl::StatusOr<v1::Round> round =
        context_.options().federated_site_round(context_.run().round());
    if (!round.ok()) return round.status();
    if (round->base_version().version() != start_.version) {
      return absl::FailedPreconditionError(absl::StrCat(
          context_.run().round(), " trains from version ",
          round->base_version().version(), "; production is now version ",
          start_.version, ", so this site cannot take part in the round"));
    }
    if (round->config().aggregation() == v1::AGGREGATION_FEDPROX) {
      start_.bundle.clear_fisher();
      for (const internal::v1::NamedTensor& w : start_.bundle.weights()) {
        internal::v1::NamedTensor* f = start_.bundle.add_fisher();
        f->set_name(w.name());
        *f->mutable_tensor()->mutable_shape() = w.tensor().shape();
        f->mutable_tensor()->mutable_data()->Resize(w.tensor().data_size(),
                                                    1.0f);
      }
    }
    site_round_ = *std::move(round);
    return absl::OkStatus();
  }

  absl::Status SubmitSiteUpdate() {
    // UPLOADING: a cancel no longer interrupts the submission.
    if (absl::Status s = control().BeginUpload(); !s.ok()) return s;
    absl::StatusOr<std::vector<float>> base =
        FlattenParameters(start_.bundle);
    absl::StatusOr<std::vector<float>> local =
        FlattenParameters(candidate_.bundle);
    if (!base.ok()) return base.status();
    if (!local.ok()) return local.status();
    FederatedSiteUpdate update;
    update.round = context_.run().round();
    update.base_version.set_model(context_.run().model());
    update.base_version.set_version(start_.version);
    update.update.resize(base->size());
    for (size_t i = 0; i < base->size(); ++i) {
      update.update[i] = (*local)[i] - (*base)[i];
    }
    update.samples = train_.size();
    update.local_metrics = candidate_.holdout_metrics;
    update.download_time = download_time_;
    update.local_training_time = local_training_time_;
    control().Update([&](v1::Run* run) {
      *run->mutable_candidate_metrics() = candidate_.holdout_metrics;
    });
    if (absl::Status s = context_.options().federated_submit(update);
        !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("submitting the update: ",
                                                 s.message()));
    }
    return absl::OkStatus();
  }

  // ------------------------------------------------------- FETCHING_DATA

  absl::Status FetchData() {
    control().SetPhase(v1::RUN_PHASE_FETCHING_DATA,
                       absl::StrCat("fetching the window ",
                                    FormatWindow(context_.run().data_window()),
                                    " of data set ", config_.dataset()));
    if (Forecaster()) return FetchSeries();
    const RowFormat format =
        RowFormat::For(start_.spec, start_.schema, /*anomaly_labels=*/false);
    int64_t rows_left =
        format.RowsInBudget(config_.resources().memory_budget_bytes());
    WindowKeys keys;
    {
      Rows window;
      if (absl::Status s = ScanWindow(format, rows_left, &window); !s.ok()) {
        return s;
      }
      rows_left -= window.size();
      keys = SplitWindow(window);
    }
    if (absl::Status s = FetchReplay(format, keys, &rows_left); !s.ok()) {
      return s;
    }
    if (absl::Status s = FetchGolden(rows_left); !s.ok()) return s;
    if (start_.cold_start) FitColdStartNormalization(train_, &start_);
    control().Update([&](v1::Run* run) {
      run->set_train_records(train_.size());
      run->set_replay_records(has_replay_ ? replay_.size() : 0);
      run->set_holdout_records(holdout_.size());
      run->set_golden_records(has_golden_ ? golden_.size() : 0);
      run->set_retention_records(retention_.size());
    });
    return absl::OkStatus();
  }

  bool Forecaster() const {
    return start_.spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER;
  }

  // A forecaster's window: the steps of its series, windows of consecutive
  // steps held out by time (forecast_data.h). No replay, golden or
  // retention set: they hold single records, not series.
  absl::Status FetchSeries() {
    const int step_dim = start_.spec.input_dim();
    const int64_t cap = std::max<int64_t>(
        1, config_.resources().memory_budget_bytes() /
               (4 * static_cast<int64_t>(step_dim) *
                    (1 + model::ResolveSpec(start_.spec).sequence_length()) +
                64));
    v1::ScanRequest scan;
    scan.set_dataset(config_.dataset());
    *scan.mutable_window() = context_.run().data_window();
    scan.set_include_attributes(true);
    scan.set_batch_size(context_.options().scan_batch_rows);
    SeriesSteps steps;
    bool cut = false;
    if (absl::Status s = ScanBatches(
            context_, scan, FetchOptions(cap, "the window"),
            [&](const v1::RecordBatch& batch) {
              return AppendSeriesBatch(batch, step_dim, cap, &steps);
            },
            [&] { return steps.steps; }, &cut);
        !s.ok()) {
      return s;
    }
    if (cut) {
      notes_.push_back(absl::StrCat(
          "memory budget: the window was cut at ", steps.steps,
          " steps (resources.memory_budget_bytes ",
          config_.resources().memory_budget_bytes(), ")"));
    }
    const double fraction = config_.holdout_fraction() > 0
                                ? config_.holdout_fraction()
                                : kDefaultHoldoutFraction;
    absl::StatusOr<ForecastData> data = BuildForecastData(
        std::move(steps), model::ResolveSpec(start_.spec), fraction);
    if (!data.ok()) return data.status();
    forecast_ = *std::move(data);
    if (forecast_.train.data.size() < kMinWindowRows ||
        forecast_.holdout.data.size() == 0) {
      return SkippedError(absl::StrCat(
          "the window ", FormatWindow(context_.run().data_window()),
          " of data set ", config_.dataset(), " gives ",
          forecast_.train.data.size(), " training and ",
          forecast_.holdout.data.size(),
          " held-out windows of consecutive steps (", forecast_.series.size(),
          " series, ", forecast_.skipped,
          " windows skipped at gaps); a run needs at least ", kMinWindowRows,
          " and 1. Give a longer window (continuumctl trainer trigger MODEL "
          "--from=TIME)"));
    }
    train_ = forecast_.train.data;
    holdout_ = forecast_.holdout.data;
    notes_.push_back(absl::StrCat(
        "forecaster: ", forecast_.series.size(), " series, a step of ",
        absl::FormatDuration(absl::Microseconds(forecast_.step)),
        ", seasonal-naive season ", forecast_.season, " steps; ",
        train_.size(), " training and ", holdout_.size(),
        " held-out windows (held out by time, from ",
        absl::FormatTime(absl::FromUnixMicros(forecast_.cutoff)), "), ",
        forecast_.skipped,
        " skipped at gaps; replay, golden and retention sets are not used "
        "for forecasters"));
    if (start_.cold_start) FitColdStartNormalization(train_, &start_);
    control().Update([&](v1::Run* run) {
      run->set_train_records(train_.size());
      run->set_holdout_records(holdout_.size());
    });
    return absl::OkStatus();
  }

  // Reading `what`, reported as FETCHING_DATA progress.
  ScanOptions FetchOptions(int64_t cap, const std::string& what) const {
    ScanOptions options;
    options.cap = cap;
    options.what = what;
    options.progress = [what](int64_t rows) {
      v1::RunProgress p;
      p.set_phase(v1::RUN_PHASE_FETCHING_DATA);
      p.set_samples_done(rows);
      p.set_message(absl::StrCat("fetching ", what, ": ", rows, " rows"));
      return p;
    };
    return options;
  }

  absl::Status ScanWindow(const RowFormat& format, int64_t cap, Rows* rows) {
    v1::ScanRequest scan;
    scan.set_dataset(config_.dataset());
    *scan.mutable_window() = context_.run().data_window();
    scan.set_only_labeled(format.OnlyLabeled());
    scan.set_batch_size(context_.options().scan_batch_rows);
    bool truncated = false;
    if (absl::Status s =
            ScanRows(context_, scan, format, FetchOptions(cap, "the window"),
                     rows, &truncated);
        !s.ok()) {
      return s;
    }
    if (truncated) {
      notes_.push_back(
          absl::StrCat("memory budget: the window was cut at ", rows->size(),
                       " rows (resources.memory_budget_bytes ",
                       config_.resources().memory_budget_bytes(),
                       "); later rows of the window were not trained on"));
    }
    if (rows->skipped > 0) {
      notes_.push_back(absl::StrCat(rows->skipped,
                                    " rows of the window had no usable label "
                                    "and were left out"));
    }
    if (rows->size() < kMinWindowRows) {
      // A second run right after the first finds nothing new: say why, and
      // how to train on older records anyway.
      const bool incremental =
          context_.run().strategy() != v1::TRAINING_STRATEGY_FULL_RETRAIN;
      return SkippedError(absl::StrCat(
          "the window ", FormatWindow(context_.run().data_window()),
          " of data set ", config_.dataset(), " holds ", rows->size(),
          format.OnlyLabeled() ? " labelled" : "",
          " records; a run needs at least ", kMinWindowRows,
          incremental
              ? ". An incremental run's window starts where the last "
                "successful run's ended (it trains on new records); to "
                "train on older ones, give the window: continuumctl trainer "
                "trigger MODEL --from=TIME [--to=TIME] "
                "(TriggerRunRequest.data_window)"
              : ""));
    }
    return absl::OkStatus();
  }

  // The keys of the window's rows, and of those held out.
  struct WindowKeys {
    std::unordered_set<uint64_t> all, held_out;
  };

  // Splits the window into train_ and holdout_.
  WindowKeys SplitWindow(const Rows& window) {
    const HeldOutSplit split =
        SplitHeldOut(window.keys, config_.seed(), config_.holdout_fraction());
    holdout_ = window.ToDataset(split.held_out);
    train_ = window.ToDataset(split.train);
    WindowKeys keys;
    keys.all.insert(window.keys.begin(), window.keys.end());
    for (int64_t i : split.held_out) keys.held_out.insert(window.keys[i]);
    return keys;
  }

  // Rows of the retention set to sample: an incremental run from a
  // production version without a golden set.
  int64_t RetentionWanted() const {
    if (start_.cold_start || !config_.golden_dataset().empty() ||
        config_.strategy() == v1::TRAINING_STRATEGY_FULL_RETRAIN) {
      return 0;
    }
    return config_.retention_rows() > 0 ? config_.retention_rows()
                                        : kDefaultRetentionRows;
  }

  // The replay rows (replay_) and the retention set (retention_), both from
  // one sample of the replay buffer.
  absl::Status FetchReplay(const RowFormat& format, const WindowKeys& keys,
                           int64_t* rows_left) {
    const double r = config_.guards().replay_ratio();
    int64_t replay_want = 0;
    if (config_.strategy() != v1::TRAINING_STRATEGY_FULL_RETRAIN && r > 0) {
      replay_want = static_cast<int64_t>(
          std::ceil(static_cast<double>(train_.size()) * r / (1 - r)));
    }
    // Rows held out under the run's seed are never replayed, in any run
    // with that seed; the retention rows are those held out with a margin
    // (a score below half the fraction: held out by any window's split of
    // a hundred rows or more), from outside the window. So with a fixed
    // seed, neither production nor the candidate trained on them.
    const uint64_t seed = config_.seed();
    const double fraction = config_.holdout_fraction() > 0
                                ? config_.holdout_fraction()
                                : kDefaultHoldoutFraction;
    RetentionSplit retention;
    retention.rows = RetentionWanted();
    retention.min_rows = kMinRetentionRows;
    retention.eligible = [&](uint64_t key) {
      return keys.all.count(key) == 0 && IsHeldOut(key, seed, fraction / 2);
    };
    int64_t want = replay_want;
    if (retention.rows > 0) {
      // Enough rows for `retention.rows` eligible ones (about fraction / 2
      // of the sample), as far as the buffer holds them.
      want += static_cast<int64_t>(
          std::ceil(static_cast<double>(retention.rows) / (fraction / 2)));
    }
    if (want > *rows_left) {
      notes_.push_back(absl::StrCat("memory budget: replay and retention "
                                    "sample cut from ",
                                    want, " to ", *rows_left, " rows"));
      want = *rows_left;
    }
    if (want <= 0) return absl::OkStatus();
    absl::StatusOr<ReplaySample> sample = SampleReplay(
        context_, format, want,
        [&](uint64_t key) {
          return keys.held_out.count(key) > 0 ||
                 IsHeldOut(key, seed, fraction);
        },
        retention);
    if (!sample.ok()) return sample.status();
    if (sample->dropped > 0) {
      notes_.push_back(absl::StrCat(
          sample->dropped, " replay rows were held-out rows and were dropped"));
    }
    retention_ = std::move(sample->retention);
    if (retention.rows > 0 && retention_.size() == 0) {
      notes_.push_back(absl::StrCat(
          "retention: the replay sample held ", sample->retention_found,
          " held-out rows from before the window (at least ",
          kMinRetentionRows, " needed); no retention set was evaluated"));
    }
    *rows_left -= retention_.size();
    if (replay_want <= 0) return absl::OkStatus();
    if (sample->rows.size() == 0) {
      notes_.push_back("replay: the collector's replay buffer gave no rows");
      return absl::OkStatus();
    }
    replay_ = std::move(sample->rows);
    KeepFirstRows(replay_want, &replay_);
    has_replay_ = true;
    *rows_left -= replay_.size();
    return absl::OkStatus();
  }

  absl::Status FetchGolden(int64_t rows_left) {
    if (config_.golden_dataset().empty()) return absl::OkStatus();
    const RowFormat format =
        RowFormat::For(start_.spec, start_.schema,
                       /*anomaly_labels=*/model::TaskFamily(start_.spec) ==
                               v1::MODEL_FAMILY_AUTOENCODER &&
                           start_.schema.label_kind() == v1::LABEL_KIND_CLASS);
    v1::ScanRequest scan;
    scan.set_dataset(config_.golden_dataset());
    scan.set_only_labeled(format.OnlyLabeled());
    scan.set_batch_size(context_.options().scan_batch_rows);
    Rows rows;
    bool cut = false;
    if (absl::Status s = ScanRows(
            context_, scan, format,
            FetchOptions(std::max<int64_t>(rows_left, 0), "the golden set"),
            &rows, &cut);
        !s.ok()) {
      return s;
    }
    if (cut) {
      notes_.push_back(absl::StrCat("memory budget: the golden set was cut at ",
                                    rows.size(), " rows"));
    }
    if (rows.size() == 0) {
      notes_.push_back(absl::StrCat("golden data set ",
                                    config_.golden_dataset(),
                                    " has no usable rows; not evaluated"));
      return absl::OkStatus();
    }
    golden_ = rows.All();
    has_golden_ = true;
    return absl::OkStatus();
  }

  // ------------------------------------------------------------ TRAINING

  absl::Status Train() {
    control().SetPhase(
        v1::RUN_PHASE_TRAINING,
        absl::StrCat("training on ", train_.size(), " rows",
                     has_replay_
                         ? absl::StrCat(" + ", replay_.size(), " replay rows")
                         : ""));
    const absl::Time start = absl::Now();
    model::TrainCallbacks callbacks;
    callbacks.cancelled = [this] { return context_.Stop(); };
    callbacks.progress = [&](const model::TrainProgress& tp) {
      control().Progress(TrainingProgress(tp, start));
    };
    absl::StatusOr<model::TrainResult> result =
        model::Train(start_.bundle, train_, has_replay_ ? &replay_ : nullptr,
                     holdout_, config_, callbacks);
    if (!result.ok()) {
      if (absl::IsCancelled(result.status())) return result.status();
      return absl::Status(
          result.status().code(),
          absl::StrCat("training: ", result.status().message()));
    }
    for (const std::string& note : result->notes) notes_.push_back(note);
    if (result->diverged) {
      const v1::Metrics metrics = result->holdout_metrics;
      control().Update(
          [&](v1::Run* run) { *run->mutable_candidate_metrics() = metrics; });
      return absl::AbortedError(
          absl::StrCat("training diverged (a non-finite training loss after ",
                       result->steps, " steps); nothing was uploaded. Notes: ",
                       absl::StrJoin(notes_, "; ")));
    }
    candidate_.bundle = std::move(result->candidate);
    candidate_.holdout_metrics = result->holdout_metrics;
    return context_.CheckStop();
  }

  // A training step's progress line; the ETA extrapolates the real time
  // since `start`.
  v1::RunProgress TrainingProgress(const model::TrainProgress& tp,
                                   absl::Time start) const {
    v1::RunProgress p;
    p.set_phase(v1::RUN_PHASE_TRAINING);
    p.set_epoch(tp.epoch);
    p.set_total_epochs(tp.total_epochs);
    p.set_step(tp.step);
    p.set_total_steps(tp.total_steps);
    p.set_loss(tp.loss);
    if (tp.holdout_loss.has_value()) p.set_holdout_loss(*tp.holdout_loss);
    p.set_samples_per_second(tp.samples_per_second);
    p.set_samples_done(tp.step * config_.batch_size());
    if (tp.step > 0 && tp.total_steps > tp.step) {
      const absl::Duration elapsed = absl::Now() - start;
      *p.mutable_eta() = core::ToProtoDuration(
          elapsed * (static_cast<double>(tp.total_steps - tp.step) /
                     static_cast<double>(tp.step)));
    }
    *p.mutable_time() = core::ToProto(context_.Now());
    p.set_message(absl::StrCat("epoch ", tp.epoch, "/", tp.total_epochs,
                               ", step ", tp.step, "/", tp.total_steps,
                               ", loss ", absl::SixDigits(tp.loss)));
    return p;
  }

  // ---------------------------------------------------------- EVALUATING

  absl::Status Evaluate() {
    control().SetPhase(v1::RUN_PHASE_EVALUATING,
                       start_.cold_start ? "evaluating the candidate"
                                         : "evaluating the candidate and the "
                                           "production version");
    v1::ValidationReport& report = candidate_.report;
    v1::Evaluation* held_out = report.add_evaluations();
    held_out->set_evaluation_set("held_out");
    *held_out->mutable_candidate() = candidate_.holdout_metrics;
    if (absl::Status s = AddBaseline(holdout_, "held_out", held_out); !s.ok()) {
      return s;
    }
    if (absl::Status s = context_.CheckStop(); !s.ok()) return s;
    if (Forecaster()) {
      if (absl::Status s = AddForecastEvaluations(held_out); !s.ok()) {
        return s;
      }
    }
    if (has_golden_) {
      if (absl::Status s = AddEvaluation(golden_, "golden"); !s.ok()) return s;
    }
    if (retention_.size() > 0) {
      if (absl::Status s = AddEvaluation(retention_, "retention"); !s.ok()) {
        return s;
      }
    }
    RecordReport(context_, notes_, &report);
    return context_.CheckStop();
  }

  // A forecaster's MASE on the held-out windows (candidate and production),
  // and the evaluation set `seasonal_naive`: the candidate against the
  // seasonal-naive forecast of the same windows, so that the registry's
  // relative gates (the loss: pinball) judge it against that baseline too.
  absl::Status AddForecastEvaluations(v1::Evaluation* held_out) {
    if (absl::Status s = AddMase(candidate_.bundle, forecast_,
                                 held_out->mutable_candidate());
        !s.ok()) {
      return s;
    }
    candidate_.holdout_metrics = held_out->candidate();
    if (held_out->has_baseline()) {
      if (absl::Status s = AddMase(start_.bundle, forecast_,
                                   held_out->mutable_baseline());
          !s.ok()) {
        return s;
      }
    }
    absl::StatusOr<v1::Metrics> naive =
        SeasonalNaiveMetrics(candidate_.bundle.manifest(), forecast_);
    if (!naive.ok()) return naive.status();
    v1::Evaluation* e = candidate_.report.add_evaluations();
    e->set_evaluation_set("seasonal_naive");
    *e->mutable_candidate() = held_out->candidate();
    *e->mutable_baseline() = *naive;
    notes_.push_back(absl::StrCat(
        "held out: MASE ", absl::SixDigits(held_out->candidate().extra().at(
                               "mase")),
        " against the seasonal-naive forecast's ",
        absl::SixDigits(naive->extra().at("mase")), ", pinball loss ",
        absl::SixDigits(held_out->candidate().loss()), " against ",
        absl::SixDigits(naive->loss())));
    return absl::OkStatus();
  }

  // The candidate (and production, unless a cold start) on `data`, as
  // evaluation set `set` of the report.
  absl::Status AddEvaluation(const model::Dataset& data,
                             absl::string_view set) {
    v1::Evaluation* evaluation = candidate_.report.add_evaluations();
    evaluation->set_evaluation_set(std::string(set));
    absl::StatusOr<v1::Metrics> candidate =
        EvaluateOn(candidate_.bundle, data, "the candidate", set);
    if (!candidate.ok()) return candidate.status();
    *evaluation->mutable_candidate() = *candidate;
    return AddBaseline(data, set, evaluation);
  }

  // Unless a cold start: production's metrics on `data` as the baseline.
  absl::Status AddBaseline(const model::Dataset& data, absl::string_view set,
                           v1::Evaluation* evaluation) {
    if (start_.cold_start) return absl::OkStatus();
    absl::StatusOr<v1::Metrics> baseline =
        EvaluateOn(start_.bundle, data, "production", set);
    if (!baseline.ok()) return baseline.status();
    *evaluation->mutable_baseline() = *baseline;
    evaluation->mutable_baseline_version()->set_model(context_.run().model());
    evaluation->mutable_baseline_version()->set_version(start_.version);
    return absl::OkStatus();
  }

  RunContext context_;
  const v1::TrainingConfig& config_;
  StartingModel start_;
  model::Dataset train_, holdout_, replay_, golden_, retention_;
  bool has_replay_ = false;
  bool has_golden_ = false;
  // A forecaster's windows, series and baseline data.
  ForecastData forecast_;
  std::vector<std::string> notes_;
  Candidate candidate_;
  v1::Round site_round_;
  absl::Duration download_time_, local_training_time_;
};

}  // namespace

RunOutcome RunBatch(const TrainingExecutorOptions& options, const v1::Run& run,
                    RunControl& control) {
  BatchRun batch(options, run, control);
  return batch.Execute();
}

}  // namespace continuum::trainer
