// An ArtifactSource (model_manager.h) over artifacts held in memory, for
// tests of the model manager, the handlers and the registry watcher.
#ifndef CONTINUUM_SERVICES_INFERENCE_MEMORY_ARTIFACT_SOURCE_H_
#define CONTINUUM_SERVICES_INFERENCE_MEMORY_ARTIFACT_SOURCE_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/inference/model_manager.h"

namespace continuum::inference {

// Artifacts by SHA-256. Fetch returns UNAVAILABLE ("no such blob") for one
// it does not hold, as a source whose registry is down would. Thread-safe.
class MemoryArtifactSource : public ArtifactSource {
 public:
  // Holds `bytes`; returns their SHA-256.
  std::string Add(std::string bytes);

  absl::StatusOr<std::string> Fetch(const std::string& model, int64_t version,
                                    const std::string& sha256) override;

  // Calls of Fetch so far.
  int fetches() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> artifacts_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_MEMORY_ARTIFACT_SOURCE_H_
