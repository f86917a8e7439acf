// Where the drift service gets a model version's training reference (the
// ReferenceStatistics its artifact bundle carries): an interface, so the
// monitor can be tested without a registry; RegistryReferenceSource
// (registry_reference_source.h) is the real one. Implementations must be
// thread-safe (Shutdown comes from the thread that drains the server while
// the reference worker fetches).
#ifndef CONTINUUM_SERVICES_DRIFT_REFERENCE_SOURCE_H_
#define CONTINUUM_SERVICES_DRIFT_REFERENCE_SOURCE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "continuum/v1/common.pb.h"

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

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_REFERENCE_SOURCE_H_
