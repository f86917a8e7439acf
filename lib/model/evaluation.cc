#include "lib/model/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "lib/model/forecasting.h"

namespace continuum::model {
namespace {

// Rows per Forward call: bounds the memory of one call.
constexpr int kEvalChunkRows = 4096;
// Smallest probability used in the cross-entropy.
constexpr double kMinProbability = 1e-12;

double SafeDivide(double a, double b) { return b > 0 ? a / b : 0.0; }

void FillClassifier(const v1::ArtifactManifest& manifest, const Dataset& data,
                    const std::vector<float>& outputs, v1::Metrics* m) {
  const int k = manifest.spec().output_dim();
  const int64_t n = data.size();
  const bool binary = k == 2;
  const float decision = manifest.thresholds().has_decision_threshold()
                             ? manifest.thresholds().decision_threshold()
                             : 0.5f;
  std::vector<int64_t> tp(k, 0), fp(k, 0), fn(k, 0), truth(k, 0);
  int64_t correct = 0;
  int64_t benign = 0;
  int64_t benign_flagged = 0;
  double loss = 0;
  for (int64_t r = 0; r < n; ++r) {
    const float* p = outputs.data() + r * k;
    const int y = static_cast<int>(data.targets[r]);
    ++truth[y];
    bool finite = true;
    for (int c = 0; c < k; ++c) finite = finite && std::isfinite(p[c]);
    int predicted = -1;
    if (finite) {
      if (binary) {
        predicted = p[1] >= decision ? 1 : 0;
      } else {
        predicted = static_cast<int>(std::max_element(p, p + k) - p);
      }
    }
    loss += -std::log(std::max(static_cast<double>(p[y]), kMinProbability));
    if (std::isnan(p[y])) loss = std::nan("");
    if (predicted == y) {
      ++correct;
      ++tp[y];
    } else {
      ++fn[y];
      if (predicted >= 0) ++fp[predicted];
    }
    if (y == 0) {
      ++benign;
      if (predicted != 0) ++benign_flagged;
    }
  }
  if (n == 0) return;
  m->set_loss(loss / static_cast<double>(n));
  m->set_accuracy(static_cast<double>(correct) / static_cast<double>(n));
  auto precision = [&](int c) { return SafeDivide(tp[c], tp[c] + fp[c]); };
  auto recall = [&](int c) { return SafeDivide(tp[c], tp[c] + fn[c]); };
  auto f1 = [&](int c) {
    const double p = precision(c), q = recall(c);
    return SafeDivide(2 * p * q, p + q);
  };
  if (binary) {
    m->set_precision(precision(1));
    m->set_recall(recall(1));
    m->set_f1(f1(1));
  } else {
    double sp = 0, sr = 0, sf = 0, sfpr = 0;
    int classes = 0;
    for (int c = 0; c < k; ++c) {
      if (truth[c] == 0 && fp[c] == 0) continue;  // neither true nor predicted
      ++classes;
      sp += precision(c);
      sr += recall(c);
      sf += f1(c);
      // One-vs-rest: negatives are the rows of other classes.
      sfpr += SafeDivide(fp[c], n - truth[c]);
    }
    m->set_precision(sp / classes);
    m->set_recall(sr / classes);
    m->set_f1(sf / classes);
    (*m->mutable_extra())["macro_false_positive_rate"] = sfpr / classes;
  }
  // "Benign" is class 0 of a binary problem. With more classes no class is
  // benign (the registry's false-positive gate would otherwise judge a
  // 10-class model by how often its first class is confused): the rate
  // stays unset, and the gate is skipped.
  if (binary && benign > 0) {
    m->set_false_positive_rate(static_cast<double>(benign_flagged) /
                               static_cast<double>(benign));
  }
}

void FillRegressor(const Dataset& data, const std::vector<float>& outputs,
                   v1::Metrics* m) {
  if (outputs.empty()) return;
  double se = 0, ae = 0;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const double d = static_cast<double>(outputs[i]) - data.targets[i];
    se += d * d;
    ae += std::abs(d);
  }
  const double count = static_cast<double>(outputs.size());
  m->set_loss(se / count);
  m->set_mean_absolute_error(ae / count);
  m->set_root_mean_squared_error(std::sqrt(se / count));
}

// Forecasters: outputs are horizons x series x quantiles per row (sorted
// quantiles), targets horizons x series actuals.
void FillForecaster(const v1::ModelSpec& raw, const Dataset& data,
                    const std::vector<float>& outputs, v1::Metrics* m) {
  if (outputs.empty()) return;
  const v1::ModelSpec spec = ResolveSpec(raw);
  const int q_count = spec.quantiles_size();
  const int median = PointQuantileIndex(spec);
  double pinball = 0, se = 0, ae = 0;
  int64_t inside = 0;
  const size_t actuals = data.targets.size();
  for (size_t i = 0; i < actuals; ++i) {
    const double y = data.targets[i];
    const float* q = outputs.data() + i * q_count;
    for (int j = 0; j < q_count; ++j) {
      const double e = y - q[j];
      const double tau = spec.quantiles(j);
      pinball += std::max(tau * e, (tau - 1) * e);
    }
    const double d = q[median] - y;
    se += d * d;
    ae += std::abs(d);
    if (y >= q[0] && y <= q[q_count - 1]) ++inside;
  }
  const double count = static_cast<double>(actuals);
  m->set_loss(pinball / (count * q_count));
  m->set_mean_absolute_error(ae / count);
  m->set_root_mean_squared_error(std::sqrt(se / count));
  (*m->mutable_extra())["pinball_loss"] = pinball / (count * q_count);
  if (q_count >= 2) {
    (*m->mutable_extra())["interval_coverage"] =
        static_cast<double>(inside) / count;
    (*m->mutable_extra())["interval_nominal"] =
        spec.quantiles(q_count - 1) - spec.quantiles(0);
  }
}

void FillAutoencoder(const v1::ArtifactManifest& manifest, const Dataset& data,
                     const std::vector<float>& scores, v1::Metrics* m) {
  const int64_t n = data.size();
  if (n == 0) return;
  double sum = 0;
  for (float s : scores) sum += s;
  m->set_loss(sum / static_cast<double>(n));
  if (!manifest.thresholds().has_anomaly_threshold()) return;
  const float threshold = manifest.thresholds().anomaly_threshold();
  const bool labelled = !data.targets.empty();
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
  for (int64_t r = 0; r < n; ++r) {
    // A NaN score is flagged: nothing vouches for the row.
    const bool flagged = !(scores[r] <= threshold);
    const bool anomaly = labelled && data.targets[r] == 1;
    if (anomaly) {
      flagged ? ++tp : ++fn;
    } else {
      flagged ? ++fp : ++tn;
    }
  }
  if (fp + tn > 0) {
    m->set_false_positive_rate(static_cast<double>(fp) /
                               static_cast<double>(fp + tn));
  }
  if (labelled) {
    const double p = SafeDivide(tp, tp + fp), q = SafeDivide(tp, tp + fn);
    m->set_accuracy(static_cast<double>(tp + tn) / static_cast<double>(n));
    m->set_precision(p);
    m->set_recall(q);
    m->set_f1(SafeDivide(2 * p * q, p + q));
  }
}

// Forward in chunks.
absl::Status RunModel(const Model& model, const Dataset& data,
                      std::vector<float>* outputs) {
  outputs->clear();
  outputs->reserve(static_cast<size_t>(data.size()) * model.output_dim());
  std::vector<float> chunk;
  for (int64_t start = 0; start < data.size(); start += kEvalChunkRows) {
    const int rows = static_cast<int>(
        std::min<int64_t>(kEvalChunkRows, data.size() - start));
    if (absl::Status s = model.Forward(
            data.features.data() + start * data.input_dim, rows, &chunk);
        !s.ok()) {
      return s;
    }
    outputs->insert(outputs->end(), chunk.begin(), chunk.end());
  }
  return absl::OkStatus();
}

// Indices of up to `k` of `n` rows, uniformly without replacement, sorted.
std::vector<int64_t> SampleRows(int64_t n, int64_t k, uint64_t seed) {
  std::vector<int64_t> rows(n);
  std::iota(rows.begin(), rows.end(), 0);
  if (k >= n) return rows;
  std::mt19937_64 rng(seed);
  for (int64_t i = 0; i < k; ++i) {
    std::uniform_int_distribution<int64_t> pick(i, n - 1);
    std::swap(rows[i], rows[pick(rng)]);
  }
  rows.resize(k);
  std::sort(rows.begin(), rows.end());
  return rows;
}

double Quantile(const std::vector<float>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(position));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (position - lo);
}

