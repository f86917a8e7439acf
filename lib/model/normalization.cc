#include "lib/model/normalization.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using internal::v1::NamedTensor;

constexpr double kMinStd = 1e-6;

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  const size_t mid = values.size() / 2;
  std::nth_element(values.begin(), values.begin() + mid, values.end());
  return values[mid];
}

// `sd` raised to `floor`; 1 when still (about) zero.
float Floored(double sd, double floor) {
  const double s = std::max(sd, floor);
  return s < kMinStd ? 1.0f : static_cast<float>(s);
}

// The deviations of `stats`, or 1 per feature when it is empty (identity);
// a deviation <= 0 reads as 1 (common.proto: std == 0 is treated as 1).
std::vector<double> Deviations(const v1::NormalizationStats& stats,
                               int width) {
  std::vector<double> s(width, 1.0);
  for (int j = 0; j < width && j < stats.std_size(); ++j) {
    if (stats.std(j) > 0) s[j] = stats.std(j);
  }
  return s;
}

std::vector<double> Means(const v1::NormalizationStats& stats, int width) {
  std::vector<double> m(width, 0.0);
  for (int j = 0; j < width && j < stats.mean_size(); ++j) m[j] = stats.mean(j);
  return m;
}

NamedTensor* Find(google::protobuf::RepeatedPtrField<NamedTensor>* tensors,
                  const std::string& name) {
  for (NamedTensor& t : *tensors) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}

// The index of the last layer (the highest `layers.{i}.weight`), or -1.
int LastLayer(const ModelBundle& bundle) {
  int last = -1;
  for (const NamedTensor& t : bundle.weights()) {
    absl::string_view name = t.name();
    int i = 0;
    if (absl::ConsumePrefix(&name, "layers.") &&
        absl::ConsumeSuffix(&name, ".weight") && absl::SimpleAtoi(name, &i)) {
      last = std::max(last, i);
    }
  }
  return last;
}

// Columns of the first layer: W' = W diag(s'/s), b' = b + W ((m' - m)/s);
// its Fisher entries F' = F (s/s')^2.
void RewriteInputs(int in, const std::vector<double>& s,
                   const std::vector<double>& m, const std::vector<double>& s2,
                   const std::vector<double>& m2, NamedTensor* weight,
                   NamedTensor* bias, NamedTensor* fisher_weight) {
  const int out = bias->tensor().data_size();
  auto* w = weight->mutable_tensor()->mutable_data();
  auto* b = bias->mutable_tensor()->mutable_data();
  for (int o = 0; o < out; ++o) {
    double shift = 0;
    for (int j = 0; j < in; ++j) {
      const int64_t k = static_cast<int64_t>(o) * in + j;
      shift += static_cast<double>(w->Get(k)) * (m2[j] - m[j]) / s[j];
      w->Set(k, static_cast<float>(w->Get(k) * s2[j] / s[j]));
    }
    b->Set(o, static_cast<float>(b->Get(o) + shift));
  }
  if (fisher_weight != nullptr &&
      fisher_weight->tensor().data_size() == static_cast<int64_t>(out) * in) {
    auto* f = fisher_weight->mutable_tensor()->mutable_data();
    for (int o = 0; o < out; ++o) {
      for (int j = 0; j < in; ++j) {
        const int64_t k = static_cast<int64_t>(o) * in + j;
        const double r = s[j] / s2[j];
        f->Set(k, static_cast<float>(f->Get(k) * r * r));
      }
    }
  }
}

// Rows of an autoencoder's last layer (it reconstructs z):
// W_L' = diag(s/s') W_L, b_L' = (s b_L + m - m')/s'; Fisher F' = F (s'/s)^2.
void RewriteReconstruction(int in, const std::vector<double>& s,
                           const std::vector<double>& m,
                           const std::vector<double>& s2,
                           const std::vector<double>& m2, NamedTensor* weight,
                           NamedTensor* bias, NamedTensor* fisher_weight,
                           NamedTensor* fisher_bias) {
  const int out = bias->tensor().data_size();  // == input width
  auto* w = weight->mutable_tensor()->mutable_data();
  auto* b = bias->mutable_tensor()->mutable_data();
  for (int j = 0; j < out; ++j) {
    const double r = s[j] / s2[j];
    for (int i = 0; i < in; ++i) {
      const int64_t k = static_cast<int64_t>(j) * in + i;
      w->Set(k, static_cast<float>(w->Get(k) * r));
    }
    b->Set(j, static_cast<float>((s[j] * b->Get(j) + m[j] - m2[j]) / s2[j]));
  }
  auto scale = [&](NamedTensor* f, int row_width) {
    if (f == nullptr ||
        f->tensor().data_size() != static_cast<int64_t>(out) * row_width) {
      return;
    }
    auto* d = f->mutable_tensor()->mutable_data();
    for (int j = 0; j < out; ++j) {
      const double r = s2[j] / s[j];
      for (int i = 0; i < row_width; ++i) {
        const int64_t k = static_cast<int64_t>(j) * row_width + i;
        d->Set(k, static_cast<float>(d->Get(k) * r * r));
      }
    }
  };
  scale(fisher_weight, in);
  scale(fisher_bias, 1);
}

// Per-column mean, population standard deviation, minimum and maximum of
// the rows of `width` in `parts`, taken in turn, in one pass (Welford).
struct Columns {
  std::vector<double> mean, sd, lo, hi;
  int64_t rows = 0;
};

