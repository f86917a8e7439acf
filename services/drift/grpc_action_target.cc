#include "services/drift/grpc_action_target.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/call_identity.h"
#include "lib/core/channel.h"
#include "lib/core/grpc_status.h"
#include "lib/core/resource_names.h"

namespace continuum::drift_service {
namespace {

// The name the drift service's calls carry for the callee's audit.
constexpr char kActor[] = "drift";

absl::Status NotConfigured(absl::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(
      "no ", what, " address is configured for the drift service"));
}

std::string DeploymentName(const std::string& model, int64_t revision) {
  return absl::StrCat(core::ModelName(model), "/deployment@", revision);
}

}  // namespace

GrpcActionTarget::GrpcActionTarget(const std::string& registry_address,
                                   const std::string& trainer_address,
                                   absl::Duration timeout)
    : timeout_(timeout) {
  if (!registry_address.empty()) {
    registry_ = v1::RegistryService::NewStub(
        core::CreateServiceChannel(registry_address));
  }
  if (!trainer_address.empty()) {
    trainer_ = v1::TrainerService::NewStub(
        core::CreateServiceChannel(trainer_address));
  }
}

absl::StatusOr<int64_t> GrpcActionTarget::ProductionVersion(
    const std::string& model) {
  if (registry_ == nullptr) return NotConfigured("registry");
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::GetModelRequest request;
  request.set_name(core::ModelName(model));
  v1::GetModelResponse response;
  grpc::Status s = registry_->GetModel(&context, request, &response);
  if (!s.ok()) return core::FromGrpcStatus(s);
  return response.model().production_version();
}

absl::StatusOr<std::string> GrpcActionTarget::Rollback(
    const std::string& model, int64_t expected, int64_t to_version,
    const std::string& reason) {
  if (registry_ == nullptr) return NotConfigured("registry");
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::RollbackRequest request;
  request.set_name(core::ModelName(model));
  request.set_reason(reason);
  request.set_expected_production_version(expected);
  request.set_to_version(to_version);
  v1::RollbackResponse response;
  if (absl::Status s = core::FromGrpcStatus(
          registry_->Rollback(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return DeploymentName(model, response.deployment().revision());
}

absl::StatusOr<std::string> GrpcActionTarget::AbortRollout(
    const std::string& model, int64_t candidate, const std::string& reason) {
  if (registry_ == nullptr) return NotConfigured("registry");
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::AbortRolloutRequest request;
  request.set_name(core::ModelName(model));
  request.set_reason(reason);
  request.set_expected_candidate_version(candidate);
  v1::AbortRolloutResponse response;
  if (absl::Status s = core::FromGrpcStatus(
          registry_->AbortRollout(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return DeploymentName(model, response.deployment().revision());
}

absl::StatusOr<std::string> GrpcActionTarget::TriggerRun(
    const std::string& model, const std::string& alert,
    const std::string& reason) {
  if (trainer_ == nullptr) return NotConfigured("trainer");
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::TriggerRunRequest request;
  request.set_parent(core::ModelName(model));
  request.set_trigger(v1::RUN_TRIGGER_DRIFT);
  request.set_reason(reason);
  request.set_alert(alert);
  request.set_request_id(alert);  // One run per alert, however often retried.
  v1::TriggerRunResponse response;
  if (absl::Status s = core::FromGrpcStatus(
          trainer_->TriggerRun(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response.run().name();
}

}  // namespace continuum::drift_service
