// What the drift service acts on: the registry (rollback, abort a rollout)
// and the trainer (retrain). An interface over plain values, so the
// monitor's policy can be tested without them; GrpcActionTarget
// (grpc_action_target.h) is the real one. Implementations must be
// thread-safe: the monitor calls them from Observe's callers and from its
// reference worker at once.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_ACTIONS_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_ACTIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace continuum::drift_service {

class ActionTarget {
 public:
  virtual ~ActionTarget() = default;
  // The model's production version (0 if none).
  virtual absl::StatusOr<int64_t> ProductionVersion(
      const std::string& model) = 0;
  // Each action returns what it acted on (ActionResult.target): the new
  // deployment as `models/{model}/deployment@{revision}`, or the run's name.
  //
  // Rolls production back to `to_version` (0: the registry's previous
  // production version), only if `expected` is still production.
  virtual absl::StatusOr<std::string> Rollback(const std::string& model,
                                               int64_t expected,
                                               int64_t to_version,
                                               const std::string& reason) = 0;
  // Aborts the rollout of `candidate`.
  virtual absl::StatusOr<std::string> AbortRollout(
      const std::string& model, int64_t candidate,
      const std::string& reason) = 0;
  // Asks the trainer for a run; `alert` is the alert's resource name.
  virtual absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                                 const std::string& alert,
                                                 const std::string& reason) = 0;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_ACTIONS_H_
