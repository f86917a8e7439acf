// The checks of an ObservationBatch before DriftMonitor::Observe applies
// any of it (a rejected batch changes nothing). Pure; thread-safe.
//
// INVALID_ARGUMENT naming the row and field, e.g.
//   "row 1: feature 1 is nan (must be finite)"
//   "features holds 5 values, expected num_rows 3 * feature_dim 2 = 6"
//   "feature_dim 1 differs from the 2 of earlier batches of model 'm'
//    version 1"
//   "feature_dim 1 has no feature 1 watched by detector 'feature_x'"
//   "row 0: outcome is an error value but model 'm' version 1 reports
//    correct/wrong"
#ifndef CONTINUUM_SERVICES_DRIFT_BATCH_VALIDATION_H_
#define CONTINUUM_SERVICES_DRIFT_BATCH_VALIDATION_H_

#include <cstdint>

#include "absl/status/status.h"
#include "continuum/v1/drift.pb.h"
#include "services/drift/performance_window.h"

namespace continuum::drift_service {

// What the monitor already knows of the batch's model and version.
struct KnownVersion {
  // The model's monitor (null: a model not seen before): its FEATURE
  // detectors' feature_index must exist in the batch.
  const v1::Monitor* monitor = nullptr;
  // The version's feature dimension (-1: none yet) and outcome kind.
  int32_t feature_dim = -1;
  OutcomeKind outcome_kind = OutcomeKind::kUnknown;
};

absl::Status ValidateBatch(const v1::ObservationBatch& batch,
                           const KnownVersion& known);

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_BATCH_VALIDATION_H_
