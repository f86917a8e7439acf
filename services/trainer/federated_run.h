// The runs of federated learning (federated.proto), on the trainer's
// ordinary run machinery so that every round's candidate meets the
// registry's gates and rollout plan like any other:
//
// - Coordinator: a RUN_TRIGGER_FEDERATED run applies a round's aggregate
//   (FederatedAggregate: the server optimiser's step) to the round's base
//   version (RUN_PHASE_FETCHING_MODEL downloads that version, not whatever
//   is in production now), evaluates the candidate and the base on the
//   coordinator's own evaluation data (the model's data set in the
//   coordinator's collector, its window whole: the coordinator trains on
//   nothing; without it the run fails FAILED_PRECONDITION, since the
//   registry requires a held_out evaluation), then FINALIZING and
//   UPLOADING as every run (candidate_upload.h). Its train_records are the
//   round's total_samples (the sites' rows, of which no row left them).
// - Site: a batch run with a `round` trains on the site's own window as
//   every batch run does (batch_run.h), then, instead of uploading,
//   submits local - base as the round's update (TrainingExecutorOptions::
//   federated_submit). FedProx's proximal term (mu / 2) ||w - w_base||^2 is
//   EWC with a Fisher diagonal of ones and lambda = mu against the base.
//
// The flattened layout of both: the parameters in the order of the base
// manifest's `parameters` (model::ManifestParameters), each row-major.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_RUN_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_RUN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

struct TrainingExecutorOptions;

// What a coordinator's run applies: the change to the base version's
// flattened parameters.
struct FederatedAggregate {
  v1::VersionRef base_version;
  std::vector<float> step;
  // Rows behind the aggregated updates (the run's train_records).
  int64_t total_samples = 0;
};

// What a site's run hands back for its round.
struct FederatedSiteUpdate {
  std::string round;
  v1::VersionRef base_version;
  // local - base, flattened.
  std::vector<float> update;
  int64_t samples = 0;
  v1::Metrics local_metrics;
  // How long fetching the base version, and reading the window and
  // training, took (UpdateMetadata.timings).
  absl::Duration download_time;
  absl::Duration local_training_time;
};

// The length of the flattened parameters of a bundle with `manifest`.
int64_t ParameterCount(const v1::ArtifactManifest& manifest);

// The flattened parameters of `bundle` (see above). INVALID_ARGUMENT if a
// parameter is missing or its data does not fill its shape.
absl::StatusOr<std::vector<float>> FlattenParameters(
    const internal::v1::ModelBundle& bundle);

// Adds `step` (flattened) to the bundle's parameters. INVALID_ARGUMENT for
// a length that is not the bundle's parameter count.
absl::Status AddToParameters(absl::Span<const float> step,
                             internal::v1::ModelBundle* bundle);

// The coordinator's RUN_TRIGGER_FEDERATED run (see above).
RunOutcome RunFederatedCandidate(const TrainingExecutorOptions& options,
                                 const v1::Run& run, RunControl& control);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_RUN_H_
