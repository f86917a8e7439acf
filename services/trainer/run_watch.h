// RunWatch: one WatchRun stream on gRPC's callback API
// (core::WatchReactor), following the scheduler's change sequence
// (Scheduler::changes()) instead of holding a server thread.
//
// Messages:
// - the first: the run's progress and the run;
// - then, after each change of the run: its progress, and the run only
//   when its state, phase or recorded fields changed (not for mere
//   progress);
// - the stream ends OK after the message that shows the run's final state
//   (always with the run).
// A request that breaks its field rules (core::CheckFieldRules: name
// required, of the form models/{model}/runs/{run}) or names no run's
// (INVALID_ARGUMENT), or an unknown run (NOT_FOUND), ends the stream at
// once without a message. The client's
// cancel ends it CANCELLED, a drain (core::OpenStreams) UNAVAILABLE.
//
// Thread safety: WatchReactor runs Next() on one thread at a time.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_WATCH_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_WATCH_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/watch_reactor.h"
#include "services/trainer/scheduler.h"

namespace continuum::trainer {

class RunWatch final : public core::WatchReactor<v1::WatchRunResponse> {
 public:
  // `scheduler` and `streams` (may be null) must outlive the stream. Call
  // Start() after construction.
  RunWatch(Scheduler* scheduler, core::OpenStreams* streams,
           const v1::WatchRunRequest& request);

 private:
  Batch Next() override;

  Scheduler* const scheduler_;
  const std::string name_;
  // The request's field rules: not OK ends the stream at the first Next().
  const absl::Status checked_;
  bool sent_first_ = false;
  // The sequences of the last message sent.
  uint64_t seen_ = 0;
  uint64_t state_seen_ = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_WATCH_H_