// The summary of finite `values`, with the sample taken at `sample_rows`.
v1::FeatureReference Summarize(const std::vector<float>& values,
                               const std::vector<int64_t>& sample_rows,
                               int index) {
  v1::FeatureReference f;
  f.set_index(index);
  if (values.empty()) return f;
  double mean = 0, m2 = 0;
  float lo = values[0], hi = values[0];
  int64_t count = 0;
  for (float v : values) {
    ++count;
    const double d = v - mean;
    mean += d / static_cast<double>(count);
    m2 += d * (v - mean);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  f.set_mean(mean);
  f.set_variance(m2 / static_cast<double>(count));
  f.set_min(lo);
  f.set_max(hi);
  std::vector<float> sample;
  sample.reserve(sample_rows.size());
  for (int64_t r : sample_rows) sample.push_back(values[r]);
  for (float v : sample) f.add_sample(v);
  std::sort(sample.begin(), sample.end());
  std::vector<double> edges = {lo};
  for (int i = 1; i < kReferenceBins; ++i) {
    const double e = Quantile(sample, static_cast<double>(i) / kReferenceBins);
    if (e > edges.back() && e < hi) edges.push_back(e);
  }
  edges.push_back(hi);  // == lo for a constant feature: one bin [lo, lo]
  std::vector<int64_t> counts(edges.size() - 1, 0);
  for (float v : values) {
    const size_t bin = std::upper_bound(edges.begin() + 1, edges.end() - 1,
                                        static_cast<double>(v)) -
                       (edges.begin() + 1);
    ++counts[bin];
  }
  for (double e : edges) f.add_bin_edges(e);
  for (int64_t c : counts) f.add_bin_counts(c);
  return f;
}

}  // namespace

