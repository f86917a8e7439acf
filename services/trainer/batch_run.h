// RunBatch: a run of strategy INCREMENTAL or FULL_RETRAIN, phase by phase
// (continuum.v1.RunPhase):
//
// 1. FETCHING_MODEL: the production version or a cold start (model_fetch.h).
// 2. FETCHING_DATA: Scan of the run's data window (labelled rows only,
//    except for autoencoders, which train on unlabelled rows and rows
//    labelled 0), streamed in batches and held as float rows. The memory
//    budget (resources.memory_budget_bytes) caps the rows held: window,
//    then replay, then golden; rows beyond it are not read and a note says
//    so. The window needs at least kMinWindowRows rows. The held-out set
//    is split off by a hash of each record id and the seed
//    (held_out_split.h). The replay sample (SampleReplay, seeded) has
//    train_rows * r / (1 - r) rows for replay_ratio r, so an epoch sees
//    each about once; replay rows that are in the held-out set, or that
//    any run with the same seed holds out (IsHeldOut), are dropped.
//    FULL_RETRAIN uses no replay. An incremental run from a production
//    version without a golden set also takes its retention set from that
//    sample: up to retention_rows (default 1000) rows from before the
//    window that are held out with a margin (IsHeldOut at half the
//    fraction), so that with a fixed seed neither production nor the
//    candidate trained on them; fewer than 100: none, with a note. The golden data set, when configured, is scanned whole. A cold
//    start's normalisation is fitted to the training rows.
// 3. TRAINING: model::Train with progress (epoch, step, loss, rows/s, ETA)
//    and the stop check before every step. A diverged run fails (ABORTED)
//    and uploads nothing.
// 4. EVALUATING: candidate and parent on the held-out set, the golden set
//    and the retention set (evaluation sets `held_out`, `golden`,
//    `retention`): the registry's gates ask for adaptation on the first and
//    bound the loss on the others (validation_gates.h).
// 5. FINALIZING and 6. UPLOADING: candidate_upload.h; the registry's
//    decision makes the run SUCCEEDED (approved) or REJECTED.
//
// The run's resources.max_duration bounds the whole on the injected clock
// (run_context.h): past it the run fails with DEADLINE_EXCEEDED.
//
// Thread safety: runs on the calling (worker) thread.
#ifndef CONTINUUM_SERVICES_TRAINER_BATCH_RUN_H_
#define CONTINUUM_SERVICES_TRAINER_BATCH_RUN_H_

#include <cstdint>

#include "continuum/v1/trainer.pb.h"
#include "services/trainer/run_context.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

// Fewest window rows a run trains on.
inline constexpr int64_t kMinWindowRows = 10;

// Does the work of batch run `run` (see above) and says how it ended.
RunOutcome RunBatch(const TrainingExecutorOptions& options, const v1::Run& run,
                    RunControl& control);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_BATCH_RUN_H_
