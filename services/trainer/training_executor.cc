#include "services/trainer/training_executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/training.h"
#include "lib/store/blob_store.h"
#include "services/trainer/time_util.h"

namespace continuum::trainer {
namespace {

using internal::v1::ModelBundle;

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Rows read from the collector, with a key per row (a hash of its id).
struct Rows {
  int input_dim = 0;
  int target_width = 0;  // 0: no targets kept
  std::vector<float> features;
  std::vector<float> targets;
  std::vector<uint64_t> keys;
  int64_t skipped = 0;  // rows of the stream not kept (no usable label)

  int64_t size() const { return static_cast<int64_t>(keys.size()); }

  model::Dataset ToDataset(const std::vector<int64_t>& indices) const {
    model::Dataset d;
    d.input_dim = input_dim;
    d.features.reserve(indices.size() * input_dim);
    d.targets.reserve(indices.size() * target_width);
    for (int64_t i : indices) {
      d.features.insert(d.features.end(), features.begin() + i * input_dim,
                        features.begin() + (i + 1) * input_dim);
      d.targets.insert(d.targets.end(), targets.begin() + i * target_width,
                       targets.begin() + (i + 1) * target_width);
    }
    return d;
  }
  model::Dataset All() const {
    std::vector<int64_t> all(size());
    std::iota(all.begin(), all.end(), 0);
    return ToDataset(all);
  }
  void Append(const Rows& other) {
    features.insert(features.end(), other.features.begin(),
                    other.features.end());
    targets.insert(targets.end(), other.targets.begin(), other.targets.end());
    keys.insert(keys.end(), other.keys.begin(), other.keys.end());
  }
  void EraseFront(int64_t n) {
    features.erase(features.begin(), features.begin() + n * input_dim);
    targets.erase(targets.begin(), targets.begin() + n * target_width);
    keys.erase(keys.begin(), keys.begin() + n);
  }
};

// Appends the rows of `add` (targets `width` per row) to `recent`, then
// drops its oldest rows beyond `cap`.
void AppendRecent(const model::Dataset& add, int width, int64_t cap,
                  model::Dataset* recent) {
  recent->input_dim = add.input_dim;
  recent->features.insert(recent->features.end(), add.features.begin(),
                          add.features.end());
  recent->targets.insert(recent->targets.end(), add.targets.begin(),
                         add.targets.end());
  const int64_t excess = recent->size() - cap;
  if (excess > 0) {
    recent->features.erase(recent->features.begin(),
                           recent->features.begin() + excess * add.input_dim);
    recent->targets.erase(recent->targets.begin(),
                          recent->targets.begin() + excess * width);
  }
}

// Appends rows `indices` of `from` (targets `width` per row) to `to`.
void AppendRows(const model::Dataset& from, int width,
                const std::vector<int64_t>& indices, model::Dataset* to) {
  const int dim = from.input_dim;
  for (int64_t i : indices) {
    to->features.insert(to->features.end(), from.features.begin() + i * dim,
                        from.features.begin() + (i + 1) * dim);
    to->targets.insert(to->targets.end(), from.targets.begin() + i * width,
                       from.targets.begin() + (i + 1) * width);
  }
}

// How rows of a data set become training rows for a model.
struct RowFormat {
  v1::ModelFamily family = v1::MODEL_FAMILY_UNSPECIFIED;
  int input_dim = 0;
  int output_dim = 0;
  v1::LabelKind label_kind = v1::LABEL_KIND_UNSPECIFIED;
  // Autoencoders: keep 0/1 labels as targets (evaluation sets); otherwise
  // drop rows labelled as anomalies and keep no targets (training).
  bool anomaly_labels = false;

  int TargetWidth() const {
    switch (family) {
      case v1::MODEL_FAMILY_MLP_CLASSIFIER:
        return 1;
      case v1::MODEL_FAMILY_MLP_REGRESSOR:
        return output_dim;
      default:
        return anomaly_labels ? 1 : 0;
    }
  }
  bool OnlyLabeled() const {
    return family != v1::MODEL_FAMILY_AUTOENCODER || anomaly_labels;
  }
};

// Appends the usable rows of `batch` to `rows`, at most `cap` in all.
// Returns false when the cap was reached.
absl::StatusOr<bool> AppendBatch(const v1::RecordBatch& batch,
                                 const RowFormat& format, int64_t cap,
                                 Rows* rows) {
  const int n = batch.num_rows();
  if (batch.feature_dim() != format.input_dim ||
      batch.features_size() != static_cast<int64_t>(n) * format.input_dim) {
    return absl::FailedPreconditionError(absl::StrCat(
        "collector sent rows of ", batch.feature_dim(),
        " features; the model takes ", format.input_dim));
  }
  if (batch.ids_size() != n) {
    return absl::InternalError("collector sent a batch without record ids");
  }
  const int width = format.TargetWidth();
  const int target_dim = std::max(1, batch.target_dim());
  for (int r = 0; r < n; ++r) {
    if (rows->size() >= cap) return false;
    const bool labeled = r < batch.labeled_size() && batch.labeled(r);
    std::optional<float> cls;
    if (r < batch.class_indices_size() && batch.class_indices(r) >= 0) {
      cls = static_cast<float>(batch.class_indices(r));
    }
    std::vector<float> target;
    switch (format.family) {
      case v1::MODEL_FAMILY_MLP_CLASSIFIER:
        if (!labeled || !cls.has_value() || *cls >= format.output_dim) {
          ++rows->skipped;
          continue;
        }
        target.push_back(*cls);
        break;
      case v1::MODEL_FAMILY_MLP_REGRESSOR: {
        if (!labeled || batch.targets_size() < (r + 1) * target_dim ||
            target_dim != format.output_dim) {
          ++rows->skipped;
          continue;
        }
        target.assign(batch.targets().begin() + r * target_dim,
                      batch.targets().begin() + (r + 1) * target_dim);
        break;
      }
      default: {  // Autoencoder.
        if (format.anomaly_labels) {
          if (!labeled || !cls.has_value() || (*cls != 0 && *cls != 1)) {
            ++rows->skipped;
            continue;
          }
          target.push_back(*cls);
        } else if (labeled && cls.has_value() && *cls != 0) {
          ++rows->skipped;  // An anomaly: not trained on.
          continue;
        }
        break;
      }
    }
    if (static_cast<int>(target.size()) != width) {
      ++rows->skipped;
      continue;
    }
    rows->features.insert(
        rows->features.end(),
        batch.features().begin() + static_cast<int64_t>(r) * format.input_dim,
        batch.features().begin() +
            static_cast<int64_t>(r + 1) * format.input_dim);
    rows->targets.insert(rows->targets.end(), target.begin(), target.end());
    rows->keys.push_back(Fnv1a(batch.ids(r)));
  }
  return rows->size() < cap;
}

std::string FormatWindow(const v1::TimeWindow& w) {
  return absl::StrCat(
      "[", w.has_start_time() ? absl::FormatTime(FromProto(w.start_time())) : "-inf",
      ", ", w.has_end_time() ? absl::FormatTime(FromProto(w.end_time())) : "now",
      ")");
}

// Per-column mean and standard deviation of `values` (rows of `width`; std
// 1 where a column is constant), for a cold start's normalisation.
void FitNormalization(int width, const std::vector<float>& values,
                      v1::NormalizationStats* out) {
  const int64_t n = width > 0 ? static_cast<int64_t>(values.size()) / width : 0;
  std::vector<double> mean(width, 0), m2(width, 0);
  for (int64_t i = 0; i < n; ++i) {
    for (int f = 0; f < width; ++f) {
      const double x = values[i * width + f];
      const double delta = x - mean[f];
      mean[f] += delta / static_cast<double>(i + 1);
      m2[f] += delta * (x - mean[f]);
    }
  }
  out->clear_mean();
  out->clear_std();
  for (int f = 0; f < width; ++f) {
    const double var = n > 0 ? m2[f] / static_cast<double>(n) : 0;
    const double sd = std::sqrt(var);
    out->add_mean(static_cast<float>(mean[f]));
    out->add_std(sd > 1e-6 ? static_cast<float>(sd) : 1.0f);
  }
}

// One run's work; the steps share its state.
class Job {
 public:
  Job(const TrainingExecutorOptions& options, const v1::Run& run,
      RunControl& control)
      : o_(options),
        run_(run),
        config_(run.config()),
        control_(control),
        deadline_(absl::Now() +
                  FromProto(run.config().resources().max_duration())),
        data_window_(run.data_window()) {}

