#include "services/drift/reference_source.h"

#include <grpcpp/grpcpp.h>

#include <string>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/channel.h"
#include "lib/core/grpc_status.h"
#include "lib/model/bundle.h"
#include "lib/store/blob_store.h"

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
      absl::StrCat("models/", model, "/versions/", version);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  context.AddMetadata("x-continuum-actor", "drift");
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
  v1::DownloadArtifactRequest request;
  request.set_name(name);
  request.set_chunk_size(4 << 20);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      registry_->DownloadArtifact(&context, request);
  v1::DownloadArtifactResponse message;
  v1::ArtifactInfo info;
  bool have_info = false;
  std::string bytes;
  store::Sha256 hash;
  absl::Status problem;
  while (reader->Read(&message)) {
    if (message.has_info()) {
      info = message.info();
      have_info = true;
      if (info.size_bytes() > max_bytes_) {
        problem = absl::ResourceExhaustedError(absl::StrCat(
            "the artifact of ", name, " has ", info.size_bytes(),
            " bytes; the drift service reads bundles of at most ", max_bytes_));
        context.TryCancel();
        break;
      }
      bytes.reserve(static_cast<size_t>(info.size_bytes()));
      continue;
    }
    if (!have_info) {
      problem = absl::DataLossError(absl::StrCat(
          "the registry sent artifact bytes of ", name, " before its info"));
      context.TryCancel();
      break;
    }
    if (static_cast<int64_t>(bytes.size() + message.chunk().size()) >
        info.size_bytes()) {
      problem = absl::DataLossError(
          absl::StrCat("the registry sent more than the ", info.size_bytes(),
                       " bytes it announced for ", name));
      context.TryCancel();
      break;
    }
    hash.Update(message.chunk());
    bytes += message.chunk();
  }
  const grpc::Status finished = reader->Finish();
  if (!problem.ok()) return problem;
  if (!finished.ok()) {
    absl::Status s = core::FromGrpcStatus(finished);
    return absl::Status(s.code(), absl::StrCat("downloading the artifact of ",
                                               name, ": ", s.message()));
  }
  if (!have_info || static_cast<int64_t>(bytes.size()) != info.size_bytes()) {
    return absl::DataLossError(absl::StrCat(
        "the artifact of ", name, " ended after ", bytes.size(), " of ",
        info.size_bytes(), " bytes"));
  }
  const std::string digest = hash.FinishHex();
  if (digest != info.sha256()) {
    return absl::DataLossError(absl::StrCat("the artifact of ", name,
                                            " has SHA-256 ", digest,
                                            ", the registry announced ",
                                            info.sha256()));
  }
  absl::StatusOr<internal::v1::ModelBundle> bundle = model::ParseBundle(bytes);
  if (!bundle.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the artifact of ", name, " is not a readable bundle: ",
        bundle.status().message()));
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
