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

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_SETTINGS_H_
