// Internal to lib/model, for its LibTorch .cc files only (training.cc,
// learner.cc): a network (training_net.h) with its optimizer and its
// forgetting guards, stepped one batch at a time. Train runs one for a
// whole run; OnlineUpdater (training.h, implemented in learner.cc) wraps
// one behind its plain interface.
//
// The guards (training.h, Train): EWC adds ewc_lambda / 2 * sum_i F_i
// (theta_i - anchor_i)^2 over the parameters the anchor bundle has a Fisher
// tensor for; distillation (classifiers) makes the loss (1 - w) * loss +
// w * T^2 * KL(softmax(teacher / T) || softmax(student / T)).
//
// Includes LibTorch: never include it from a header that services see.
// Constructors and Step may throw (LibTorch); callers catch at lib/model's
// boundary. Step runs under the BLAS lock (blas_lock.h), which the caller
// holds. Not thread-safe: one caller at a time.
#ifndef CONTINUUM_LIB_MODEL_LEARNER_H_
#define CONTINUUM_LIB_MODEL_LEARNER_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/model/training_net.h"

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace continuum::model {

// The forgetting guards of a run.
struct Guards {
  // EWC: penalty ewc_lambda / 2 * sum F (theta - anchor)^2 over the
  // parameters that have a Fisher tensor (index into Net::params, then
  // (anchor weights, Fisher)).
  double ewc_lambda = 0;
  std::vector<std::pair<size_t, std::pair<at::Tensor, at::Tensor>>> ewc;
  // Distillation from `teacher` (classifiers).
  double distillation_weight = 0;
  double temperature = 2;
  std::optional<Net> teacher;
};

// The guards of the effective `config` against `anchor` (the parent bundle)
// for the network `student` built from it, with notes on what is off and
// why (no Fisher diagonal in the anchor; distillation of a non-classifier).
Guards MakeGuards(const internal::v1::ModelBundle& anchor, const Net& student,
                  const v1::TrainingConfig& config,
                  std::vector<std::string>* notes);

// `loss` (the family's, of the student's raw output `out` on normalised
// inputs `z`, a batch of `rows` rows) with the guards' terms added.
at::Tensor AddGuardTerms(const Guards& guards, const Net& student,
                         const at::Tensor& z, const at::Tensor& out,
                         at::Tensor loss, int64_t rows);

// A network, its optimizer and its guards: one optimizer step at a time.
class Learner {
 public:
  // `config` is the effective one (ResolveTrainingConfig): its optimizer
  // (AdamW, Adam or SGD with momentum) and gradient clipping. `seed` seeds
  // the dropout masks.
  Learner(Net net, const v1::TrainingConfig& config, Guards guards,
          uint64_t seed);
  ~Learner();
  Learner(Learner&&);
  Learner& operator=(Learner&&);

  struct StepResult {
    double loss = 0;
    bool applied = false;  // false: non-finite loss or gradient norm
  };

  // One optimizer step on `rows` rows (targets null for autoencoders):
  // forward with dropout, the family's loss plus the guards, backward,
  // gradient clipping, step. A non-finite loss or gradient norm leaves the
  // weights unchanged (applied false). Call under the BLAS lock.
  StepResult Step(const float* features, const float* targets, int64_t rows);

  Net& net() { return net_; }
  const Net& net() const { return net_; }

 private:
  Net net_;
  Guards guards_;
  double clip_;
  at::Generator generator_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_LEARNER_H_
