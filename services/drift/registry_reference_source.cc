#include "services/drift/registry_reference_source.h"

#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/clients/artifact_download.h"
#include "lib/core/call_identity.h"
#include "lib/core/channel.h"
#include "lib/core/resource_names.h"
#include "lib/model/bundle.h"

namespace continuum::drift_service {

RegistryReferenceSource::RegistryReferenceSource(
    const std::string& registry_address, absl::Duration timeout,
    int64_t max_bytes)
    : registry_(v1::RegistryService::NewStub(
          core::CreateServiceChannel(registry_address))),
      timeout_(timeout),
      max_bytes_(max_bytes) {}

absl::StatusOr<v1::ReferenceStatistics> RegistryReferenceSource::Fetch(
    const std::string& model, int64_t version) {
  const std::string name =
      absl::StrCat(core::ModelName(model), "/versions/", version);
  grpc::ClientContext context;
  core::PrepareCall(context, "drift", absl::Now() + timeout_);
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      return absl::CancelledError("the drift service is shutting down");
    }
    in_flight_.insert(&context);
  }
  absl::Cleanup forget = [this, &context] {
    absl::MutexLock lock(&mu_);
    in_flight_.erase(&context);
  };
  absl::StatusOr<clients::DownloadedArtifact> artifact =
      clients::DownloadArtifact(*registry_, context, name, max_bytes_);
  if (!artifact.ok()) return artifact.status();
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::ParseBundle(artifact->bytes);
  if (!bundle.ok()) {
    return absl::DataLossError(
        absl::StrCat("the artifact of ", name,
                     " is not a readable bundle: ", bundle.status().message()));
  }
  if (!bundle->has_reference() || bundle->reference().features().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the bundle of ", name,
        " carries no reference statistics (bundles the trainer builds do; "
        "reference tests are skipped for this version)"));
  }
  return std::move(*bundle->mutable_reference());
}

void RegistryReferenceSource::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
  for (grpc::ClientContext* context : in_flight_) context->TryCancel();
}

}  // namespace continuum::drift_service
