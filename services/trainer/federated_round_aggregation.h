// The arithmetic of one federated round, between its last update and its
// candidate (federated_coordinator.h, AGGREGATING): the DP clipping (the
// coordinator's; the sites' under secure aggregation), outlier exclusion on
// update norms, the rule (lib/federated/aggregation.h), DP noise z C / m on
// the mean with the RDP accountant's step and adaptive clipping, and the
// server optimiser's step. Pure: the coordinator reads the round's updates
// and its model's state under its lock, calls this without it, and applies
// the result (trust, state, the round's record) under the lock again.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_ROUND_AGGREGATION_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_ROUND_AGGREGATION_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/federated.pb.h"
#include "services/trainer/federated_store.h"

namespace continuum::trainer {

struct RoundAggregation {
  // Not OK: the round fails with it (too few updates left after the
  // exclusions, a rule's or the DP settings' refusal).
  absl::Status error;
  // The change to the base version's flattened parameters.
  std::vector<float> step;
  // L2 norm of the aggregate (after DP noise), before the optimiser.
  double aggregate_norm = 0;
  // Rows behind the aggregated updates, and how many updates.
  int64_t total_samples = 0;
  int aggregated = 0;
  // Outlier exclusion: every submitter's score, and those left out with
  // the reason (site id -> reason).
  std::map<std::string, double> outlier_scores;
  std::map<std::string, std::string> excluded;
  // The model's state after the round (accountant, moments, clip norm),
  // and the epsilon spent with it (DP only).
  FederatedModelState state;
  double epsilon = 0;
};

// Aggregates `round` (state AGGREGATING): `updates` by site id (plain), or
// `masked_words`, the unmasked modular sum (secure aggregation); `state` is
// the model's before the round; `federation` the sites not excluded (the
// accountant's q = participants / federation); `noise_seed` seeds the DP
// noise.
RoundAggregation AggregateRoundUpdates(
    const v1::Round& round, std::map<std::string, std::vector<float>> updates,
    const std::vector<uint32_t>& masked_words, FederatedModelState state,
    int64_t federation, uint64_t noise_seed);

// Before a round of `model` opens: the privacy spent so far (its epsilon
// at dp's target_delta, and the rounds accounted), and with DP and a
// max_epsilon, FAILED_PRECONDITION naming the budget when one more round
// would exceed it (planned at q = 1, an upper bound: the real sampling
// rate is known only at aggregation). INTERNAL for a stored accountant
// state that does not restore.
absl::StatusOr<v1::PrivacyAccounting> PlanPrivacy(
    const std::string& model, const FederatedModelState& state,
    const v1::DifferentialPrivacyConfig& dp);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_ROUND_AGGREGATION_H_
