// The federated settings a TrainingConfig carries (FederatedConfig in
// federated.proto), checked. FederatedService is not served yet, so the
// trainer only stores and returns these settings; ConfigureTraining and
// TriggerRun's overrides still reject the values their comments rule out,
// so that a configuration accepted today is one the coordinator can run.
//
// federated.proto states these rules in its comments but carries no
// (continuum.v1.rules) options, so they are checked here by hand, in the
// words of core::CheckFieldRules (rows in tests/conformance/
// manual_rules.txt):
//   aggregation                        a value of continuum.v1.Aggregation
//   fedprox_mu                         >= 0
//   trim_fraction                      in [0, 0.5)
//   differential_privacy.clip_norm     > 0 (0 = unset)
//   differential_privacy.noise_multiplier  > 0 (0 = unset)
//   site_id                            a site id, [a-z0-9][a-z0-9._-]{0,62}
//   counts (byzantine_sites, multi_krum_selected, min_sites, max_sites,
//     local_epochs, local_batch_size, outlier_exclusion.exclude_after)
//                                      >= 0; max_sites >= min_sites if set
//   join_timeout, submit_timeout       positive when set
//   rates, thresholds and scales       >= 0 (local_learning_rate,
//     norm_threshold, max_epsilon, adaptive_clipping's learning_rate and
//     count_stddev, fixed_point_scale, server_optimizer's learning_rate
//     and tau)
//   fractions                          in [0, 1) (target_delta,
//     target_quantile, server_optimizer's beta1 and beta2)
//   server_optimizer.optimizer         a value of continuum.v1.ServerOptimizer
//   adaptive_clipping.count_stddev     > noise_multiplier / 2 when both set
//   secure_aggregation.enabled         only with FEDAVG or FEDPROX and
//                                      without outlier exclusion
// Pure; thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_SETTINGS_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_SETTINGS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/federated.pb.h"

namespace continuum::trainer {

// OK, or INVALID_ARGUMENT naming the first field that breaks a rule above
// by its path under `path` (e.g. "config.federated"):
//   config.federated.fedprox_mu: must be >= 0 (got -1)
absl::Status CheckFederatedConfig(const v1::FederatedConfig& config,
                                  absl::string_view path);

// The round's settings with federated.proto's defaults filled in (what
// the round records and sites read): min_sites 2, join_timeout 5 min,
// submit_timeout 30 min, local_epochs 1, local_batch_size 64, fedprox_mu
// 0.01 with FedProx, trim_fraction 0.1, DP target_delta 1e-5, secure
// aggregation's scale 65536 and protocol, outlier threshold 3 and
// exclude_after 3.
v1::FederatedConfig ResolveFederatedConfig(const v1::FederatedConfig& config);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_SETTINGS_H_
