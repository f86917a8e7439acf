#include "services/registry/deployment_feed.h"

#include <utility>

namespace continuum::registry {

absl::StatusOr<std::shared_ptr<const std::vector<v1::Deployment>>>
DeploymentFeed::Since(int64_t since, const std::vector<std::string>& models,
                      int limit, int64_t latest) {
  Query query{since, models, limit, latest};
  absl::MutexLock lock(&mu_);
  if (answer_ != nullptr && query == last_) return answer_;
  absl::StatusOr<std::vector<v1::Deployment>> read =
      registry_->DeploymentsSince(since, models, limit);
  ++reads_;
  if (!read.ok()) return read.status();
  last_ = std::move(query);
  answer_ =
      std::make_shared<const std::vector<v1::Deployment>>(*std::move(read));
  return answer_;
}

int64_t DeploymentFeed::reads() const {
  absl::MutexLock lock(&mu_);
  return reads_;
}

}  // namespace continuum::registry
