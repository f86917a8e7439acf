#include "lib/model/training_config.h"

#include <cmath>
#include <cstdint>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace continuum::model {
namespace {

// Keeps the first range error of a config: "<field> is <value>; allowed:
// <allowed>".
class RangeChecker {
 public:
  void Check(bool ok, absl::string_view field, double value,
             absl::string_view allowed) {
    if (ok || !status_.ok()) return;
    status_ = absl::InvalidArgumentError(
        absl::StrCat(field, " is ", value, "; allowed: ", allowed));
  }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
};

void ResolveOptimizer(bool full, v1::OptimizerConfig* o, RangeChecker& check) {
  if (o->optimizer() == v1::OPTIMIZER_UNSPECIFIED) {
    o->set_optimizer(v1::OPTIMIZER_ADAMW);
  }
  check.Check(o->learning_rate() >= 0 && std::isfinite(o->learning_rate()),
              "optimizer.learning_rate", o->learning_rate(),
              "> 0 (0 = default)");
  if (o->learning_rate() == 0) o->set_learning_rate(full ? 1e-3 : 1e-4);
  if (!o->has_weight_decay()) o->set_weight_decay(0.01);
  check.Check(o->weight_decay() >= 0, "optimizer.weight_decay",
              o->weight_decay(), ">= 0");
  if (o->beta1() == 0) o->set_beta1(0.9);
  if (o->beta2() == 0) o->set_beta2(0.999);
  if (o->epsilon() == 0) o->set_epsilon(1e-8);
  check.Check(o->beta1() > 0 && o->beta1() < 1, "optimizer.beta1", o->beta1(),
              "(0, 1)");
  check.Check(o->beta2() > 0 && o->beta2() < 1, "optimizer.beta2", o->beta2(),
              "(0, 1)");
  check.Check(o->epsilon() > 0, "optimizer.epsilon", o->epsilon(), "> 0");
  check.Check(o->momentum() >= 0 && o->momentum() < 1, "optimizer.momentum",
              o->momentum(), "[0, 1)");
  if (!o->has_grad_clip_norm()) o->set_grad_clip_norm(1.0);
  check.Check(o->grad_clip_norm() >= 0, "optimizer.grad_clip_norm",
              o->grad_clip_norm(), ">= 0 (0 = no clipping)");
}

// Epochs, batch size, early stopping and the held-out fraction.
void ResolveSchedule(bool full, v1::TrainingConfig* c, RangeChecker& check) {
  check.Check(c->epochs() >= 0, "epochs", c->epochs(), ">= 0 (0 = default)");
  if (c->epochs() == 0) c->set_epochs(full ? 20 : 2);
  check.Check(c->batch_size() >= 0, "batch_size", c->batch_size(),
              ">= 0 (0 = default)");
  if (c->batch_size() == 0) c->set_batch_size(64);
  v1::EarlyStopping* e = c->mutable_early_stopping();
  check.Check(e->patience() >= 0, "early_stopping.patience", e->patience(),
              ">= 0");
  if (e->patience() == 0) e->set_patience(2);
  check.Check(e->min_delta() >= 0, "early_stopping.min_delta", e->min_delta(),
              ">= 0");
  check.Check(c->holdout_fraction() >= 0 && c->holdout_fraction() <= 0.5,
              "holdout_fraction", c->holdout_fraction(), "(0, 0.5] (0 = 0.1)");
  if (c->holdout_fraction() == 0) c->set_holdout_fraction(0.1);
}

void ResolveGuards(v1::ForgettingGuards* g, RangeChecker& check) {
  if (!g->has_replay_ratio()) g->set_replay_ratio(0.3);
  check.Check(g->replay_ratio() >= 0 && g->replay_ratio() <= 0.9,
              "guards.replay_ratio", g->replay_ratio(), "[0, 0.9]");
  check.Check(g->ewc_lambda() >= 0 && std::isfinite(g->ewc_lambda()),
              "guards.ewc_lambda", g->ewc_lambda(), ">= 0");
  check.Check(g->distillation_weight() >= 0 && g->distillation_weight() <= 1,
              "guards.distillation_weight", g->distillation_weight(),
              "[0, 1]");
  check.Check(g->distillation_temperature() >= 0,
              "guards.distillation_temperature", g->distillation_temperature(),
              "> 0 (0 = 2)");
  if (g->distillation_temperature() == 0) g->set_distillation_temperature(2.0);
}

// The false-positive rate, online settings and resources.
void ResolveOther(v1::TrainingConfig* c, RangeChecker& check) {
  check.Check(c->target_false_positive_rate() >= 0 &&
                  c->target_false_positive_rate() < 1,
              "target_false_positive_rate", c->target_false_positive_rate(),
              "(0, 1) (0 = 0.01)");
  if (c->target_false_positive_rate() == 0) {
    c->set_target_false_positive_rate(0.01);
  }
  v1::OnlineSettings* online = c->mutable_online();
  check.Check(online->micro_batch_size() >= 0, "online.micro_batch_size",
              online->micro_batch_size(), ">= 0 (0 = 1000)");
  if (online->micro_batch_size() == 0) online->set_micro_batch_size(1000);
  check.Check(online->publish_every_updates() >= 0,
              "online.publish_every_updates",
              static_cast<double>(online->publish_every_updates()),
              ">= 0 (0 = 100)");
  if (online->publish_every_updates() == 0) {
    online->set_publish_every_updates(100);
  }
  check.Check(c->resources().intra_op_threads() >= 0,
              "resources.intra_op_threads", c->resources().intra_op_threads(),
              ">= 0 (0 = 1)");
}

// A random seed, never 0.
uint64_t RandomSeed() {
  std::random_device device;
  uint64_t seed = 0;
  while (seed == 0) {
    seed = (static_cast<uint64_t>(device()) << 32) | device();
  }
  return seed;
}

}  // namespace