Columns FitColumns(int width,
                   std::initializer_list<absl::Span<const float>> parts) {
  Columns c;
  c.mean.assign(width, 0);
  c.lo.assign(width, std::numeric_limits<double>::infinity());
  c.hi.assign(width, -std::numeric_limits<double>::infinity());
  std::vector<double> m2(width, 0);
  for (absl::Span<const float> values : parts) {
    const int64_t rows =
        width > 0 ? static_cast<int64_t>(values.size()) / width : 0;
    for (int64_t i = 0; i < rows; ++i) {
      ++c.rows;
      for (int f = 0; f < width; ++f) {
        const double x = values[i * width + f];
        const double delta = x - c.mean[f];
        c.mean[f] += delta / static_cast<double>(c.rows);
        m2[f] += delta * (x - c.mean[f]);
        c.lo[f] = std::min(c.lo[f], x);
        c.hi[f] = std::max(c.hi[f], x);
      }
    }
  }
  c.sd.assign(width, c.rows > 0 ? 0 : 1);
  for (int f = 0; f < width && c.rows > 0; ++f) {
    c.sd[f] = std::sqrt(m2[f] / static_cast<double>(c.rows));
  }
  return c;
}

}  // namespace

v1::NormalizationStats FitNormalization(int width,
                                        absl::Span<const float> values,
                                        absl::Span<const float> more) {
  const Columns c = FitColumns(width, {values, more});
  v1::NormalizationStats out;
  out.set_clip(kNormalizedClip);
  const double median = Median(c.sd);
  for (int f = 0; f < width; ++f) {
    const double range = c.rows > 0 ? c.hi[f] - c.lo[f] : 0;
    const double floor = kRelativeStdFloor * std::min(range, median);
    out.add_mean(static_cast<float>(c.mean[f]));
    out.add_std(Floored(c.sd[f], floor));
  }
  return out;
}

v1::NormalizationStats FitTargetNormalization(int width,
                                              absl::Span<const float> values) {
  const Columns c = FitColumns(width, {values});
  v1::NormalizationStats out;
  for (int f = 0; f < width; ++f) {
    out.add_mean(static_cast<float>(c.mean[f]));
    out.add_std(Floored(c.sd[f], 0));
  }
  return out;
}

v1::NormalizationStats FloorNormalization(
    const v1::NormalizationStats& stats) {
  v1::NormalizationStats out = stats;
  out.set_clip(kNormalizedClip);
  std::vector<double> sd(stats.std().begin(), stats.std().end());
  const double floor = kRelativeStdFloor * Median(sd);
  for (int f = 0; f < out.std_size(); ++f) {
    out.set_std(f, Floored(out.std(f), floor));
  }
  return out;
}

absl::Status Renormalize(const v1::NormalizationStats& to,
                         ModelBundle* bundle) {
  const int in = bundle->manifest().spec().input_dim();
  if (to.mean_size() != in || to.std_size() != in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "new normalisation has ", to.mean_size(), " means and ",
        to.std_size(), " deviations; the model takes ", in, " inputs"));
  }
  if (bundle->manifest().spec().family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    // Its series are read relative to each window's last value and its
    // outputs scaled by their deviations: no rewrite of the first layer
    // keeps its function under other statistics.
    return absl::InvalidArgumentError(
        "a gru_forecaster keeps the normalisation it was trained with; "
        "retrain it (full retrain) to fit new statistics");
  }
  const v1::NormalizationStats& from = bundle->manifest().normalization();
  const std::vector<double> s = Deviations(from, in), m = Means(from, in);
  const std::vector<double> s2 = Deviations(to, in), m2 = Means(to, in);
  NamedTensor* w0 = Find(bundle->mutable_weights(), "layers.0.weight");
  NamedTensor* b0 = Find(bundle->mutable_weights(), "layers.0.bias");
  if (w0 == nullptr || b0 == nullptr || b0->tensor().data_size() == 0 ||
      w0->tensor().data_size() !=
          static_cast<int64_t>(b0->tensor().data_size()) * in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the bundle has no first layer (layers.0.weight [out, ", in,
        "], layers.0.bias) to renormalise"));
  }
  RewriteInputs(in, s, m, s2, m2, w0, b0,
                Find(bundle->mutable_fisher(), "layers.0.weight"));
  if (bundle->manifest().spec().family() == v1::MODEL_FAMILY_AUTOENCODER) {
    const int last = LastLayer(*bundle);
    const std::string w_name = absl::StrCat("layers.", last, ".weight");
    const std::string b_name = absl::StrCat("layers.", last, ".bias");
    NamedTensor* wl = Find(bundle->mutable_weights(), w_name);
    NamedTensor* bl = Find(bundle->mutable_weights(), b_name);
    if (wl == nullptr || bl == nullptr || bl->tensor().data_size() != in ||
        wl->tensor().data_size() % in != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the autoencoder's last layer (", w_name,
          ") does not reconstruct its ", in, " inputs"));
    }
    const int width = static_cast<int>(wl->tensor().data_size() / in);
    RewriteReconstruction(width, s, m, s2, m2, wl, bl,
                          Find(bundle->mutable_fisher(), w_name),
                          Find(bundle->mutable_fisher(), b_name));
  }
  *bundle->mutable_manifest()->mutable_normalization() = to;
  return absl::OkStatus();
}

}  // namespace continuum::model
