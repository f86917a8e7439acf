// The first phase of every run, RUN_PHASE_FETCHING_MODEL: the model a run
// starts from, whichever its strategy.
//
// GetModel and GetDataset; with a production version, DownloadArtifact
// (SHA-256 verified by the client), ParseBundle, ValidateBundle. Without
// one, a cold start: Model::InitBundle from the registry's Model.spec
// (family from Model.family when the spec leaves it unset; input_dim from
// the data set's feature_dim and output_dim from its num_classes / target
// width when the spec leaves them 0), seeded with the run's seed; its
// normalisation is fitted later to the rows it trains on
// (FitColdStartNormalization). The run's record gets parent_version and
// cold_start. Last, the data set must fit the model: feature_dim equal to
// input_dim, class labels for a classifier with at least as many outputs
// as classes, value or vector labels of output_dim for a regressor.
//
// Errors (the run fails with them): FAILED_PRECONDITION for a client that
// is not configured, an unknown data set, a production version this trainer
// cannot train, an unusable cold-start spec or a data set that does not
// fit; DATA_LOSS for a production artifact that is not a bundle; the
// registry's and collector's own codes ("registry: ...", "collector: ...");
// CANCELLED when the run stopped.
//
// Thread safety: the run's thread.
#ifndef CONTINUUM_SERVICES_TRAINER_MODEL_FETCH_H_
#define CONTINUUM_SERVICES_TRAINER_MODEL_FETCH_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/dataset.h"
#include "services/trainer/run_context.h"

namespace continuum::trainer {

// The model a run starts from, and the data set it trains on.
struct StartingModel {
  // The schema of the run's data set.
  v1::DatasetSchema schema;
  // The production version's bundle, or a cold start's fresh weights.
  internal::v1::ModelBundle bundle;
  // The production version; 0 for a cold start.
  int64_t version = 0;
  bool cold_start = false;
  // The bundle's spec, resolved (model::ResolveSpec).
  v1::ModelSpec spec;
};

// Runs RUN_PHASE_FETCHING_MODEL (see above).
absl::StatusOr<StartingModel> FetchModel(RunContext& context);

// A cold start trains in the space of its normalisation: fits the bundle's
// input normalisation to `rows` (model::FitNormalization: per-column mean
// and floored standard deviation, values bounded), and a regressor's
// target normalisation (mean and standard deviation, 1 for a constant
// column) to their targets. Batch runs then refit or keep it as the
// config's normalisation policy says (model::Train).
void FitColdStartNormalization(const model::Dataset& rows,
                               StartingModel* model);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_MODEL_FETCH_H_
