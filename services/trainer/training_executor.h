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
//
// TRAINING_STRATEGY_ONLINE is a long-lived run instead (ExecuteOnline in
// the .cc): FETCHING_MODEL as above, then TRAINING until CancelRun or
// max_duration (the injected clock's), which ends it normally. It polls the
// collector (Scan of [watermark, now), then the watermark moves to now;
// every online_poll_interval while there is less than a micro-batch) and
// applies model::OnlineUpdater::Update to each micro-batch of
// online.micro_batch_size rows: rows held out by the same hash as above go
// to a held-out set of the most recent rows instead; a micro-batch with a
// non-finite feature or target, or whose update has a non-finite loss or
// gradient, is skipped and counted; replay rows (replay_ratio, from one
// SampleReplay pool read at the start) are mixed into each update. Every
// online.publish_every_updates updates, or online.publish_every of the
// clock with at least one update, it builds a candidate (ExportBundle, the
// Fisher diagonal on the recent training rows, an autoencoder's threshold,
// held-out metrics of the candidate and of the last accepted version) and
// uploads it as above. Each decision goes to RunControl::CandidateDecided
// (the circuit breaker counts candidates). An approved candidate becomes
// the parent of the next one; after a rejected one the run goes on from
// the last accepted weights (a fresh OnlineUpdater). The run ends
// SUCCEEDED, or REJECTED when its last candidate was rejected or the
// circuit breaker opened; updates since the last candidate are dropped.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINING_EXECUTOR_H_

#include <functional>
#include <string>

#include "absl/time/time.h"
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
  // Online runs: how long to wait for new records when a poll of the
  // collector found too few for a micro-batch.
  absl::Duration online_poll_interval = absl::Seconds(5);
  // Online runs: waits about `d` for new records. Null: sleeps up to `d`
  // in slices of at most 100 ms, returning early once the run is
  // cancelled. Tests advance a fake clock here.
  std::function<void(absl::Duration d)> online_wait;
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
