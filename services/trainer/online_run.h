// RunOnline: a run of strategy TRAINING_STRATEGY_ONLINE, long-lived.
//
// FETCHING_MODEL as for every run (model_fetch.h), then TRAINING until
// CancelRun or resources.max_duration on the injected clock
// (run_context.h), which ends it normally:
// - It polls the collector: a Scan of [watermark, now), then the
//   watermark moves to now; every online_poll_interval (of the clock)
//   while there is less than a micro-batch. A poll that fails with
//   UNAVAILABLE or DEADLINE_EXCEEDED is retried after the interval; the
//   memory budget caps the rows pending (half the budget's rows, at least
//   a micro-batch) and a note says when a poll was cut.
// - Each micro-batch of online.micro_batch_size rows goes to
//   model::OnlineUpdater::Update: rows held out by held_out_split.h's
//   IsHeldOut go to a held-out set of the most recent rows instead; a
//   micro-batch with a non-finite feature or target, or whose update has a
//   non-finite loss or gradient, is skipped and counted; replay rows
//   (replay_ratio, from one SampleReplay pool read at the start) are mixed
//   into each update; with a production version the same pool gives the
//   retention set (rows held out with a margin, as in batch_run.h). A
//   cold start's normalisation is fitted to the finite rows pending at the
//   first update.
// - Every online.publish_every_updates updates, or online.publish_every of
//   the clock with at least one update, it builds a candidate
//   (ExportBundle, the Fisher diagonal on the recent training rows, an
//   autoencoder's threshold, held-out and retention metrics of the
//   candidate and of the last accepted version) and uploads it (candidate_upload.h). Each
//   decision goes to RunControl::CandidateDecided (the circuit breaker
//   counts candidates). An approved candidate becomes the parent of the
//   next one and moves the run's data_window end to the end of the rows it
//   trained on; after a rejected one the run goes on from the last accepted
//   weights (a fresh OnlineUpdater).
// The run ends SUCCEEDED, or REJECTED when its last candidate was rejected
// or the circuit breaker opened; updates since the last candidate are
// dropped.
//
// Thread safety: runs on the calling (worker) thread.
#ifndef CONTINUUM_SERVICES_TRAINER_ONLINE_RUN_H_
#define CONTINUUM_SERVICES_TRAINER_ONLINE_RUN_H_

#include "continuum/v1/trainer.pb.h"
#include "services/trainer/run_context.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

// Does the work of online run `run` (see above) and says how it ended.
RunOutcome RunOnline(const TrainingExecutorOptions& options, const v1::Run& run,
                     RunControl& control);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_ONLINE_RUN_H_
