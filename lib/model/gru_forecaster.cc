// The GRU forecaster (gru_forecaster.h). A LibTorch translation unit.
#include "lib/model/gru_forecaster.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <exception>
#include <memory>
#include <mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/training_net.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;

at::Tensor Dropout(const at::Tensor& h, double p, at::Generator* generator) {
  if (generator == nullptr || p <= 0) return h;
  at::Tensor keep = at::empty_like(h).bernoulli_(1.0 - p, *generator);
  return h * keep / (1.0 - p);
}

// Serves a forecaster bundle: the network as training holds it (Net), so
// a trained bundle serves exactly as it trained. Every forward runs under
// the BLAS lock (the GRU's matrix products go to the serial OpenBLAS).
class ForecasterModel final : public Model {
 public:
  explicit ForecasterModel(ModelBundle bundle)
      : bundle_(std::move(bundle)),
        net_(BuildNet(bundle_, /*trainable=*/false)),
        input_dim_(static_cast<int>(InputWidth(net_.spec))),
        output_dim_(OutputWidth(net_.spec)) {}

  int input_dim() const override { return input_dim_; }
  int output_dim() const override { return output_dim_; }
  const ModelBundle& bundle() const override { return bundle_; }

  absl::Status Forward(const float* rows, int n,
                       std::vector<float>* out) const override {
    if (n < 0) return absl::InvalidArgumentError(absl::StrCat("n is ", n));
    if (n > 0 && rows == nullptr) {
      return absl::InvalidArgumentError("rows is null");
    }
    out->clear();
    if (n == 0) return absl::OkStatus();
    std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
    try {
      c10::InferenceMode guard;
      at::Tensor x = at::from_blob(const_cast<float*>(rows),
                                   {n, input_dim()}, at::kFloat);
      at::Tensor z = Normalize(net_, x);
      at::Tensor y =
          ForecasterServingOutput(net_.spec,
                                  ForecasterForward(net_.spec, net_.params, z,
                                                    /*generator=*/nullptr),
                                  x, net_.std)
              .contiguous();
      if (y.numel() != static_cast<int64_t>(n) * output_dim()) {
        return absl::InternalError(absl::StrCat("forward produced ", y.numel(),
                                                " values for ", n, " rows of ",
                                                output_dim()));
      }
      const float* p = y.data_ptr<float>();
      out->assign(p, p + y.numel());
      return absl::OkStatus();
    } catch (const std::exception& e) {
      out->clear();
      return absl::InternalError(absl::StrCat("LibTorch forward: ", e.what()));
    }
  }

 private:
  const ModelBundle bundle_;
  const Net net_;
  // Values per window and per forecast; asked for on every request.
  const int input_dim_;
  const int output_dim_;
};

}  // namespace

at::Tensor ForecasterForward(const v1::ModelSpec& spec,
                             const std::vector<at::Tensor>& params,
                             const at::Tensor& z, at::Generator* generator) {
  const int64_t batch = z.size(0);
  const int64_t steps = spec.sequence_length();
  const int64_t hidden = spec.hidden_sizes(0);
  const int layers = spec.num_layers();
  const double dropout = spec.dropout();
  at::Tensor h = z.reshape({batch, steps, spec.input_dim()});
  for (int k = 0; k < layers; ++k) {
    at::Tensor h0 = at::zeros({1, batch, hidden}, z.options());
    std::vector<at::Tensor> layer = {params[4 * k], params[4 * k + 1],
                                     params[4 * k + 2], params[4 * k + 3]};
    h = std::get<0>(at::gru(h, h0, layer, /*has_biases=*/true,
                            /*num_layers=*/1, /*dropout=*/0.0,
                            /*train=*/false, /*bidirectional=*/false,
                            /*batch_first=*/true));
    if (k + 1 < layers) h = Dropout(h, dropout, generator);
  }
  at::Tensor last = Dropout(h.select(1, steps - 1), dropout, generator);
  return at::linear(last, params[4 * layers], params[4 * layers + 1]);
}

at::Tensor ForecastAnchor(const v1::ModelSpec& spec, const at::Tensor& x) {
  const int64_t f = spec.input_dim();
  const int64_t last = (spec.sequence_length() - 1) * f;
  return x.narrow(1, last, spec.output_dim());
}

namespace {

// The series' deviations [S] (undefined std = 1).
at::Tensor SeriesStd(const v1::ModelSpec& spec, const at::Tensor& std) {
  return std.defined() ? std.narrow(0, 0, spec.output_dim()) : std;
}

}  // namespace

at::Tensor NormalizeWindows(const v1::ModelSpec& spec, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& std,
                            float clip) {
  const int64_t rows = x.size(0);
  const int64_t series = spec.output_dim();
  at::Tensor steps = x.reshape({rows, -1, spec.input_dim()});
  // Subtracting the anchor from the series makes their mean cancel:
  // covariates use (x - mean), series (x - anchor).
  at::Tensor origin =
      mean.defined() ? mean.expand({rows, 1, spec.input_dim()}).clone()
                     : at::zeros({rows, 1, spec.input_dim()}, x.options());
  origin.narrow(2, 0, series)
      .copy_(ForecastAnchor(spec, x).view({rows, 1, series}));
  at::Tensor z = steps - origin;
  if (std.defined()) z = z / std;
  if (clip > 0) z = z.clamp(-clip, clip);
  return z.reshape({rows, -1});
}

at::Tensor RelativeTargets(const v1::ModelSpec& spec, const at::Tensor& y,
                           const at::Tensor& x, const at::Tensor& std) {
  const int64_t rows = y.size(0);
  const int64_t series = spec.output_dim();
  at::Tensor t = y.reshape({rows, -1, series}) -
                 ForecastAnchor(spec, x).view({rows, 1, series});
  if (std.defined()) t = t / SeriesStd(spec, std);
  return t.reshape({rows, -1});
}

at::Tensor PinballLoss(const v1::ModelSpec& spec, const at::Tensor& out,
                       const at::Tensor& y, bool per_row) {
  const int64_t batch = out.size(0);
  const int64_t q_count = spec.quantiles_size();
  std::vector<float> qs(spec.quantiles().begin(), spec.quantiles().end());
  at::Tensor q = at::tensor(at::ArrayRef<float>(qs)).view({1, 1, q_count});
  at::Tensor e = y.reshape({batch, -1, 1}) - out.view({batch, -1, q_count});
  at::Tensor loss = at::max(q * e, (q - 1) * e);
  return per_row ? loss.mean({1, 2}) : loss.mean();
}

at::Tensor ForecasterServingOutput(const v1::ModelSpec& spec,
                                   const at::Tensor& out, const at::Tensor& x,
                                   const at::Tensor& std) {
  const int64_t batch = out.size(0);
  const int64_t series = spec.output_dim();
  at::Tensor o = out.view({batch, spec.horizons_size(), series,
                           spec.quantiles_size()});
  if (std.defined()) o = o * SeriesStd(spec, std).view({1, 1, series, 1});
  o = o + ForecastAnchor(spec, x).view({batch, 1, series, 1});
  return std::get<0>(o.sort(-1)).reshape({batch, -1});
}

absl::StatusOr<std::unique_ptr<Model>> BuildForecasterModel(
    const ModelBundle& bundle) {
  try {
    return std::unique_ptr<Model>(std::make_unique<ForecasterModel>(bundle));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch building the forecaster: ", e.what()));
  }
}

}  // namespace continuum::model