absl::StatusOr<v1::TrainingConfig> ResolveTrainingConfig(
    const v1::TrainingConfig& config) {
  v1::TrainingConfig c = config;
  if (c.strategy() == v1::TRAINING_STRATEGY_UNSPECIFIED) {
    c.set_strategy(v1::TRAINING_STRATEGY_INCREMENTAL);
  }
  const bool full = c.strategy() == v1::TRAINING_STRATEGY_FULL_RETRAIN;
  RangeChecker check;
  ResolveOptimizer(full, c.mutable_optimizer(), check);
  ResolveSchedule(full, &c, check);
  ResolveGuards(c.mutable_guards(), check);
  ResolveOther(&c, check);
  if (!check.status().ok()) return check.status();
  if (full) {
    // The configuration a full retraining actually uses: fresh weights
    // over the whole window, without replay, EWC or distillation.
    c.mutable_guards()->set_replay_ratio(0);
    c.mutable_guards()->set_ewc_lambda(0);
    c.mutable_guards()->set_distillation_weight(0);
  }
  const bool online = c.strategy() == v1::TRAINING_STRATEGY_ONLINE;
  if (!v1::NormalizationPolicy_IsValid(c.normalization())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "normalization: ", c.normalization(),
        " is not a value of continuum.v1.NormalizationPolicy"));
  }
  if (c.normalization() == v1::NORMALIZATION_POLICY_UNSPECIFIED) {
    c.set_normalization(v1::NORMALIZATION_POLICY_KEEP);
  } else if (online && c.normalization() == v1::NORMALIZATION_POLICY_REFIT) {
    return absl::InvalidArgumentError(
        "normalization: NORMALIZATION_POLICY_REFIT needs a batch run's "
        "rows; an online run keeps the parent's normalisation "
        "(NORMALIZATION_POLICY_KEEP)");
  }
  if (c.seed() == 0) c.set_seed(RandomSeed());
  return c;
}

void SetHyperparameters(const v1::TrainingConfig& c,
                        v1::ArtifactManifest* manifest) {
  auto& h = *manifest->mutable_hyperparameters();
  h.clear();
  const v1::OptimizerConfig& o = c.optimizer();
  h["strategy"] = v1::TrainingStrategy_Name(c.strategy());
  h["normalization"] = v1::NormalizationPolicy_Name(c.normalization());
  h["optimizer"] = v1::Optimizer_Name(o.optimizer());
  h["learning_rate"] = absl::StrCat(o.learning_rate());
  h["weight_decay"] = absl::StrCat(o.weight_decay());
  h["grad_clip_norm"] = absl::StrCat(o.grad_clip_norm());
  if (o.optimizer() == v1::OPTIMIZER_SGD) {
    h["momentum"] = absl::StrCat(o.momentum());
  } else {
    h["beta1"] = absl::StrCat(o.beta1());
    h["beta2"] = absl::StrCat(o.beta2());
    h["epsilon"] = absl::StrCat(o.epsilon());
  }
  h["epochs"] = absl::StrCat(c.epochs());
  h["batch_size"] = absl::StrCat(c.batch_size());
  h["early_stopping"] =
      c.early_stopping().disabled()
          ? "off"
          : absl::StrCat("patience ", c.early_stopping().patience(),
                         ", min_delta ", c.early_stopping().min_delta());
  h["replay_ratio"] = absl::StrCat(c.guards().replay_ratio());
  h["ewc_lambda"] = absl::StrCat(c.guards().ewc_lambda());
  h["distillation_weight"] = absl::StrCat(c.guards().distillation_weight());
  h["distillation_temperature"] =
      absl::StrCat(c.guards().distillation_temperature());
  h["seed"] = absl::StrCat(c.seed());
}

}  // namespace continuum::model