  RunOutcome Execute() {
    if (config_.strategy() == v1::TRAINING_STRATEGY_ONLINE) {
      return ExecuteOnline();
    }
    absl::Status s = FetchModel();
    if (s.ok()) s = FetchData();
    if (s.ok()) s = TrainCandidate();
    if (s.ok()) s = EvaluateCandidate();
    if (s.ok()) s = Finalize();
    if (s.ok()) return Upload();
    return Ended(s);
  }

 private:
  // Cancelled, or past max_duration.
  bool Stop() {
    if (absl::Now() > deadline_ ||
        (online_ && o_.clock->Now() >= clock_deadline_)) {
      timed_out_ = true;
      return true;
    }
    return control_.cancelled();
  }
  absl::Status CheckStop() {
    if (Stop()) return absl::CancelledError("cancelled");
    return absl::OkStatus();
  }
  RunOutcome Ended(const absl::Status& s) {
    if (timed_out_) {
      return {v1::RUN_STATE_FAILED,
              absl::DeadlineExceededError(absl::StrCat(
                  "the run took longer than resources.max_duration (",
                  absl::FormatDuration(
                      FromProto(config_.resources().max_duration())),
                  ")"))};
    }
    if (absl::IsCancelled(s) && control_.cancelled()) {
      return {v1::RUN_STATE_CANCELLED, s};
    }
    return {v1::RUN_STATE_FAILED, s};
  }

