#include "services/drift/batch_validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "lib/core/resource_names.h"

namespace continuum::drift_service {
namespace {

// The batch's identity, kind and feature dimension.
absl::Status ValidateShape(const v1::ObservationBatch& batch,
                           const KnownVersion& known) {
  if (absl::Status s = core::ValidateResourceId("model", batch.model());
      !s.ok()) {
    return s;
  }
  if (batch.version() < 1) {
    return absl::InvalidArgumentError("version must be >= 1");
  }
  if (!v1::ObservationKind_IsValid(batch.kind())) {
    return absl::InvalidArgumentError("unknown kind");
  }
  const int64_t rows = batch.num_rows();
  if (rows < 1) return absl::InvalidArgumentError("num_rows must be >= 1");
  const int64_t dim = batch.feature_dim();
  if (dim < 0) return absl::InvalidArgumentError("feature_dim must be >= 0");
  if (dim == 0 && batch.kind() != v1::OBSERVATION_KIND_OUTCOME) {
    return absl::InvalidArgumentError(
        "feature_dim must be >= 1 (0 only for OBSERVATION_KIND_OUTCOME "
        "batches without features)");
  }
  if (batch.features_size() != rows * dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "features holds ", batch.features_size(), " values, expected num_rows ",
        rows, " * feature_dim ", dim, " = ", rows * dim));
  }
  if (dim > 0 && known.feature_dim >= 0 && known.feature_dim != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature_dim ", dim, " differs from the ",
                     known.feature_dim, " of earlier batches of model '",
                     batch.model(), "' version ", batch.version()));
  }
  if (dim > 0 && known.monitor != nullptr) {
    for (const v1::DetectorConfig& d : known.monitor->detectors()) {
      if (d.signal() == v1::MONITORED_SIGNAL_FEATURE &&
          d.feature_index() >= dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "feature_dim ", dim, " has no feature ", d.feature_index(),
            " watched by detector '", d.id(), "'"));
      }
    }
  }
  return absl::OkStatus();
}

// The per-row columns: sizes, and finite values.
absl::Status ValidateColumns(const v1::ObservationBatch& batch) {
  const int64_t rows = batch.num_rows();
  auto check_column = [&](absl::string_view column, int size) {
    if (size != 0 && size != rows) {
      return absl::InvalidArgumentError(absl::StrCat(column, " holds ", size,
                                                     " entries, expected 0 or "
                                                     "num_rows ",
                                                     rows));
    }
    return absl::OkStatus();
  };
  for (absl::Status s :
       {check_column("predicted_classes", batch.predicted_classes_size()),
        check_column("predicted_values", batch.predicted_values_size()),
        check_column("confidences", batch.confidences_size()),
        check_column("ids", batch.ids_size()),
        check_column("event_time_unix_micros",
                     batch.event_time_unix_micros_size())}) {
    if (!s.ok()) return s;
  }
  const int64_t dim = batch.feature_dim();
  for (int64_t i = 0; i < batch.features_size(); ++i) {
    if (!std::isfinite(batch.features(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i / dim, ": feature ", i % dim, " is ",
                       batch.features(i), " (must be finite)"));
    }
  }
  for (int i = 0; i < batch.predicted_values_size(); ++i) {
    if (!std::isfinite(batch.predicted_values(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i, ": predicted value is ",
                       batch.predicted_values(i), " (must be finite)"));
    }
  }
  for (int i = 0; i < batch.confidences_size(); ++i) {
    if (!std::isfinite(batch.confidences(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i, ": confidence is ", batch.confidences(i),
                       " (must be finite)"));
    }
  }
  return absl::OkStatus();
}

// The outcomes: rows in range, one kind per version.
absl::Status ValidateOutcomes(const v1::ObservationBatch& batch,
                              OutcomeKind kind) {
  const int64_t rows = batch.num_rows();
  for (int i = 0; i < batch.outcomes_size(); ++i) {
    const v1::ObservedOutcome& o = batch.outcomes(i);
    if (o.row() < 0 || o.row() >= rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "outcomes[", i, "]: row ", o.row(), " is outside [0, ", rows, ")"));
    }
    OutcomeKind this_kind = OutcomeKind::kUnknown;
    if (o.result_case() == v1::ObservedOutcome::kCorrect) {
      this_kind = OutcomeKind::kCorrect;
    } else if (o.result_case() == v1::ObservedOutcome::kErrorValue) {
      this_kind = OutcomeKind::kErrorValue;
      if (!std::isfinite(o.error_value()) || o.error_value() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("row ", o.row(), ": error_value is ", o.error_value(),
                         " (must be finite and >= 0)"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", o.row(), ": outcome has neither correct nor error_value"));
    }
    if (kind != OutcomeKind::kUnknown && kind != this_kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", o.row(), ": outcome is ",
          this_kind == OutcomeKind::kCorrect ? "correct/wrong"
                                             : "an error value",
          " but model '", batch.model(), "' version ", batch.version(),
          " reports ", OutcomeKindName(kind)));
    }
    kind = this_kind;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateBatch(const v1::ObservationBatch& batch,
                           const KnownVersion& known) {
  if (absl::Status s = ValidateShape(batch, known); !s.ok()) return s;
  if (absl::Status s = ValidateColumns(batch); !s.ok()) return s;
  return ValidateOutcomes(batch, known.outcome_kind);
}

}  // namespace continuum::drift_service
