// An injectable clock, so that code with timeouts, windows, retention and
// schedules can be tested deterministically.
#ifndef CONTINUUM_LIB_CORE_CLOCK_H_
#define CONTINUUM_LIB_CORE_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace continuum::core {

// Tells the time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // The current time.
  virtual absl::Time Now() const = 0;
  // The process-wide real clock (absl::Now()).
  static Clock* Real();
};

// A clock that moves only when told to. Starts at `start`.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_CLOCK_H_
