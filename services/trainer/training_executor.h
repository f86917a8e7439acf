// TrainingExecutor: the work of one training run, phase by phase
// (continuum.v1.RunPhase), over the registry and collector clients and
// lib/model's training library.
//
// 1. FETCHING_MODEL: GetModel; with a production version, DownloadArtifact
//    (SHA-256 verified by the client), ParseBundle, ValidateBundle. Without
//    one, a cold start: Model::InitBundle from the registry's
//    Model.spec (family from Model.family when the spec leaves it unset;
//    input_dim from the data set's feature_dim and output_dim from its
//    num_classes / target width when the spec leaves them 0), seeded with
//    the run's seed; its input normalisation (and a regressor's target
//    normalisation) is then computed from the training rows.
// 2. FETCHING_DATA: Scan of the run's data window (labelled rows only,
//    except for autoencoders, which train on unlabelled rows and rows
//    labelled 0), streamed in batches and held as float rows. The memory
//    budget (resources.memory_budget_bytes) caps the rows held: window,
//    then replay, then golden; rows beyond it are not read and a note says
//    so. The held-out set is split off by a hash of each record id and the
//    seed (so the same rows are held out whatever the scan order), at
//    least one row each side. The replay sample (SampleReplay, seeded) has
//    train_rows * r / (1 - r) rows for replay_ratio r, so an epoch sees
//    each about once; replay rows that are in the held-out set are
//    dropped. FULL_RETRAIN uses no replay. The golden data set, when
//    configured, is scanned whole.
// 3. TRAINING: model::Train with progress (epoch, step, loss, rows/s, ETA)
//    and the cancel flag polled before every step. A diverged run fails
//    (ABORTED) and uploads nothing.
// 4. EVALUATING: candidate and parent on the held-out set and the golden
//    set (evaluation sets `held_out` and `golden`).
// 5. FINALIZING: lineage into the manifest (parent, run, data window,
//    code version), ValidateBundle, SerializeBundle, SHA-256.
// 6. UPLOADING: RunControl::BeginUpload, then UploadVersion with the
//    lineage and the validation report in the metadata; the registry's
//    decision makes the run SUCCEEDED (approved) or REJECTED.
// The run's `resources.max_duration` bounds the whole: past it the run
// fails with DEADLINE_EXCEEDED.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_

#include <string>

#include "lib/core/clock.h"
#include "services/trainer/clients.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

// Fewest window rows a run trains on.
inline constexpr int64_t kMinWindowRows = 10;

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
};

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
