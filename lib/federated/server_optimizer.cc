#include "lib/federated/server_optimizer.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace continuum::federated {
namespace {

struct KindName {
  absl::string_view name;
  ServerOptimizerKind kind;
};
constexpr KindName kKindNames[] = {
    {"none", ServerOptimizerKind::kNone},
    {"sgd", ServerOptimizerKind::kNone},
    {"fedadagrad", ServerOptimizerKind::kAdagrad},
    {"adagrad", ServerOptimizerKind::kAdagrad},
    {"fedyogi", ServerOptimizerKind::kYogi},
    {"yogi", ServerOptimizerKind::kYogi},
    {"fedadam", ServerOptimizerKind::kAdam},
    {"adam", ServerOptimizerKind::kAdam},
};

double DefaultLearningRate(ServerOptimizerKind kind) {
  switch (kind) {
    case ServerOptimizerKind::kNone:
      return 1.0;
    case ServerOptimizerKind::kYogi:
      return 0.01;
    case ServerOptimizerKind::kAdagrad:
    case ServerOptimizerKind::kAdam:
      return 0.1;
  }
  return 1.0;
}

}  // namespace

absl::StatusOr<ServerOptimizerKind> ParseServerOptimizer(
    absl::string_view name) {
  for (const KindName& k : kKindNames) {
    if (k.name == name) return k.kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown server optimizer '", name,
      "'; one of: none, fedadagrad, fedyogi, fedadam"));
}

absl::string_view ServerOptimizerName(ServerOptimizerKind kind) {
  switch (kind) {
    case ServerOptimizerKind::kNone:
      return "none";
    case ServerOptimizerKind::kAdagrad:
      return "fedadagrad";
    case ServerOptimizerKind::kYogi:
      return "fedyogi";
    case ServerOptimizerKind::kAdam:
      return "fedadam";
  }
  return "unknown";
}

absl::StatusOr<ServerOptimizer> ServerOptimizer::Create(
    const ServerOptimizerOptions& options, int64_t num_parameters) {
  // Written so that NaN breaks each rule.
  if (num_parameters < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_parameters must be >= 1 (got ", num_parameters, ")"));
  }
  if (!(options.learning_rate >= 0) || std::isinf(options.learning_rate)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server learning_rate must be > 0 (got ", options.learning_rate, ")"));
  }
  if (!(options.beta1 >= 0 && options.beta1 < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("beta1 must be in [0, 1) (got ", options.beta1, ")"));
  }
  if (!(options.beta2 >= 0 && options.beta2 < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("beta2 must be in [0, 1) (got ", options.beta2, ")"));
  }
  if (!(options.tau > 0) || std::isinf(options.tau)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tau must be > 0 (got ", options.tau, ")"));
  }
  ServerOptimizerOptions resolved = options;
  if (resolved.learning_rate == 0) {
    resolved.learning_rate = DefaultLearningRate(options.kind);
  }
  return ServerOptimizer(resolved, num_parameters);
}

absl::StatusOr<std::vector<float>> ServerOptimizer::Step(
    absl::Span<const float> delta) {
  if (static_cast<int64_t>(delta.size()) != num_parameters_) {
    return absl::InvalidArgumentError(
        absl::StrCat("aggregate has ", delta.size(), " values, expected ",
                     num_parameters_));
  }
  const float eta = static_cast<float>(options_.learning_rate);
  std::vector<float> step(delta.size());
  ++state_.steps;
  if (options_.kind == ServerOptimizerKind::kNone) {
    for (size_t i = 0; i < delta.size(); ++i) step[i] = eta * delta[i];
    return step;
  }
  const float tau = static_cast<float>(options_.tau);
  if (state_.m.empty()) {
    state_.m.assign(delta.size(), 0.0f);
    state_.v.assign(delta.size(), tau * tau);
  }
  const float b1 = static_cast<float>(options_.beta1);
  const float b2 = static_cast<float>(options_.beta2);
  float* m = state_.m.data();
  float* v = state_.v.data();
  for (size_t i = 0; i < delta.size(); ++i) {
    const float d = delta[i];
    const float d2 = d * d;
    m[i] = b1 * m[i] + (1 - b1) * d;
    switch (options_.kind) {
      case ServerOptimizerKind::kAdagrad:
        v[i] = v[i] + d2;
        break;
      case ServerOptimizerKind::kYogi: {
        const float diff = v[i] - d2;
        const float sign = diff > 0 ? 1.0f : (diff < 0 ? -1.0f : 0.0f);
        v[i] = v[i] - (1 - b2) * d2 * sign;
        break;
      }
      case ServerOptimizerKind::kAdam:
        v[i] = b2 * v[i] + (1 - b2) * d2;
        break;
      case ServerOptimizerKind::kNone:
        break;
    }
    step[i] = eta * m[i] / (std::sqrt(v[i]) + tau);
  }
  return step;
}

absl::Status ServerOptimizer::Restore(ServerOptimizerState state) {
  const bool empty = state.m.empty() && state.v.empty();
  const bool sized = static_cast<int64_t>(state.m.size()) == num_parameters_ &&
                     static_cast<int64_t>(state.v.size()) == num_parameters_;
  if (!empty && !sized) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server optimizer state has ", state.m.size(), " and ", state.v.size(),
        " moments, expected ", num_parameters_, " each"));
  }
  if (state.steps < 0) {
    return absl::InvalidArgumentError("server optimizer steps must be >= 0");
  }
  state_ = std::move(state);
  return absl::OkStatus();
}

}  // namespace continuum::federated
