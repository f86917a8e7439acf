// The learner (learner.h): forgetting guards, optimizer and one step; and
// OnlineUpdater (training.h), a learner updated one micro-batch at a time.
// A LibTorch translation unit: every LibTorch exception that can reach
// OnlineUpdater's callers is caught here and returned as absl::Status.
#include "lib/model/learner.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/sgd.h>

#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/normalization.h"
#include "lib/model/training.h"
#include "lib/model/training_config.h"

namespace continuum::model {

using internal::v1::ModelBundle;

namespace {

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(
    const v1::OptimizerConfig& o, const std::vector<at::Tensor>& params) {
  switch (o.optimizer()) {
    case v1::OPTIMIZER_ADAM:
      return std::make_unique<torch::optim::Adam>(
          params, torch::optim::AdamOptions(o.learning_rate())
                      .betas({o.beta1(), o.beta2()})
                      .eps(o.epsilon())
                      .weight_decay(o.weight_decay()));
    case v1::OPTIMIZER_SGD:
      return std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(o.learning_rate())
                      .momentum(o.momentum())
                      .weight_decay(o.weight_decay()));
    case v1::OPTIMIZER_ADAMW:
    default:
      return std::make_unique<torch::optim::AdamW>(
          params, torch::optim::AdamWOptions(o.learning_rate())
                      .betas({o.beta1(), o.beta2()})
                      .eps(o.epsilon())
                      .weight_decay(o.weight_decay()));
  }
}

// The EWC anchors: (parameter index, (anchor weights, Fisher)) of each
// parameter of `student` that `anchor` has a Fisher tensor for.
std::vector<std::pair<size_t, std::pair<at::Tensor, at::Tensor>>> EwcAnchors(
    const ModelBundle& anchor, const Net& student) {
  std::vector<std::pair<size_t, std::pair<at::Tensor, at::Tensor>>> ewc;
  std::map<std::string, const internal::v1::NamedTensor*> fisher;
  for (const auto& f : anchor.fisher()) fisher[f.name()] = &f;
  for (size_t i = 0; i < student.names.size(); ++i) {
    auto it = fisher.find(student.names[i]);
    if (it == fisher.end()) continue;
    const v1::Tensor& w = anchor.weights(static_cast<int>(i)).tensor();
    const v1::Tensor& f = it->second->tensor();
    std::vector<int64_t> shape(w.shape().begin(), w.shape().end());
    ewc.push_back(
        {i, {CopyToTensor(w.data(), shape), CopyToTensor(f.data(), shape)}});
  }
  return ewc;
}

}  // namespace

// ---------------------------------------------------------------- guards

Guards MakeGuards(const ModelBundle& anchor, const Net& student,
                  const v1::TrainingConfig& config,
                  std::vector<std::string>* notes) {
  Guards g;
  const v1::ForgettingGuards& c = config.guards();
  if (c.ewc_lambda() > 0) {
    if (anchor.fisher_size() == 0) {
      notes->push_back(
          "ewc: the parent bundle has no Fisher diagonal (a cold start?); "
          "EWC is off");
    } else {
      g.ewc = EwcAnchors(anchor, student);
      g.ewc_lambda = c.ewc_lambda();
    }
  }
  if (c.distillation_weight() > 0) {
    if (TaskFamily(student.spec) != v1::MODEL_FAMILY_MLP_CLASSIFIER) {
      notes->push_back(absl::StrCat("distillation: only classifiers distil (",
                                    FamilyName(student.spec.family()),
                                    "); distillation is off"));
    } else {
      g.teacher = BuildNet(anchor, /*trainable=*/false);
      g.distillation_weight = c.distillation_weight();
      g.temperature = c.distillation_temperature();
    }
  }
  return g;
}

at::Tensor AddGuardTerms(const Guards& guards, const Net& student,
                         const at::Tensor& z, const at::Tensor& out,
                         at::Tensor loss, int64_t rows) {
  if (guards.teacher.has_value()) {
    at::Tensor teacher_out;
    {
      at::NoGradGuard no_grad;
      teacher_out = Forward(*guards.teacher, z, nullptr);
    }
    const double t = guards.temperature;
    const double w = guards.distillation_weight;
    at::Tensor kl = at::kl_div(at::log_softmax(out / t, 1),
                               at::log_softmax(teacher_out / t, 1),
                               at::Reduction::Sum, /*log_target=*/true) /
                    static_cast<double>(rows);
    loss = (1 - w) * loss + w * t * t * kl;
  }
  if (!guards.ewc.empty()) {
    at::Tensor penalty = at::zeros({}, at::kFloat);
    for (const auto& [i, anchor] : guards.ewc) {
      penalty =
          penalty +
          (anchor.second * (student.params[i] - anchor.first).pow(2)).sum();
    }
    loss = loss + guards.ewc_lambda / 2 * penalty;
  }
  return loss;
}