absl::StatusOr<v1::Metrics> EvaluateOutputs(
    const v1::ArtifactManifest& manifest, const Dataset& data,
    const std::vector<float>& outputs) {
  const v1::ModelSpec& spec = manifest.spec();
  const int width = OutputWidth(spec);
  if (static_cast<int64_t>(outputs.size()) != data.size() * width) {
    return absl::InvalidArgumentError(absl::StrCat(
        outputs.size(), " outputs for ", data.size(), " rows of ", width));
  }
  if (absl::Status s = CheckDataset(data, spec, "evaluation data"); !s.ok()) {
    return s;
  }
  v1::Metrics m;
  m.set_sample_count(data.size());
  int64_t bad = 0;
  bool any = false;
  float lo = 0, hi = 0;
  for (float v : outputs) {
    if (!std::isfinite(v)) {
      ++bad;
      continue;
    }
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
  }
  m.set_nan_inf_count(bad);
  if (any) {
    m.set_output_min(lo);
    m.set_output_max(hi);
  }
  switch (TaskFamily(spec)) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      FillClassifier(manifest, data, outputs, &m);
      break;
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      FillRegressor(data, outputs, &m);
      break;
    case v1::MODEL_FAMILY_AUTOENCODER:
      FillAutoencoder(manifest, data, outputs, &m);
      break;
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      FillForecaster(spec, data, outputs, &m);
      break;
    default:
      return absl::UnimplementedError(
          absl::StrCat("evaluation of ", FamilyName(spec.family()), " models"));
  }
  return m;
}

