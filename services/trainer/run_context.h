// RunContext: what the steps of one training run share, whatever its
// strategy (batch_run.h, online_run.h): the executor's options (clients,
// clock, code version), the run and its effective configuration, its
// RunControl, and its deadline.
//
// The deadline is resources.max_duration from the moment the context is
// made, on the injected clock (TrainingExecutorOptions::clock). The same
// clock times everything the run schedules: the stop check, the deadline
// of every registry and collector call, an online run's waits for records
// and its publish_every cadence. Throughput, ETA and the throttling of
// progress lines measure real time (absl::Now): they describe the
// machine's speed, not the run's schedule.
//
// Thread safety: one run's worker thread (lib/model calls Stop from its
// training callbacks on that thread).
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_CONTEXT_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_CONTEXT_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/federated.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/clock.h"
#include "services/trainer/clients.h"
#include "services/trainer/federated_run.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

struct TrainingExecutorOptions {
  // Not owned. Null: runs fail with FAILED_PRECONDITION naming the address
  // that is not configured.
  RegistryClient* registry = nullptr;
  CollectorClient* collector = nullptr;
  core::Clock* clock = core::Clock::Real();
  // Written into each candidate's manifest and upload.
  std::string code_version;
  // Rows per Scan / SampleReplay message.
  int scan_batch_rows = 1024;
  // Online runs: how long to wait for new records when a poll of the
  // collector found too few for a micro-batch.
  absl::Duration online_poll_interval = absl::Seconds(5);
  // Online runs: waits about `d` for new records. Null: sleeps until `d`
  // has passed on `clock`, in slices of at most 100 ms, returning early
  // once the run is cancelled. Tests advance a fake clock here.
  std::function<void(absl::Duration d)> online_wait;
  // Federated coordinator (federated_run.h): the aggregate of a round, for
  // its RUN_TRIGGER_FEDERATED run. Null: not a coordinator.
  std::function<absl::StatusOr<FederatedAggregate>(const std::string& round)>
      federated_aggregate;
  // Federated site: the round a local run trains for, and where its update
  // goes. Null: not a site.
  std::function<absl::StatusOr<v1::Round>(const std::string& round)>
      federated_site_round;
  std::function<absl::Status(const FederatedSiteUpdate& update)>
      federated_submit;
};

// A run with nothing to train on (its window holds too few usable rows:
// no labelled records yet after a drift alert, say). It is no failure of
// training: the run ends CANCELLED with "skipped: <what>", as a schedule
// slot skipped for too few new records does, and neither counts toward
// the circuit breaker.
absl::Status SkippedError(absl::string_view what);

class RunContext {
 public:
  // `options`, `run` and `control` must outlive the context.
  RunContext(const TrainingExecutorOptions& options, const v1::Run& run,
             RunControl& control);

  const TrainingExecutorOptions& options() const { return options_; }
  // The clients; CheckClients first (FetchModel does).
  RegistryClient& registry() const { return *options_.registry; }
  CollectorClient& collector() const { return *options_.collector; }
  // FAILED_PRECONDITION naming the address that is not configured.
  absl::Status CheckClients() const;

  const v1::Run& run() const { return run_; }
  const v1::TrainingConfig& config() const { return run_.config(); }
  RunControl& control() const { return control_; }
  absl::Time Now() const { return options_.clock->Now(); }
  absl::Time deadline() const { return deadline_; }

  // True once the run is cancelled or the clock reached the deadline (then
  // timed_out() is true from now on).
  bool Stop();
  // CANCELLED "cancelled" when Stop(), else OK.
  absl::Status CheckStop();
  bool timed_out() const { return timed_out_; }

  // How a run that stopped with `status` ends: FAILED with
  // DEADLINE_EXCEEDED naming max_duration after a time-out; CANCELLED for
  // a CANCELLED status of a cancelled run; CANCELLED "skipped: ..." for a
  // SkippedError; FAILED with `status` otherwise.
  RunOutcome Ended(const absl::Status& status) const;

 private:
  const TrainingExecutorOptions& options_;
  const v1::Run& run_;
  RunControl& control_;
  const absl::Time deadline_;
  bool timed_out_ = false;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_CONTEXT_H_
