#include "lib/clients/artifact_download.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/core/grpc_status.h"
#include "lib/store/blob_store.h"

namespace continuum::clients {

absl::StatusOr<DownloadedArtifact> DownloadArtifact(
    v1::RegistryService::Stub& stub, grpc::ClientContext& context,
    const std::string& name, int64_t max_bytes) {
  v1::DownloadArtifactRequest request;
  request.set_name(name);
  request.set_chunk_size(4 << 20);
  std::unique_ptr<grpc::ClientReader<v1::DownloadArtifactResponse>> reader =
      stub.DownloadArtifact(&context, request);
  v1::DownloadArtifactResponse message;
  DownloadedArtifact artifact;
  bool have_info = false;
  store::Sha256 hash;
  absl::Status problem;
  while (reader->Read(&message)) {
    if (message.has_info()) {
      artifact.info = message.info();
      have_info = true;
      if (artifact.info.size_bytes() > max_bytes) {
        problem = absl::ResourceExhaustedError(absl::StrCat(
            "the artifact of ", name, " has ", artifact.info.size_bytes(),
            " bytes; at most ", max_bytes, " are read"));
        break;
      }
      artifact.bytes.reserve(static_cast<size_t>(
          std::max<int64_t>(0, artifact.info.size_bytes())));
      continue;
    }
    if (!have_info) {
      problem = absl::DataLossError(absl::StrCat(
          "the registry sent artifact bytes of ", name, " before its info"));
      break;
    }
    if (static_cast<int64_t>(artifact.bytes.size() + message.chunk().size()) >
        artifact.info.size_bytes()) {
      problem = absl::DataLossError(absl::StrCat(
          "the registry sent more than the ", artifact.info.size_bytes(),
          " bytes it announced for ", name));
      break;
    }
    hash.Update(message.chunk());
    artifact.bytes += message.chunk();
  }
  if (!problem.ok()) {
    context.TryCancel();
    (void)reader->Finish();
    return problem;
  }
  if (absl::Status s = core::FromGrpcStatus(reader->Finish()); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("downloading the artifact of ",
                                               name, ": ", s.message()));
  }
  if (!have_info || static_cast<int64_t>(artifact.bytes.size()) !=
                        artifact.info.size_bytes()) {
    return absl::DataLossError(absl::StrCat(
        "the artifact of ", name, " ended after ", artifact.bytes.size(),
        " of ", artifact.info.size_bytes(), " bytes"));
  }
  const std::string digest = hash.FinishHex();
  if (digest != artifact.info.sha256()) {
    return absl::DataLossError(
        absl::StrCat("the artifact of ", name, " has SHA-256 ", digest,
                     ", the registry announced ", artifact.info.sha256()));
  }
  return artifact;
}

}  // namespace continuum::clients
