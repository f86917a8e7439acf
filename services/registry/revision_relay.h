// RevisionRelay: the registry's revisions republished on a thread of its
// own. The Registry publishes a revision on the thread that committed it
// (an RPC handler, the ticker), and a SequenceNotifier runs its subscribers
// on the publishing thread; the WatchDeployments streams subscribe here
// instead, so that the call that made a revision returns once it has
// committed, while this thread wakes the (possibly thousand) watches.
//
// revisions() reaches every revision the source publishes after the relay
// was built (a burst may be coalesced to its last: a watch reads
// everything after its cursor anyway), shortly after the source.
//
// Thread-safe. The source must outlive the relay.
#ifndef CONTINUUM_SERVICES_REGISTRY_REVISION_RELAY_H_
#define CONTINUUM_SERVICES_REGISTRY_REVISION_RELAY_H_

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "lib/core/sequence_notifier.h"

namespace continuum::registry {

class RevisionRelay {
 public:
  // Follows `source` from now on, starting at its latest revision.
  explicit RevisionRelay(core::SequenceNotifier* source);
  // Stops following and joins the relay's thread.
  ~RevisionRelay();

  RevisionRelay(const RevisionRelay&) = delete;
  RevisionRelay& operator=(const RevisionRelay&) = delete;

  // The source's revisions, published on the relay's thread.
  core::SequenceNotifier& revisions() { return revisions_; }

 private:
  // What the source's callback hands the relay's thread; shared, since
  // the callback may run once more after Unsubscribe.
  struct Pending {
    absl::Mutex mu;
    int64_t latest ABSL_GUARDED_BY(mu) = 0;
    bool stop ABSL_GUARDED_BY(mu) = false;
  };

  void Run();

  core::SequenceNotifier* const source_;
  const std::shared_ptr<Pending> pending_;
  core::SequenceNotifier revisions_;
  uint64_t subscription_ = 0;
  std::thread thread_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REVISION_RELAY_H_