  absl::Status FetchModel() {
    control_.SetPhase(v1::RUN_PHASE_FETCHING_MODEL,
                      "fetching the production version from the registry");
    if (o_.registry == nullptr) {
      return absl::FailedPreconditionError(
          "the trainer has no registry_address configured");
    }
    if (o_.collector == nullptr) {
      return absl::FailedPreconditionError(
          "the trainer has no collector_address configured");
    }
    absl::StatusOr<v1::Model> model = o_.registry->GetModel(run_.model());
    if (!model.ok()) {
      return absl::Status(model.status().code(),
                          absl::StrCat("registry: ", model.status().message()));
    }
    absl::StatusOr<v1::Dataset> dataset =
        o_.collector->GetDataset(config_.dataset());
    if (!dataset.ok()) {
      return absl::Status(
          absl::IsNotFound(dataset.status()) ? absl::StatusCode::kFailedPrecondition
                                             : dataset.status().code(),
          absl::StrCat("collector: data set ", config_.dataset(), ": ",
                       dataset.status().message()));
    }
    schema_ = dataset->schema();
    if (absl::Status s = CheckStop(); !s.ok()) return s;

    const int64_t production = model->production_version();
    if (production > 0) {
      absl::StatusOr<Artifact> artifact =
          o_.registry->DownloadArtifact(run_.model(), production, deadline_);
      if (!artifact.ok()) {
        return absl::Status(
            artifact.status().code(),
            absl::StrCat("registry: downloading version ", production, ": ",
                         artifact.status().message()));
      }
      absl::StatusOr<ModelBundle> bundle = model::ParseBundle(artifact->bytes);
      if (!bundle.ok()) {
        return absl::DataLossError(absl::StrCat("production version ",
                                                production, ": ",
                                                bundle.status().message()));
      }
      if (absl::Status s = model::ValidateBundle(*bundle); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "production version ", production, " is not a bundle this "
            "trainer can train: ", s.message()));
      }
      parent_ = *std::move(bundle);
      parent_version_ = production;
    } else {
      v1::ModelSpec spec = model->spec();
      if (spec.family() == v1::MODEL_FAMILY_UNSPECIFIED) {
        spec.set_family(model->family());
      }
      if (spec.input_dim() == 0) spec.set_input_dim(schema_.feature_dim());
      if (spec.output_dim() == 0) {
        if (spec.family() == v1::MODEL_FAMILY_MLP_CLASSIFIER) {
          spec.set_output_dim(schema_.num_classes());
        } else if (spec.family() == v1::MODEL_FAMILY_MLP_REGRESSOR) {
          spec.set_output_dim(
              schema_.label_kind() == v1::LABEL_KIND_VECTOR ? schema_.target_dim()
                                                            : 1);
        }
      }
      if (absl::Status s = model::ValidateSpec(spec); !s.ok()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cold start: model ", run_.model(),
            " has no production version and its spec (from the registry's "
            "Model.spec and data set ", config_.dataset(),
            "'s schema) is not usable: ", s.message()));
      }
      v1::ArtifactManifest manifest;
      manifest.set_model(run_.model());
      *manifest.mutable_spec() = spec;
      absl::StatusOr<ModelBundle> bundle =
          model::Model::InitBundle(manifest, config_.seed());
      if (!bundle.ok()) return bundle.status();
      parent_ = *std::move(bundle);
      cold_start_ = true;
    }
    spec_ = model::ResolveSpec(parent_.manifest().spec());
    control_.Update([&](v1::Run* run) {
      run->mutable_parent_version()->set_model(run_.model());
      run->mutable_parent_version()->set_version(parent_version_);
      run->set_cold_start(cold_start_);
    });

    // Does the data set fit the model?
    if (schema_.feature_dim() != spec_.input_dim()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data set ", config_.dataset(), " has feature_dim ",
          schema_.feature_dim(), " but model ", run_.model(),
          " takes input_dim ", spec_.input_dim()));
    }
    switch (spec_.family()) {
      case v1::MODEL_FAMILY_MLP_CLASSIFIER:
        if (schema_.label_kind() != v1::LABEL_KIND_CLASS ||
            schema_.num_classes() > spec_.output_dim()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "data set ", config_.dataset(), " (",
              v1::LabelKind_Name(schema_.label_kind()), ", ",
              schema_.num_classes(), " classes) does not fit classifier ",
              run_.model(), " with ", spec_.output_dim(), " classes"));
        }
        break;
      case v1::MODEL_FAMILY_MLP_REGRESSOR: {
        const int width = schema_.label_kind() == v1::LABEL_KIND_VALUE    ? 1
                          : schema_.label_kind() == v1::LABEL_KIND_VECTOR ? schema_.target_dim()
                                                                           : -1;
        if (width != spec_.output_dim()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "data set ", config_.dataset(), " (",
              v1::LabelKind_Name(schema_.label_kind()),
              ") does not fit regressor ", run_.model(), " with ",
              spec_.output_dim(), " targets"));
        }
        break;
      }
      default:
        break;
    }
    return absl::OkStatus();
  }

  RowFormat Format(bool anomaly_labels) const {
    RowFormat f;
    f.family = spec_.family();
    f.input_dim = spec_.input_dim();
    f.output_dim = spec_.output_dim();
    f.label_kind = schema_.label_kind();
    f.anomaly_labels = anomaly_labels;
    return f;
  }

  // Streams `request` into `rows` (at most `cap` rows). Sets *truncated
  // when the cap stopped it.
  absl::Status ScanInto(const v1::ScanRequest& request, const RowFormat& format,
                        int64_t cap, const std::string& what, Rows* rows,
                        bool* truncated) {
    rows->input_dim = format.input_dim;
    rows->target_width = format.TargetWidth();
    absl::Status inner;
    absl::Time last_progress = online_ ? absl::Now() : absl::InfinitePast();
    absl::Status s = o_.collector->Scan(
        request,
        [&](const v1::RecordBatch& batch) {
          if (Stop()) return false;
          absl::StatusOr<bool> more = AppendBatch(batch, format, cap, rows);
          if (!more.ok()) {
            inner = more.status();
            return false;
          }
          if (!*more) *truncated = true;
          if (absl::Now() - last_progress > absl::Milliseconds(200)) {
            last_progress = absl::Now();
            v1::RunProgress p;
            if (online_) {
              // Keeps the updates and loss; only long polls get here.
              p = OnlineProgress();
              p.set_message(absl::StrCat(p.message(), "; reading ", what, ": ",
                                         rows->size(), " rows"));
            } else {
              p.set_phase(v1::RUN_PHASE_FETCHING_DATA);
              p.set_samples_done(rows->size());
              p.set_message(
                  absl::StrCat("fetching ", what, ": ", rows->size(), " rows"));
            }
            control_.Progress(p);
          }
          return *more;
        },
        deadline_);
    if (!inner.ok()) return inner;
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("collector: scanning ", what,
                                                 ": ", s.message()));
    }
    return CheckStop();
  }

  absl::Status FetchData() {
    control_.SetPhase(v1::RUN_PHASE_FETCHING_DATA,
                      absl::StrCat("fetching the window ",
                                   FormatWindow(run_.data_window()),
                                   " of data set ", config_.dataset()));
    const RowFormat train_format = Format(/*anomaly_labels=*/false);
    const int64_t row_bytes =
        4 * (static_cast<int64_t>(spec_.input_dim()) + train_format.TargetWidth()) +
        8;
    int64_t rows_left =
        std::max<int64_t>(1, config_.resources().memory_budget_bytes() / row_bytes);

    v1::ScanRequest scan;
    scan.set_dataset(config_.dataset());
    *scan.mutable_window() = run_.data_window();
    scan.set_only_labeled(train_format.OnlyLabeled());
    scan.set_batch_size(o_.scan_batch_rows);
    Rows window;
    bool truncated = false;
    if (absl::Status s = ScanInto(scan, train_format, rows_left, "the window",
                                  &window, &truncated);
        !s.ok()) {
      return s;
    }
    if (truncated) {
      notes_.push_back(absl::StrCat(
          "memory budget: the window was cut at ", window.size(),
          " rows (resources.memory_budget_bytes ",
          config_.resources().memory_budget_bytes(),
          "); later rows of the window were not trained on"));
    }
    if (window.skipped > 0) {
      notes_.push_back(absl::StrCat(window.skipped,
                                    " rows of the window had no usable label "
                                    "and were left out"));
    }
    if (window.size() < kMinWindowRows) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the window ", FormatWindow(run_.data_window()), " of data set ",
          config_.dataset(), " holds ", window.size(),
          train_format.OnlyLabeled() ? " labelled" : "",
          " records; a run needs at least ", kMinWindowRows));
    }
    rows_left -= window.size();

    // Held-out split by record id and seed.
    const uint64_t seed = config_.seed();
    std::vector<int64_t> order(window.size());
    std::iota(order.begin(), order.end(), 0);
    std::vector<uint64_t> score(window.size());
    for (int64_t i = 0; i < window.size(); ++i) {
      score[i] = SplitMix(window.keys[i] ^ SplitMix(seed));
    }
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return score[a] != score[b] ? score[a] < score[b] : a < b;
    });
    int64_t holdout_n = std::llround(config_.holdout_fraction() *
                                     static_cast<double>(window.size()));
    holdout_n = std::clamp<int64_t>(holdout_n, 1, window.size() - 1);
    std::vector<int64_t> holdout_idx(order.begin(), order.begin() + holdout_n);
    std::vector<int64_t> train_idx(order.begin() + holdout_n, order.end());
    std::sort(holdout_idx.begin(), holdout_idx.end());
    std::sort(train_idx.begin(), train_idx.end());
    holdout_ = window.ToDataset(holdout_idx);
    train_ = window.ToDataset(train_idx);
    std::unordered_set<uint64_t> holdout_keys;
    for (int64_t i : holdout_idx) holdout_keys.insert(window.keys[i]);
    window = Rows();  // Free it.

    // Replay.
    const double r = config_.guards().replay_ratio();
    if (config_.strategy() != v1::TRAINING_STRATEGY_FULL_RETRAIN && r > 0) {
      int64_t want = static_cast<int64_t>(
          std::ceil(static_cast<double>(train_.size()) * r / (1 - r)));
      if (want > rows_left) {
        notes_.push_back(absl::StrCat("memory budget: replay sample cut from ",
                                      want, " to ", rows_left, " rows"));
        want = rows_left;
      }
      if (want > 0) {
        v1::SampleReplayRequest request;
        request.set_dataset(config_.dataset());
        request.set_count(want);
        request.set_seed(seed);
        request.set_batch_size(o_.scan_batch_rows);
        request.set_only_labeled(train_format.OnlyLabeled());
        Rows rows;
        rows.input_dim = train_format.input_dim;
        rows.target_width = train_format.TargetWidth();
        absl::Status inner;
        absl::Status s = o_.collector->SampleReplay(
            request,
            [&](const v1::RecordBatch& batch) {
              if (Stop()) return false;
              absl::StatusOr<bool> more =
                  AppendBatch(batch, train_format, want, &rows);
              if (!more.ok()) {
                inner = more.status();
                return false;
              }
              return *more;
            },
            deadline_);
        if (!inner.ok()) return inner;
        if (!s.ok()) {
          return absl::Status(s.code(), absl::StrCat("collector: replay sample: ",
                                                     s.message()));
        }
        if (absl::Status st = CheckStop(); !st.ok()) return st;
        std::vector<int64_t> keep;
        for (int64_t i = 0; i < rows.size(); ++i) {
          if (holdout_keys.count(rows.keys[i]) == 0) keep.push_back(i);
        }
        if (static_cast<int64_t>(keep.size()) < rows.size()) {
          notes_.push_back(absl::StrCat(
              rows.size() - static_cast<int64_t>(keep.size()),
              " replay rows were held-out rows and were dropped"));
        }
        if (!keep.empty()) {
          replay_ = rows.ToDataset(keep);
          has_replay_ = true;
          rows_left -= replay_.size();
        } else {
          notes_.push_back("replay: the collector's replay buffer gave no rows");
        }
      }
    }

    // Golden set.
    if (!config_.golden_dataset().empty()) {
      const RowFormat golden_format = Format(/*anomaly_labels=*/
                                             spec_.family() ==
                                                 v1::MODEL_FAMILY_AUTOENCODER &&
                                             schema_.label_kind() ==
                                                 v1::LABEL_KIND_CLASS);
      v1::ScanRequest golden_scan;
      golden_scan.set_dataset(config_.golden_dataset());
      golden_scan.set_only_labeled(golden_format.OnlyLabeled());
      golden_scan.set_batch_size(o_.scan_batch_rows);
      Rows rows;
      bool cut = false;
      if (absl::Status s = ScanInto(golden_scan, golden_format,
                                    std::max<int64_t>(rows_left, 0),
                                    "the golden set", &rows, &cut);
          !s.ok()) {
        return s;
      }
      if (cut) {
        notes_.push_back(absl::StrCat(
            "memory budget: the golden set was cut at ", rows.size(), " rows"));
      }
      if (rows.size() > 0) {
        golden_ = rows.All();
        has_golden_ = true;
      } else {
        notes_.push_back(absl::StrCat("golden data set ",
                                      config_.golden_dataset(),
                                      " has no usable rows; not evaluated"));
      }
    }

    if (cold_start_) {
      // The network trains in the space of its normalisation: fit it to the
      // training rows.
      ModelBundle& b = parent_;
      FitNormalization(spec_.input_dim(), train_.features,
                       b.mutable_manifest()->mutable_normalization());
      if (spec_.family() == v1::MODEL_FAMILY_MLP_REGRESSOR) {
        FitNormalization(spec_.output_dim(), train_.targets,
                         b.mutable_target_normalization());
      }
    }
    control_.Update([&](v1::Run* run) {
      run->set_train_records(train_.size());
      run->set_replay_records(has_replay_ ? replay_.size() : 0);
      run->set_holdout_records(holdout_.size());
      run->set_golden_records(has_golden_ ? golden_.size() : 0);
    });
    return absl::OkStatus();
  }

  absl::Status TrainCandidate() {
    control_.SetPhase(v1::RUN_PHASE_TRAINING,
                      absl::StrCat("training on ", train_.size(), " rows",
                                   has_replay_ ? absl::StrCat(" + ", replay_.size(),
                                                              " replay rows")
                                               : ""));
    const absl::Time start = absl::Now();
    const int batch = config_.batch_size();
    model::TrainCallbacks callbacks;
    callbacks.cancelled = [this] { return Stop(); };
    callbacks.progress = [&](const model::TrainProgress& tp) {
      v1::RunProgress p;
      p.set_phase(v1::RUN_PHASE_TRAINING);
      p.set_epoch(tp.epoch);
      p.set_total_epochs(tp.total_epochs);
      p.set_step(tp.step);
      p.set_total_steps(tp.total_steps);
      p.set_loss(tp.loss);
      if (tp.holdout_loss.has_value()) p.set_holdout_loss(*tp.holdout_loss);
      p.set_samples_per_second(tp.samples_per_second);
      p.set_samples_done(tp.step * batch);
      if (tp.step > 0 && tp.total_steps > tp.step) {
        const absl::Duration elapsed = absl::Now() - start;
        *p.mutable_eta() = ToProtoDuration(
            elapsed * (static_cast<double>(tp.total_steps - tp.step) /
                       static_cast<double>(tp.step)));
      }
      *p.mutable_time() = ToProto(o_.clock->Now());
      p.set_message(absl::StrCat("epoch ", tp.epoch, "/", tp.total_epochs,
                                 ", step ", tp.step, "/", tp.total_steps,
                                 ", loss ", absl::SixDigits(tp.loss)));
      control_.Progress(p);
    };
    absl::StatusOr<model::TrainResult> result =
        model::Train(parent_, train_, has_replay_ ? &replay_ : nullptr, holdout_,
                     config_, callbacks);
    if (!result.ok()) {
      if (absl::IsCancelled(result.status())) return result.status();
      return absl::Status(result.status().code(),
                          absl::StrCat("training: ", result.status().message()));
    }
    result_ = *std::move(result);
    for (const std::string& note : result_.notes) notes_.push_back(note);
    if (result_.diverged) {
      const v1::Metrics metrics = result_.holdout_metrics;
      control_.Update(
          [&](v1::Run* run) { *run->mutable_candidate_metrics() = metrics; });
      return absl::AbortedError(absl::StrCat(
          "training diverged (a non-finite training loss after ",
          result_.steps, " steps); nothing was uploaded. Notes: ",
          absl::StrJoin(notes_, "; ")));
    }
    return CheckStop();
  }

  absl::Status EvaluateCandidate() {
    control_.SetPhase(v1::RUN_PHASE_EVALUATING,
                      cold_start_ ? "evaluating the candidate"
                                  : "evaluating the candidate and the "
                                    "production version");
    const v1::VersionRef parent_ref = [&] {
      v1::VersionRef r;
      r.set_model(run_.model());
      r.set_version(parent_version_);
      return r;
    }();
    v1::Evaluation* held_out = report_.add_evaluations();
    held_out->set_evaluation_set("held_out");
    *held_out->mutable_candidate() = result_.holdout_metrics;
    if (!cold_start_) {
      absl::StatusOr<v1::Metrics> baseline = model::Evaluate(parent_, holdout_);
      if (!baseline.ok()) {
        return absl::Status(baseline.status().code(),
                            absl::StrCat("evaluating production on held_out: ",
                                         baseline.status().message()));
      }
      *held_out->mutable_baseline() = *baseline;
      *held_out->mutable_baseline_version() = parent_ref;
    }
    if (absl::Status s = CheckStop(); !s.ok()) return s;
    if (has_golden_) {
      v1::Evaluation* golden = report_.add_evaluations();
      golden->set_evaluation_set("golden");
      absl::StatusOr<v1::Metrics> candidate =
          model::Evaluate(result_.candidate, golden_);
      if (!candidate.ok()) {
        return absl::Status(candidate.status().code(),
                            absl::StrCat("evaluating the candidate on golden: ",
                                         candidate.status().message()));
      }
      *golden->mutable_candidate() = *candidate;
      if (!cold_start_) {
        absl::StatusOr<v1::Metrics> baseline = model::Evaluate(parent_, golden_);
        if (!baseline.ok()) {
          return absl::Status(baseline.status().code(),
                              absl::StrCat("evaluating production on golden: ",
                                           baseline.status().message()));
        }
        *golden->mutable_baseline() = *baseline;
        *golden->mutable_baseline_version() = parent_ref;
      }
    }
    report_.set_run(run_.name());
    *report_.mutable_evaluate_time() = ToProto(o_.clock->Now());
    report_.set_notes(absl::StrJoin(notes_, "; "));
    const v1::ValidationReport report = report_;
    control_.Update([&](v1::Run* run) {
      *run->mutable_candidate_metrics() = report.evaluations(0).candidate();
      if (report.evaluations(0).has_baseline()) {
        *run->mutable_production_metrics() = report.evaluations(0).baseline();
      }
      *run->mutable_report() = report;
    });
    return CheckStop();
  }

  absl::Status Finalize() {
    control_.SetPhase(v1::RUN_PHASE_FINALIZING, "writing the candidate bundle");
    ModelBundle& c = result_.candidate;
    v1::ArtifactManifest* m = c.mutable_manifest();
    m->set_model(run_.model());
    m->mutable_parent()->set_model(run_.model());
    m->mutable_parent()->set_version(parent_version_);
    m->set_run(run_.name());
    *m->mutable_data_window() = data_window_;
    if (online_) {
      (*m->mutable_tags())["online_updates"] = absl::StrCat(total_updates_);
    }
    m->set_code_version(o_.code_version);
    (*m->mutable_tags())["trigger"] = v1::RunTrigger_Name(run_.trigger());
    if (cold_start_) (*m->mutable_tags())["cold_start"] = "true";
    if (absl::Status s = model::ValidateBundle(c); !s.ok()) {
      return absl::InternalError(
          absl::StrCat("the candidate bundle is invalid: ", s.message()));
    }
    absl::StatusOr<std::string> bytes = model::SerializeBundle(c);
    if (!bytes.ok()) return bytes.status();
    bytes_ = *std::move(bytes);
    sha256_ = store::Sha256Hex(bytes_);
    return CheckStop();
  }

  RunOutcome Upload() {
    if (absl::Status s = control_.BeginUpload(); !s.ok()) return Ended(s);
    const ModelBundle& c = result_.candidate;
    v1::UploadVersionMetadata meta;
    meta.set_model(run_.model());
    meta.set_sha256(sha256_);
    meta.set_size_bytes(static_cast<int64_t>(bytes_.size()));
    *meta.mutable_parent() = c.manifest().parent();
    *meta.mutable_metrics() = result_.holdout_metrics;
    *meta.mutable_data_window() = data_window_;
    *meta.mutable_hyperparameters() = c.manifest().hyperparameters();
    meta.set_code_version(o_.code_version);
    (*meta.mutable_tags())["trigger"] = v1::RunTrigger_Name(run_.trigger());
    (*meta.mutable_tags())["train_records"] =
        absl::StrCat(online_ ? online_train_rows_ : train_.size());
    (*meta.mutable_tags())["replay_records"] =
        absl::StrCat(online_       ? online_replay_rows_
                     : has_replay_ ? replay_.size()
                                   : 0);
    (*meta.mutable_tags())["holdout_records"] = absl::StrCat(holdout_.size());
    meta.set_description(absl::StrCat(
        "trained by ", run_.name(), " (", v1::RunTrigger_Name(run_.trigger()),
        run_.reason().empty() ? "" : absl::StrCat(": ", run_.reason()), ")"));
    *meta.mutable_manifest() = c.manifest();
    meta.set_run(run_.name());
    *meta.mutable_validation_report() = report_;
    absl::StatusOr<v1::UploadVersionResponse> response =
        o_.registry->UploadVersion(meta, bytes_, deadline_);
    if (!response.ok()) {
      return Ended(absl::Status(
          response.status().code(),
          absl::StrCat("registry: upload: ", response.status().message())));
    }
    const v1::Version& version = response->version();
    last_version_ = version.version();
    control_.Update([&](v1::Run* run) {
      run->mutable_candidate_version()->set_model(run_.model());
      run->mutable_candidate_version()->set_version(version.version());
      if (response->has_decision()) {
        *run->mutable_decision() = response->decision();
      } else if (version.has_validation()) {
        *run->mutable_decision() = version.validation();
      }
    });
    if (response->has_decision()) {
      if (response->decision().approved()) return {v1::RUN_STATE_SUCCEEDED, {}};
      return {v1::RUN_STATE_REJECTED,
              absl::FailedPreconditionError(absl::StrCat(
                  "version ", version.version(), " ",
                  response->decision().summary()))};
    }
    // The same bytes were uploaded before: that version's fate decides.
    switch (version.state()) {
      case v1::VERSION_STATE_VALIDATED:
      case v1::VERSION_STATE_CANARY:
      case v1::VERSION_STATE_SHADOW:
      case v1::VERSION_STATE_PRODUCTION:
      case v1::VERSION_STATE_ARCHIVED:
        return {v1::RUN_STATE_SUCCEEDED, {}};
      case v1::VERSION_STATE_REJECTED:
        return {v1::RUN_STATE_REJECTED,
                absl::FailedPreconditionError(absl::StrCat(
                    "the candidate is identical to version ", version.version(),
                    ", which was rejected"))};
      default:
        return {v1::RUN_STATE_FAILED,
                absl::FailedPreconditionError(absl::StrCat(
                    "the candidate is identical to version ", version.version(),
                    ", which is ", v1::VersionState_Name(version.state())))};
    }
  }

  // ------------------------------------------------------------- online

  // Whether the row with key `key` belongs to the held-out set (the same
  // rule as FetchData's split, by a hash of the record id and the seed).
  bool IsHeldOut(uint64_t key) const {
    const uint64_t score = SplitMix(key ^ SplitMix(config_.seed()));
    return static_cast<double>(score) <
           config_.holdout_fraction() * 18446744073709551616.0;
  }

  // How an online run ends when told to stop by `s` (or fails).
  RunOutcome OnlineError(const absl::Status& s) {
    if (absl::IsCancelled(s) && (timed_out_ || control_.cancelled())) {
      return EndOnline();
    }
    return {v1::RUN_STATE_FAILED, s};
  }

  RunOutcome EndOnline() {
    RecordOnlineCounts();
    if (control_.cancelled()) {
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
    control_.Update([&](v1::Run* run) {
      run->set_train_records(train);
      run->set_replay_records(replay);
      run->set_holdout_records(holdout);
    });
  }

  void Wait(absl::Duration d) {
    if (o_.online_wait) {
      o_.online_wait(d);
      return;
    }
    const absl::Time until = absl::Now() + d;
    while (!control_.cancelled()) {
      const absl::Duration left = until - absl::Now();
      if (left <= absl::ZeroDuration()) break;
      absl::SleepFor(std::min(left, absl::Milliseconds(100)));
    }
  }

  std::string OnlineMessage() const {
    return absl::StrCat(
        "online: ", total_updates_, " updates (", skipped_batches_,
        " micro-batches skipped), ", online_train_rows_, " rows, ", published_,
        " candidates published, loss ", absl::SixDigits(loss_ema_));
  }

  // Reads the replay pool mixed into every update.
  absl::Status LoadReplayPool(int64_t cap) {
    const double r = config_.guards().replay_ratio();
    if (r <= 0 || cap <= 0) return absl::OkStatus();
    const int64_t per_update = static_cast<int64_t>(
        std::ceil(static_cast<double>(micro_) * r / (1 - r)));
    const int64_t want = std::min<int64_t>(cap, 20 * per_update);
    if (want <= 0) return absl::OkStatus();
    v1::SampleReplayRequest request;
    request.set_dataset(config_.dataset());
    request.set_count(want);
    request.set_seed(config_.seed());
    request.set_batch_size(o_.scan_batch_rows);
    request.set_only_labeled(format_.OnlyLabeled());
    Rows rows;
    rows.input_dim = format_.input_dim;
    rows.target_width = format_.TargetWidth();
    absl::Status inner;
    absl::Status s = o_.collector->SampleReplay(
        request,
        [&](const v1::RecordBatch& batch) {
          if (Stop()) return false;
          absl::StatusOr<bool> more = AppendBatch(batch, format_, want, &rows);
          if (!more.ok()) {
            inner = more.status();
            return false;
          }
          return *more;
        },
        deadline_);
    if (!inner.ok()) return inner;
    if (!s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("collector: replay sample: ", s.message()));
    }
    if (absl::Status st = CheckStop(); !st.ok()) return st;
    std::vector<int64_t> keep;
    for (int64_t i = 0; i < rows.size(); ++i) {
      if (!IsHeldOut(rows.keys[i])) keep.push_back(i);
    }
    replay_ = rows.ToDataset(keep);
    has_replay_ = replay_.size() > 0;
    if (!has_replay_) {
      notes_.push_back("replay: the collector's replay buffer gave no rows");
    }
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

  // Trains on the first micro-batch of the pending rows.
  absl::Status TrainMicroBatch() {
    const int dim = format_.input_dim;
    const int width = format_.TargetWidth();
    if (updater_ == nullptr) {
      if (cold_start_ && !normalization_fitted_) {
        // Fit the normalisation to the finite rows at hand.
        std::vector<float> features, targets;
        for (int64_t i = 0; i < pending_.size(); ++i) {
          const auto f = pending_.features.begin() + i * dim;
          const auto t = pending_.targets.begin() + i * width;
          if (!std::all_of(f, f + dim,
                           [](float x) { return std::isfinite(x); }) ||
              !std::all_of(t, t + width,
                           [](float x) { return std::isfinite(x); })) {
            continue;
          }
          features.insert(features.end(), f, f + dim);
          targets.insert(targets.end(), t, t + width);
        }
        FitNormalization(spec_.input_dim(), features,
                         parent_.mutable_manifest()->mutable_normalization());
        if (spec_.family() == v1::MODEL_FAMILY_MLP_REGRESSOR) {
          FitNormalization(spec_.output_dim(), targets,
                           parent_.mutable_target_normalization());
        }
        normalization_fitted_ = true;
      }
      absl::StatusOr<std::unique_ptr<model::OnlineUpdater>> updater =
          model::OnlineUpdater::Create(parent_, config_);
      if (!updater.ok()) {
        return absl::Status(
            updater.status().code(),
            absl::StrCat("online: ", updater.status().message()));
      }
      updater_ = *std::move(updater);
    }

    const int64_t n = micro_;
    const bool finite = std::all_of(pending_.features.begin(),
                                    pending_.features.begin() + n * dim,
                                    [](float x) { return std::isfinite(x); }) &&
                        std::all_of(pending_.targets.begin(),
                                    pending_.targets.begin() + n * width,
                                    [](float x) { return std::isfinite(x); });
    std::vector<int64_t> train_idx, holdout_idx;
    for (int64_t i = 0; i < n; ++i) {
      (IsHeldOut(pending_.keys[i]) ? holdout_idx : train_idx).push_back(i);
    }
    model::Dataset train = pending_.ToDataset(train_idx);
    const model::Dataset held = pending_.ToDataset(holdout_idx);
    ConsumePending(n);
    if (!finite) {
      ++skipped_batches_;
      ReportOnlineProgress();
      return absl::OkStatus();
    }
    AppendRecent(held, width, holdout_cap_, &holdout_);
    if (train.size() == 0) return absl::OkStatus();

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

  void ReportOnlineProgress() { control_.Progress(OnlineProgress()); }

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
    *p.mutable_time() = ToProto(o_.clock->Now());
    p.set_message(OnlineMessage());
    return p;
  }

  // Builds, evaluates and uploads a candidate from the current weights. An
  // outcome when the run must end.
  std::optional<RunOutcome> Publish() {
    control_.SetPhase(v1::RUN_PHASE_EVALUATING,
                      absl::StrCat("online: evaluating the candidate after ",
                                   total_updates_, " updates"));
    absl::StatusOr<ModelBundle> bundle = updater_->ExportBundle();
    if (!bundle.ok()) return OnlineError(bundle.status());
    std::vector<std::string> notes = notes_;
    if (skipped_batches_ > 0) {
      notes.push_back(absl::StrCat(skipped_batches_,
                                   " micro-batches were skipped (non-finite "
                                   "values, loss or gradient)"));
    }
    if (recent_.size() > 0) {
      if (absl::Status s = model::UpdateFisherDiagonal(recent_, &*bundle);
          !s.ok()) {
        notes.push_back(absl::StrCat("fisher: not recomputed: ", s.message()));
      }
    }
    if (spec_.family() == v1::MODEL_FAMILY_AUTOENCODER) {
      absl::StatusOr<std::unique_ptr<model::Model>> m =
          model::Model::FromBundle(*bundle);
      absl::StatusOr<float> threshold =
          m.ok() ? model::CalibrateAnomalyThreshold(
                       **m, holdout_, config_.target_false_positive_rate())
                 : absl::StatusOr<float>(m.status());
      if (threshold.ok()) {
        v1::ArtifactManifest* mf = bundle->mutable_manifest();
        mf->mutable_thresholds()->set_anomaly_threshold(*threshold);
        mf->mutable_thresholds()->set_target_false_positive_rate(
            config_.target_false_positive_rate());
      } else {
        notes.push_back(absl::StrCat("threshold: not recalibrated: ",
                                     threshold.status().message()));
      }
    }
    absl::StatusOr<v1::Metrics> metrics = model::Evaluate(*bundle, holdout_);
    if (!metrics.ok()) {
      return OnlineError(
          absl::Status(metrics.status().code(),
                       absl::StrCat("evaluating the candidate on held_out: ",
                                    metrics.status().message())));
    }
    v1::ArtifactManifest* mf = bundle->mutable_manifest();
    *mf->mutable_metrics() = *metrics;
    auto& h = *mf->mutable_hyperparameters();
    h["strategy"] = v1::TrainingStrategy_Name(config_.strategy());
    h["optimizer"] = v1::Optimizer_Name(config_.optimizer().optimizer());
    h["learning_rate"] = absl::StrCat(config_.optimizer().learning_rate());
    h["micro_batch_size"] = absl::StrCat(micro_);
    h["updates"] = absl::StrCat(total_updates_);
    h["replay_ratio"] = absl::StrCat(config_.guards().replay_ratio());
    h["ewc_lambda"] = absl::StrCat(config_.guards().ewc_lambda());
    h["seed"] = absl::StrCat(config_.seed());

    report_ = v1::ValidationReport();
    v1::Evaluation* held_out = report_.add_evaluations();
    held_out->set_evaluation_set("held_out");
    *held_out->mutable_candidate() = *metrics;
    if (parent_version_ > 0) {
      absl::StatusOr<v1::Metrics> baseline = model::Evaluate(parent_, holdout_);
      if (!baseline.ok()) {
        return OnlineError(absl::Status(
            baseline.status().code(),
            absl::StrCat("evaluating version ", parent_version_,
                         " on held_out: ", baseline.status().message())));
      }
      *held_out->mutable_baseline() = *baseline;
      held_out->mutable_baseline_version()->set_model(run_.model());
      held_out->mutable_baseline_version()->set_version(parent_version_);
    }
    report_.set_run(run_.name());
    *report_.mutable_evaluate_time() = ToProto(o_.clock->Now());
    report_.set_notes(absl::StrJoin(notes, "; "));
    const v1::ValidationReport report = report_;
    control_.Update([&](v1::Run* run) {
      *run->mutable_candidate_metrics() = report.evaluations(0).candidate();
      if (report.evaluations(0).has_baseline()) {
        *run->mutable_production_metrics() = report.evaluations(0).baseline();
      }
      *run->mutable_report() = report;
    });
    RecordOnlineCounts();
    result_.candidate = *std::move(bundle);
    result_.holdout_metrics = *metrics;
    *data_window_.mutable_end_time() = ToProto(covered_);
    if (absl::Status s = Finalize(); !s.ok()) return OnlineError(s);
    const RunOutcome upload = Upload();
    if (upload.state != v1::RUN_STATE_SUCCEEDED &&
        upload.state != v1::RUN_STATE_REJECTED) {
      return upload;
    }
    ++published_;
    updates_since_publish_ = 0;
    last_publish_ = o_.clock->Now();
    const bool approved = upload.state == v1::RUN_STATE_SUCCEEDED;
    std::string detail;
    if (approved) {
      parent_ = result_.candidate;
      parent_version_ = last_version_;
      cold_start_ = false;  // Later candidates descend from this version.
      last_rejection_ = absl::OkStatus();
      const v1::TimeWindow window = data_window_;
      control_.Update(
          [&](v1::Run* run) { *run->mutable_data_window() = window; });
      detail = absl::StrCat("candidate version ", last_version_, " approved");
    } else {
      // Go on from the last accepted weights.
      updater_.reset();
      last_rejection_ = upload.error;
      detail = std::string(upload.error.message());
    }
    const bool go_on = control_.CandidateDecided(approved, detail);
    control_.SetPhase(v1::RUN_PHASE_TRAINING, OnlineMessage());
    if (!go_on) {
      RecordOnlineCounts();
      return RunOutcome{
          v1::RUN_STATE_REJECTED,
          absl::FailedPreconditionError(absl::StrCat(
              "the circuit breaker of model ", run_.model(),
              " is open; the online run stopped after candidate version ",
              last_version_, " (", detail, ")"))};
    }
    return std::nullopt;
  }

  RunOutcome ExecuteOnline() {
    online_ = true;
    online_start_ = absl::Now();
    clock_deadline_ =
        o_.clock->Now() + FromProto(config_.resources().max_duration());
    if (absl::Status s = FetchModel(); !s.ok()) return OnlineError(s);
    const v1::OnlineSettings& os = config_.online();
    micro_ = os.micro_batch_size() > 0 ? os.micro_batch_size() : 1000;
    const int64_t every_n =
        os.publish_every_updates() > 0 ? os.publish_every_updates() : 100;
    const absl::Duration every_t = os.has_publish_every()
                                       ? FromProto(os.publish_every())
                                       : absl::Minutes(15);
    format_ = Format(/*anomaly_labels=*/false);
    const int64_t row_bytes =
        4 * (static_cast<int64_t>(spec_.input_dim()) + format_.TargetWidth()) +
        8;
    const int64_t budget_rows = std::max<int64_t>(
        1, config_.resources().memory_budget_bytes() / row_bytes);
    const int64_t pending_cap = std::max<int64_t>(micro_, budget_rows / 2);
    holdout_cap_ = std::clamp<int64_t>(budget_rows / 8, 1, 10000);
    recent_cap_ = std::clamp<int64_t>(budget_rows / 8, 1, 10000);
    rng_.seed(config_.seed());
    pending_.input_dim = format_.input_dim;
    pending_.target_width = format_.TargetWidth();

    watermark_ = run_.data_window().has_start_time()
                     ? FromProto(run_.data_window().start_time())
                     : o_.clock->Now() - FromProto(config_.window());
    covered_ = watermark_;
    *data_window_.mutable_start_time() = ToProto(watermark_);
    *data_window_.mutable_end_time() = ToProto(watermark_);
    {
      const v1::TimeWindow window = data_window_;
      // Nothing trained on yet.
      control_.Update(
          [&](v1::Run* run) { *run->mutable_data_window() = window; });
    }
    last_publish_ = o_.clock->Now();
    if (absl::Status s = LoadReplayPool(budget_rows / 4); !s.ok()) {
      return OnlineError(s);
    }
    control_.SetPhase(
        v1::RUN_PHASE_TRAINING,
        absl::StrCat("online: following data set ", config_.dataset(), " from ",
                     absl::FormatTime(watermark_), " in micro-batches of ",
                     micro_, " rows"));
    bool cut_noted = false;
    while (true) {
      if (Stop()) return EndOnline();
      const absl::Time now = o_.clock->Now();
      if (now > watermark_) {
        v1::ScanRequest scan;
        scan.set_dataset(config_.dataset());
        *scan.mutable_window()->mutable_start_time() = ToProto(watermark_);
        *scan.mutable_window()->mutable_end_time() = ToProto(now);
        scan.set_only_labeled(format_.OnlyLabeled());
        scan.set_batch_size(o_.scan_batch_rows);
        Rows got;
        bool cut = false;
        absl::Status s = ScanInto(
            scan, format_, std::max<int64_t>(0, pending_cap - pending_.size()),
            "new records", &got, &cut);
        if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
          // The collector may come back: poll the same window again.
          spdlog::warn("trainer: {}: online poll failed, retrying: {}",
                       run_.name(), s.ToString());
          Wait(o_.online_poll_interval);
          continue;
        }
        if (!s.ok()) return OnlineError(s);
        if (cut && !cut_noted) {
          cut_noted = true;
          notes_.push_back(absl::StrCat(
              "memory budget: a poll of the collector was cut at ", pending_cap,
              " pending rows; the rest of its window was not "
              "trained on"));
        }
        if (got.size() > 0) {
          pending_.Append(got);
          polls_.emplace_back(watermark_, got.size());
        }
        watermark_ = now;
        if (polls_.empty()) covered_ = watermark_;
      }
      bool trained = false;
      while (pending_.size() >= micro_) {
        if (Stop()) return EndOnline();
        if (absl::Status s = TrainMicroBatch(); !s.ok()) return OnlineError(s);
        trained = true;
        if (updates_since_publish_ >= every_n && holdout_.size() > 0) {
          if (std::optional<RunOutcome> end = Publish(); end.has_value()) {
            return *end;
          }
        }
      }
      if (updates_since_publish_ > 0 && holdout_.size() > 0 &&
          o_.clock->Now() - last_publish_ >= every_t) {
        if (std::optional<RunOutcome> end = Publish(); end.has_value()) {
          return *end;
        }
      }
      if (!trained) Wait(o_.online_poll_interval);
    }
  }

  const TrainingExecutorOptions& o_;
  const v1::Run& run_;
  const v1::TrainingConfig& config_;
  RunControl& control_;
  const absl::Time deadline_;
  bool timed_out_ = false;
  // The window of the candidate: the run's, or for an online run
  // [start, end of the rows trained on so far).
  v1::TimeWindow data_window_;
  int64_t last_version_ = 0;  // of the latest upload

  // Online runs.
  bool online_ = false;
  absl::Time clock_deadline_ = absl::InfiniteFuture();
  int64_t total_updates_ = 0;
  int64_t online_train_rows_ = 0;
  int64_t online_replay_rows_ = 0;
  absl::Time online_start_;
  int64_t micro_ = 1000;
  RowFormat format_;
  int64_t holdout_cap_ = 10000;  // holdout_: the most recent held-out rows
  int64_t recent_cap_ = 10000;
  model::Dataset recent_;  // the most recent training rows (Fisher)
  Rows pending_;           // read, not yet trained on
  // The polls whose rows are pending: window start, rows left.
  std::deque<std::pair<absl::Time, int64_t>> polls_;
  absl::Time watermark_;  // polled up to here
  absl::Time covered_;    // every row before it trained on or held out
  std::unique_ptr<model::OnlineUpdater> updater_;
  bool normalization_fitted_ = false;
  std::mt19937_64 rng_;
  int64_t updates_since_publish_ = 0;
  int64_t skipped_batches_ = 0;
  int64_t published_ = 0;
  double loss_ema_ = 0;
  absl::Time last_publish_;
  absl::Status last_rejection_;

  v1::DatasetSchema schema_;
  ModelBundle parent_;
  int64_t parent_version_ = 0;
  bool cold_start_ = false;
  v1::ModelSpec spec_;
  model::Dataset train_, holdout_, replay_, golden_;
  bool has_replay_ = false;
  bool has_golden_ = false;
  std::vector<std::string> notes_;
  model::TrainResult result_;
  v1::ValidationReport report_;
  std::string bytes_;
  std::string sha256_;
};

}  // namespace

RunOutcome TrainingExecutor::Execute(const v1::Run& run, RunControl& control) {
  Job job(options_, run, control);
  return job.Execute();
}

}  // namespace continuum::trainer
