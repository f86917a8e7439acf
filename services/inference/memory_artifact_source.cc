#include "services/inference/memory_artifact_source.h"

#include <utility>

#include "lib/store/blob_store.h"

namespace continuum::inference {

std::string MemoryArtifactSource::Add(std::string bytes) {
  std::string sha = store::Sha256Hex(bytes);
  absl::MutexLock lock(&mu_);
  artifacts_[sha] = std::move(bytes);
  return sha;
}

absl::StatusOr<std::string> MemoryArtifactSource::Fetch(
    const std::string& /*model*/, int64_t /*version*/,
    const std::string& sha256) {
  absl::MutexLock lock(&mu_);
  ++fetches_;
  auto it = artifacts_.find(sha256);
  if (it == artifacts_.end()) return absl::UnavailableError("no such blob");
  return it->second;
}

int MemoryArtifactSource::fetches() const {
  absl::MutexLock lock(&mu_);
  return fetches_;
}

}  // namespace continuum::inference