absl::StatusOr<v1::Metrics> Evaluate(const Model& model, const Dataset& data) {
  v1::ArtifactManifest manifest = model.bundle().manifest();
  *manifest.mutable_spec() = ResolveSpec(manifest.spec());
  if (absl::Status s = CheckDataset(data, manifest.spec(), "evaluation data");
      !s.ok()) {
    return s;
  }
  std::vector<float> outputs;
  if (absl::Status s = RunModel(model, data, &outputs); !s.ok()) return s;
  return EvaluateOutputs(manifest, data, outputs);
}

absl::StatusOr<v1::Metrics> Evaluate(const internal::v1::ModelBundle& bundle,
                                     const Dataset& data) {
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(bundle);
  if (!model.ok()) return model.status();
  return Evaluate(**model, data);
}

absl::StatusOr<float> CalibrateAnomalyThreshold(
    std::vector<float> scores, double target_false_positive_rate) {
  if (scores.empty()) {
    return absl::InvalidArgumentError(
        "calibrating the anomaly threshold needs benign rows; there are none");
  }
  if (!(target_false_positive_rate >= 0 && target_false_positive_rate < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target false-positive rate ", target_false_positive_rate,
                     " is outside [0, 1)"));
  }
  for (size_t i = 0; i < scores.size(); ++i) {
    if (!std::isfinite(scores[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("anomaly score of benign row ", i, " is ", scores[i]));
    }
  }
  const auto n = static_cast<int64_t>(scores.size());
  const auto m = static_cast<int64_t>(
      std::floor(target_false_positive_rate * static_cast<double>(n)));
  // The (m + 1)-th largest: index n - 1 - m in ascending order.
  auto nth = scores.begin() + (n - 1 - m);
  std::nth_element(scores.begin(), nth, scores.end());
  return std::max(0.0f, *nth);
}

absl::StatusOr<float> CalibrateAnomalyThreshold(
    const Model& model, const Dataset& benign,
    double target_false_positive_rate) {
  const v1::ModelSpec spec = ResolveSpec(model.bundle().manifest().spec());
  if (TaskFamily(spec) != v1::MODEL_FAMILY_AUTOENCODER) {
    return absl::InvalidArgumentError(
        absl::StrCat("anomaly thresholds are for anomaly scores, not ",
                     FamilyName(spec.family())));
  }
  if (absl::Status s = CheckDataset(benign, spec, "benign data"); !s.ok()) {
    return s;
  }
  std::vector<float> scores;
  if (absl::Status s = RunModel(model, benign, &scores); !s.ok()) return s;
  if (!benign.targets.empty()) {
    std::vector<float> kept;
    for (size_t r = 0; r < scores.size(); ++r) {
      if (benign.targets[r] == 0) kept.push_back(scores[r]);
    }
    scores = std::move(kept);
  }
  return CalibrateAnomalyThreshold(std::move(scores),
                                   target_false_positive_rate);
}

v1::ReferenceStatistics ComputeReferenceStatistics(const Dataset& data,
                                                   uint64_t seed) {
  v1::ReferenceStatistics ref;
  const int64_t n = data.size();
  ref.set_sample_count(n);
  if (n == 0) return ref;
  const std::vector<int64_t> rows = SampleRows(n, kReferenceSampleSize, seed);
  std::vector<float> column(n);
  for (int j = 0; j < data.input_dim; ++j) {
    for (int64_t r = 0; r < n; ++r) {
      column[r] = data.features[r * data.input_dim + j];
    }
    *ref.add_features() = Summarize(column, rows, j);
  }
  return ref;
}

v1::FeatureReference SummarizeValues(const std::vector<float>& values,
                                     int index, uint64_t seed) {
  std::vector<float> finite;
  finite.reserve(values.size());
  for (float v : values) {
    if (std::isfinite(v)) finite.push_back(v);
  }
  return Summarize(finite,
                   SampleRows(static_cast<int64_t>(finite.size()),
                              kReferenceSampleSize, seed),
                   index);
}

}  // namespace continuum::model
