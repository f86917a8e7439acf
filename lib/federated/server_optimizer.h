// Server-side optimisers of federated rounds (Reddi et al. 2021, "Adaptive
// Federated Optimization", Algorithm 2): the round's aggregate update
// Delta_t is treated as a pseudo-gradient and the coordinator moves the
// global parameters x by
//
//   m_t = beta1 m_{t-1} + (1 - beta1) Delta_t
//   v_t = v_{t-1} + Delta_t^2                                    FedAdagrad
//   v_t = v_{t-1} - (1 - beta2) Delta_t^2 sign(v_{t-1} - Delta_t^2)  FedYogi
//   v_t = beta2 v_{t-1} + (1 - beta2) Delta_t^2                  FedAdam
//   x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau)
//
// with m_{-1} = 0 and v_{-1} = tau^2 (the paper's v_{-1} >= tau^2) and no
// bias correction (the paper has none). kNone is plain FedAvg:
// x_{t+1} = x_t + eta Delta_t (eta = 1 by default). The moments are the
// coordinator's aggregation state: State() and Restore() let it persist
// them between rounds and across restarts.
//
// Not thread-safe (one per model, used by the round that aggregates).
#ifndef CONTINUUM_LIB_FEDERATED_SERVER_OPTIMIZER_H_
#define CONTINUUM_LIB_FEDERATED_SERVER_OPTIMIZER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace continuum::federated {

enum class ServerOptimizerKind { kNone, kAdagrad, kYogi, kAdam };

// "none" (or "sgd"), "fedadagrad", "fedyogi", "fedadam" (also without the
// "fed" prefix); INVALID_ARGUMENT listing them otherwise.
absl::StatusOr<ServerOptimizerKind> ParseServerOptimizer(absl::string_view name);
absl::string_view ServerOptimizerName(ServerOptimizerKind kind);

struct ServerOptimizerOptions {
  ServerOptimizerKind kind = ServerOptimizerKind::kNone;
  // eta, > 0. 0 = the kind's default: 1 for kNone, 0.1 for FedAdagrad and
  // FedAdam, 0.01 for FedYogi (Flower's defaults).
  double learning_rate = 0;
  // In [0, 1).
  double beta1 = 0.9;
  // In [0, 1).
  double beta2 = 0.99;
  // Adaptivity tau, > 0: the paper's experiments found 1e-3 a good default.
  double tau = 1e-3;
};

// What a coordinator persists between rounds.
struct ServerOptimizerState {
  int64_t steps = 0;
  std::vector<float> m;  // empty until the first step, or for kNone
  std::vector<float> v;
};

class ServerOptimizer {
 public:
  // INVALID_ARGUMENT for options out of range or num_parameters < 1.
  static absl::StatusOr<ServerOptimizer> Create(
      const ServerOptimizerOptions& options, int64_t num_parameters);

  // The change to add to the global parameters for the round's aggregate
  // `delta` (which must have num_parameters values; INVALID_ARGUMENT
  // otherwise), updating the moments.
  absl::StatusOr<std::vector<float>> Step(absl::Span<const float> delta);

  const ServerOptimizerState& State() const { return state_; }
  // INVALID_ARGUMENT if `state`'s moments do not have num_parameters values
  // (or are not both empty before a first step).
  absl::Status Restore(ServerOptimizerState state);

  const ServerOptimizerOptions& options() const { return options_; }

 private:
  ServerOptimizer(const ServerOptimizerOptions& options, int64_t n)
      : options_(options), num_parameters_(n) {}

  ServerOptimizerOptions options_;
  int64_t num_parameters_;
  ServerOptimizerState state_;
};

}  // namespace continuum::federated

#endif  // CONTINUUM_LIB_FEDERATED_SERVER_OPTIMIZER_H_
