// SequenceNotifier: a monotonically increasing sequence number (a registry
// revision, the last settled alert, a scheduler's change counter) that
// readers wait on or subscribe to.
//
// Owners publish after they commit (never while holding a lock that a
// subscriber's callback takes): watchers must not see a sequence before the
// state it names can be read. Two ways to follow it:
//  - blocking: WaitAbove(after, deadline) returns once the sequence passed
//    `after`, the deadline passed or `cancelled()` said so;
//  - callbacks: Subscribe(fn) runs fn(sequence) on the publishing thread
//    after each Publish that raised the sequence, with no lock of the
//    notifier held. This is what callback-API watch streams use
//    (lib/core/watch_reactor.h): a thousand watchers cost a thousand
//    callbacks, not a thousand blocked threads.
//
// Thread-safe.
#ifndef CONTINUUM_LIB_CORE_SEQUENCE_NOTIFIER_H_
#define CONTINUUM_LIB_CORE_SEQUENCE_NOTIFIER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace continuum::core {

class SequenceNotifier {
 public:
  using Callback = std::function<void(int64_t sequence)>;

  explicit SequenceNotifier(int64_t initial = 0) : latest_(initial) {}

  SequenceNotifier(const SequenceNotifier&) = delete;
  SequenceNotifier& operator=(const SequenceNotifier&) = delete;

  // Raises the sequence to `sequence` if that is higher, then wakes the
  // waiters and runs the subscribers' callbacks (on this thread). A lower
  // or equal sequence changes nothing and runs nothing.
  void Publish(int64_t sequence) ABSL_LOCKS_EXCLUDED(mu_);

  int64_t latest() const ABSL_LOCKS_EXCLUDED(mu_);

  // Blocks until latest() > after, `deadline` passes, or `cancelled`
  // (polled every 100 ms; may be empty) returns true. Returns latest().
  int64_t WaitAbove(int64_t after, absl::Time deadline,
                    const std::function<bool()>& cancelled = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Registers `callback`; it runs after every later Publish that raises
  // the sequence, possibly on several threads at once, until Unsubscribe.
  // Returns the id to unsubscribe with. A callback may run once more after
  // Unsubscribe returns (a Publish that had already copied it): it must
  // hold what it uses by shared ownership, not by a raw pointer.
  uint64_t Subscribe(Callback callback) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  // Subscribers now, and threads blocked in WaitAbove now (for tests and
  // metrics).
  int subscribers() const ABSL_LOCKS_EXCLUDED(mu_);
  int waiters() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  int64_t latest_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  // Shared so that Publish can run them after releasing mu_.
  std::map<uint64_t, std::shared_ptr<const Callback>> subscribers_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_SEQUENCE_NOTIFIER_H_
