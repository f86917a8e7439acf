// The inference pod's ArtifactSource (model_manager.h): artifacts from a
// content-addressed cache on local disk (lib/store's BlobStore: written to
// a temp file, checked against the SHA-256, renamed; re-verified on every
// read), downloaded from the registry (RegistryService.DownloadArtifact)
// on a miss. A cached copy is reused after a restart, with or without a
// registry.
//
// Thread safety: thread-safe (the BlobStore and the gRPC stub are).
#ifndef CONTINUUM_SERVICES_INFERENCE_CACHED_ARTIFACT_SOURCE_H_
#define CONTINUUM_SERVICES_INFERENCE_CACHED_ARTIFACT_SOURCE_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "lib/store/blob_store.h"
#include "services/inference/model_manager.h"

namespace continuum::inference {

class CachedArtifactSource : public ArtifactSource {
 public:
  // `cache` is not owned. `registry` may be null: cache only. `timeout` is
  // the deadline of one download.
  CachedArtifactSource(store::BlobStore* cache,
                       std::shared_ptr<grpc::Channel> registry,
                       absl::Duration timeout = absl::Minutes(2));

  // DATA_LOSS if the cached copy or the download does not hash to
  // `sha256` (a corrupt cached copy is deleted so that the next try
  // downloads it again); the registry's error, or UNAVAILABLE without a
  // registry, on a miss that cannot be downloaded.
  absl::StatusOr<std::string> Fetch(const std::string& model, int64_t version,
                                    const std::string& sha256) override;

  // Deletes cached artifacts not in `keep`. Returns how many it deleted.
  absl::StatusOr<int> Prune(const std::vector<std::string>& keep);

 private:
  absl::StatusOr<std::string> ReadCached(const std::string& sha256);
  // Streams the artifact into the cache and returns its bytes.
  absl::StatusOr<std::string> Download(const std::string& model,
                                       int64_t version,
                                       const std::string& sha256);

  store::BlobStore* const cache_;
  const std::unique_ptr<v1::RegistryService::Stub> registry_;
  const absl::Duration timeout_;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_CACHED_ARTIFACT_SOURCE_H_
