// Where the drift service gets a model version's training reference (the
// ReferenceStatistics its artifact bundle carries): an interface, so the
// monitor can be tested without a registry; RegistryReferenceSource is the
// real one.
#ifndef CONTINUUM_SERVICES_DRIFT_REFERENCE_SOURCE_H_
#define CONTINUUM_SERVICES_DRIFT_REFERENCE_SOURCE_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/registry.grpc.pb.h"

namespace continuum::drift_service {

class ReferenceSource {
 public:
  virtual ~ReferenceSource() = default;
  // The reference statistics of `version` of `model`. FAILED_PRECONDITION
  // when the version's bundle carries none (artifacts never change, so
  // there is no point asking again); NOT_FOUND for an unknown model or
  // version; other errors (UNAVAILABLE, DEADLINE_EXCEEDED, DATA_LOSS) may
  // pass and are worth a retry.
  virtual absl::StatusOr<v1::ReferenceStatistics> Fetch(
      const std::string& model, int64_t version) = 0;
  // Ends fetches in flight and refuses later ones (CANCELLED), so that a
  // draining service does not wait for a download. Default: nothing.
  virtual void Shutdown() {}
};

// Downloads the version's artifact from the registry (DownloadArtifact,
// streamed), checks its size and SHA-256 against the stream's info, parses
// the bundle (lib/model/bundle.h: magic, CRC) and returns its `reference`
// section. Bundles larger than `max_bytes` are refused (RESOURCE_EXHAUSTED)
// rather than held in memory.
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

#endif  // CONTINUUM_SERVICES_DRIFT_REFERENCE_SOURCE_H_
