#include "lib/core/sequence_notifier.h"

#include <algorithm>
#include <vector>

#include "absl/time/clock.h"

namespace continuum::core {

void SequenceNotifier::Publish(int64_t sequence) {
  std::vector<std::shared_ptr<const Callback>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    if (sequence <= latest_) return;
    latest_ = sequence;
    callbacks.reserve(subscribers_.size());
    for (const auto& [id, callback] : subscribers_) {
      callbacks.push_back(callback);
    }
  }
  for (const auto& callback : callbacks) (*callback)(sequence);
}

int64_t SequenceNotifier::latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

int64_t SequenceNotifier::WaitAbove(int64_t after, absl::Time deadline,
                                    const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  auto newer = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return latest_ > after;
  };
  ++waiters_;
  while (!newer() && absl::Now() < deadline &&
         !(cancelled && cancelled())) {
    mu_.AwaitWithTimeout(
        absl::Condition(&newer),
        std::min(absl::Milliseconds(100), deadline - absl::Now()));
  }
  --waiters_;
  return latest_;
}

uint64_t SequenceNotifier::Subscribe(Callback callback) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = next_id_++;
  subscribers_.emplace(id,
                       std::make_shared<const Callback>(std::move(callback)));
  return id;
}

void SequenceNotifier::Unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(id);
}

int SequenceNotifier::waiters() const {
  absl::MutexLock lock(&mu_);
  return waiters_;
}

int SequenceNotifier::subscribers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(subscribers_.size());
}

}  // namespace continuum::core