// ---------------------------------------------------------------- learner

Learner::Learner(Net net, const v1::TrainingConfig& config, Guards guards,
                 uint64_t seed)
    : net_(std::move(net)),
      guards_(std::move(guards)),
      clip_(config.optimizer().grad_clip_norm()),
      generator_(at::detail::createCPUGenerator(seed)),
      optimizer_(MakeOptimizer(config.optimizer(), net_.params)) {}

Learner::~Learner() = default;
Learner::Learner(Learner&&) = default;
Learner& Learner::operator=(Learner&&) = default;

Learner::StepResult Learner::Step(const float* features, const float* targets,
                                  int64_t rows) {
  Batch b = MakeBatch(net_, features, targets, rows);
  at::Tensor z = Normalize(net_, b.x);
  at::Tensor out = Forward(net_, z, &generator_);
  at::Tensor loss = AddGuardTerms(
      guards_, net_, z, out, FamilyLoss(net_, out, z, b.y, /*per_row=*/false),
      rows);
  StepResult result;
  result.loss = loss.item<double>();
  if (!std::isfinite(result.loss)) return result;
  optimizer_->zero_grad();
  loss.backward();
  if (clip_ > 0) {
    const double norm = ClipGradNorm(net_.params, clip_);
    if (!std::isfinite(norm)) return result;
  }
  optimizer_->step();
  result.applied = true;
  return result;
}

// ---------------------------------------------------------------- online

class OnlineUpdater::Impl {
 public:
  Impl(ModelBundle start, Learner learner)
      : start_(std::move(start)), learner_(std::move(learner)) {}

  absl::StatusOr<double> Update(const Dataset& batch) {
    const Net& net = learner_.net();
    if (absl::Status s =
            CheckDataset(batch, net.spec, "batch", /*check_features=*/false);
        !s.ok()) {
      return s;
    }
    if (batch.size() == 0) {
      return absl::InvalidArgumentError("batch: no rows");
    }
    Learner::StepResult step;
    try {
      std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
      step = learner_.Step(batch.features.data(), batch.targets.data(),
                           batch.size());
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("LibTorch online update: ", e.what()));
    }
    if (!step.applied) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch: the loss (", step.loss,
          ") or the gradient norm is not finite (NaN or infinite features?); "
          "the update was not applied"));
    }
    ++updates_;
    return step.loss;
  }

  absl::StatusOr<ModelBundle> Export() const {
    ModelBundle b = start_;
    try {
      WriteWeights(learner_.net(), &b);
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("LibTorch exporting weights: ", e.what()));
    }
    b.mutable_manifest()->clear_sections();
    b.mutable_manifest()->clear_weights_sha256();
    SetNow(b.mutable_manifest()->mutable_create_time());
    return b;
  }

  int64_t updates() const { return updates_; }

 private:
  const ModelBundle start_;
  Learner learner_;
  int64_t updates_ = 0;
};

OnlineUpdater::OnlineUpdater(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
OnlineUpdater::~OnlineUpdater() = default;

absl::StatusOr<std::unique_ptr<OnlineUpdater>> OnlineUpdater::Create(
    const ModelBundle& start, const v1::TrainingConfig& config) {
  if (absl::Status s = ValidateBundle(start); !s.ok()) return s;
  absl::StatusOr<v1::TrainingConfig> resolved = ResolveTrainingConfig(config);
  if (!resolved.ok()) return resolved.status();
  // NORMALIZATION_POLICY_KEEP (the only policy of an online run): the
  // parent's statistics, floored and bounded (lib/model/normalization.h).
  ModelBundle base = start;
  // (A torchscript module normalises its own inputs: nothing to floor; a
  // forecaster keeps the statistics it was trained with.)
  if (base.manifest().spec().family() != v1::MODEL_FAMILY_TORCHSCRIPT &&
      base.manifest().spec().family() != v1::MODEL_FAMILY_GRU_FORECASTER) {
    if (absl::Status s = Renormalize(
            FloorNormalization(base.manifest().normalization()), &base);
        !s.ok()) {
      return s;
    }
  }
  try {
    Net net = BuildNet(base, /*trainable=*/true);
    std::vector<std::string> notes;
    Guards guards = MakeGuards(base, net, *resolved, &notes);
    Learner learner(std::move(net), *resolved, std::move(guards),
                    resolved->seed() + 1);
    return std::unique_ptr<OnlineUpdater>(
        new OnlineUpdater(std::make_unique<Impl>(base, std::move(learner))));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch building the online updater: ", e.what()));
  }
}

absl::StatusOr<double> OnlineUpdater::Update(const Dataset& batch) {
  return impl_->Update(batch);
}

absl::StatusOr<ModelBundle> OnlineUpdater::ExportBundle() const {
  return impl_->Export();
}

int64_t OnlineUpdater::updates() const { return impl_->updates(); }

}  // namespace continuum::model
