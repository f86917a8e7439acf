#include "lib/core/watch_reactor.h"

#include <vector>

namespace continuum::core {

void OpenStreams::EndAll(const grpc::Status& status) {
  std::vector<std::shared_ptr<StreamLink>> links;
  {
    absl::MutexLock lock(&mu_);
    if (!ended_) ended_ = status;
    for (const auto& [id, link] : streams_) links.push_back(link);
  }
  for (const auto& link : links) {
    link->With([&](StreamControl& s) { s.Abort(status); });
  }
}

int OpenStreams::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(streams_.size());
}

OpenStreams::Added OpenStreams::Add(std::shared_ptr<StreamLink> link) {
  absl::MutexLock lock(&mu_);
  Added added;
  added.id = next_id_++;
  streams_.emplace(added.id, std::move(link));
  added.ended = ended_;
  return added;
}

void OpenStreams::Remove(uint64_t id) {
  absl::MutexLock lock(&mu_);
  streams_.erase(id);
}

}  // namespace continuum::core
