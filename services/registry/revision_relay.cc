#include "services/registry/revision_relay.h"

#include <algorithm>

namespace continuum::registry {

RevisionRelay::RevisionRelay(core::SequenceNotifier* source)
    : source_(source),
      pending_(std::make_shared<Pending>()),
      revisions_(source->latest()) {
  subscription_ = source_->Subscribe([pending = pending_](int64_t revision) {
    absl::MutexLock lock(&pending->mu);
    pending->latest = std::max(pending->latest, revision);
  });
  {
    // What the source published before the subscription took effect.
    absl::MutexLock lock(&pending_->mu);
    pending_->latest = std::max(pending_->latest, source_->latest());
  }
  thread_ = std::thread([this] { Run(); });
}

RevisionRelay::~RevisionRelay() {
  source_->Unsubscribe(subscription_);
  {
    absl::MutexLock lock(&pending_->mu);
    pending_->stop = true;
  }
  thread_.join();
}

void RevisionRelay::Run() {
  Pending& pending = *pending_;
  while (true) {
    int64_t revision;
    {
      const int64_t published = revisions_.latest();
      absl::MutexLock lock(&pending.mu);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pending.mu) {
        return pending.stop || pending.latest > published;
      };
      pending.mu.Await(absl::Condition(&ready));
      if (pending.stop) return;
      revision = pending.latest;
    }
    revisions_.Publish(revision);
  }
}

}  // namespace continuum::registry
