// What the drift service acts on: the registry (rollback, abort a rollout)
// and the trainer (retrain). An interface, so the monitor's policy can be
// tested without them; GrpcActionTarget is the real one.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_ACTIONS_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_ACTIONS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"

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

// Calls the registry and the trainer over gRPC (empty address: that side is
// not configured and its actions fail with FAILED_PRECONDITION). Calls carry
// `x-continuum-actor: drift` for the registry's audit log.
class GrpcActionTarget : public ActionTarget {
 public:
  GrpcActionTarget(const std::string& registry_address,
                   const std::string& trainer_address,
                   absl::Duration timeout = absl::Seconds(10));

  absl::StatusOr<int64_t> ProductionVersion(const std::string& model) override;
  absl::StatusOr<std::string> Rollback(const std::string& model,
                                       int64_t expected, int64_t to_version,
                                       const std::string& reason) override;
  absl::StatusOr<std::string> AbortRollout(const std::string& model,
                                           int64_t candidate,
                                           const std::string& reason) override;
  absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                         const std::string& alert,
                                         const std::string& reason) override;

 private:
  std::unique_ptr<v1::RegistryService::Stub> registry_;
  std::unique_ptr<v1::TrainerService::Stub> trainer_;
  absl::Duration timeout_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_ACTIONS_H_
