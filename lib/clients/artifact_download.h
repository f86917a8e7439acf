// The client side of RegistryService.DownloadArtifact for callers that need
// the whole artifact in memory (the trainer's parent bundle, the drift
// service's reference statistics): streams it, checks it against the
// stream's info, and returns it. (The inference pod streams into its blob
// cache instead; continuumctl into a file.)
#ifndef CONTINUUM_LIB_CLIENTS_ARTIFACT_DOWNLOAD_H_
#define CONTINUUM_LIB_CLIENTS_ARTIFACT_DOWNLOAD_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/statusor.h"
#include "continuum/v1/registry.grpc.pb.h"

namespace continuum::clients {

struct DownloadedArtifact {
  // The stream's first message: the version (alias resolved), SHA-256, size.
  v1::ArtifactInfo info;
  std::string bytes;
};

// Downloads `name` (`models/{model}/versions/{version}`) through `stub` on
// `context` (the caller sets its deadline and metadata, and may TryCancel
// it). Errors: the call's own status, prefixed with what was downloaded;
// RESOURCE_EXHAUSTED if the announced size exceeds `max_bytes` (nothing is
// held); DATA_LOSS if bytes come before the info, more bytes than announced
// arrive, fewer arrive, or they do not hash to the announced SHA-256.
absl::StatusOr<DownloadedArtifact> DownloadArtifact(
    v1::RegistryService::Stub& stub, grpc::ClientContext& context,
    const std::string& name,
    int64_t max_bytes = std::numeric_limits<int64_t>::max());

}  // namespace continuum::clients

#endif  // CONTINUUM_LIB_CLIENTS_ARTIFACT_DOWNLOAD_H_
