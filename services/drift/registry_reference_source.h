// RegistryReferenceSource: the ReferenceSource of the drift service. Fetch
// downloads the version's artifact from the registry (DownloadArtifact,
// streamed; lib/clients/artifact_download.h checks its size and SHA-256
// against the stream's info), parses the bundle (lib/model/bundle.h:
// magic, CRC) and returns its `reference` section:
//   - FAILED_PRECONDITION when the bundle carries no reference;
//   - DATA_LOSS when the artifact is not a readable bundle;
//   - RESOURCE_EXHAUSTED for a bundle over `max_bytes` (not held in
//     memory);
//   - the registry's errors otherwise (NOT_FOUND, UNAVAILABLE, ...);
//   - CANCELLED after Shutdown, which also ends the downloads in flight.
// Calls carry a deadline of `timeout` and name the caller "drift".
// Thread-safe.
#ifndef CONTINUUM_SERVICES_DRIFT_REGISTRY_REFERENCE_SOURCE_H_
#define CONTINUUM_SERVICES_DRIFT_REGISTRY_REFERENCE_SOURCE_H_

#include <grpcpp/client_context.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "services/drift/reference_source.h"

namespace continuum::drift_service {

class RegistryReferenceSource : public ReferenceSource {
 public:
  RegistryReferenceSource(const std::string& registry_address,
                          absl::Duration timeout = absl::Minutes(2),
                          int64_t max_bytes = int64_t{1} << 30);

  absl::StatusOr<v1::ReferenceStatistics> Fetch(const std::string& model,
                                                int64_t version) override;
  void Shutdown() override;

 private:
  std::unique_ptr<v1::RegistryService::Stub> registry_;
  const absl::Duration timeout_;
  const int64_t max_bytes_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<grpc::ClientContext*> in_flight_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_REGISTRY_REFERENCE_SOURCE_H_
