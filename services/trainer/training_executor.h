// TrainingExecutor: the RunExecutor of the trainer. It does the work of
// one training run over the registry and collector clients and lib/model's
// training library, by strategy:
//
// - INCREMENTAL and FULL_RETRAIN: a batch run (batch_run.h): fetch the
//   model, fetch the window (plus replay and golden rows), train, evaluate,
//   finalize, upload.
// - ONLINE: a long-lived online run (online_run.h): fetch the model, then
//   follow the collector in micro-batches and publish candidates until
//   cancelled or max_duration.
//
// What both share: run_context.h (options, deadline on the injected clock,
// stop check), model_fetch.h (FETCHING_MODEL), data_scan.h and
// training_rows.h (reading rows), held_out_split.h (which rows are held
// out), candidate_upload.h (report, FINALIZING, UPLOADING).
//
// Thread safety: Execute may run on several worker threads at once (one
// run each); the options' clients must be thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_

#include <utility>

#include "services/trainer/run_context.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

class TrainingExecutor : public RunExecutor {
 public:
  explicit TrainingExecutor(TrainingExecutorOptions options)
      : options_(std::move(options)) {}

  RunOutcome Execute(const v1::Run& run, RunControl& control) override;

 private:
  const TrainingExecutorOptions options_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_
