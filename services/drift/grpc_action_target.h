// GrpcActionTarget: the drift service's ActionTarget over gRPC: rollbacks
// and rollout aborts go to the registry, retraining requests to the
// trainer. An empty address means that side is not configured: its
// actions fail with FAILED_PRECONDITION ("no registry address is
// configured for the drift service"). Every call carries a deadline of
// `timeout` and names its caller "drift" (core::PrepareCall) for the
// registry's audit log; errors are the callee's, as FromGrpcStatus
// converts them (UNAVAILABLE, DEADLINE_EXCEEDED, FAILED_PRECONDITION when
// the expected version is no longer production, ...). Thread-safe.
#ifndef CONTINUUM_SERVICES_DRIFT_GRPC_ACTION_TARGET_H_
#define CONTINUUM_SERVICES_DRIFT_GRPC_ACTION_TARGET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "services/drift/drift_actions.h"

namespace continuum::drift_service {

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

#endif  // CONTINUUM_SERVICES_DRIFT_GRPC_ACTION_TARGET_H_
