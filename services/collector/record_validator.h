// Checks records and labels against a data set's schema before anything is
// stored: a batch is accepted whole or rejected whole.
#ifndef CONTINUUM_SERVICES_COLLECTOR_RECORD_VALIDATOR_H_
#define CONTINUUM_SERVICES_COLLECTOR_RECORD_VALIDATOR_H_

#include <google/protobuf/repeated_ptr_field.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::collector {

// Limits applied on top of the schema.
struct RecordLimits {
  // Most records in one batch.
  int max_batch_records = 10000;
  // Largest allowed event time = now + max_clock_skew.
  absl::Duration max_clock_skew = absl::Minutes(5);
};

// Checks a data set id: `[a-z0-9][a-z0-9._-]{0,62}`.
absl::Status ValidateDatasetId(absl::string_view id);

// Checks a schema for CreateDataset: feature_dim >= 1, a label kind, classes
// >= 2 for class labels, target_dim >= 1 for vectors, a consistent target
// range, names lists of the right length, categorical indexes in range.
absl::Status ValidateSchema(const v1::DatasetSchema& schema);

// Checks `label` against `schema`. The message names the label and `what`
// prefixes it: "record 3 (id \"a\"): label class 4 is outside [0, 4)" or,
// with an empty `what`, "label must be a class_index".
absl::Status ValidateLabel(const v1::DatasetSchema& schema,
                           const v1::Label& label, absl::string_view what);

// Checks a batch for data set `dataset`: not empty, at most the batch limit,
// and every record: id of 1..128 bytes, matching `dataset` if set, an event
// time no later than now + skew, exactly feature_dim finite features, a label
// fitting the schema (or none), at most 32 attributes with keys
// `[a-z][a-z0-9_]{0,62}` and at most 4 KiB in total.
// INVALID_ARGUMENT lists up to 10 problems, each with its record index, e.g.
// `record 3 (id "r-3"): 783 features, the data set has 784`. If `reason` is
// given it receives a short metric label for the first problem
// (`feature_dim`, `non_finite_feature`, `missing_id`, ...).
absl::Status ValidateBatch(
    const v1::DatasetSchema& schema, absl::string_view dataset,
    const google::protobuf::RepeatedPtrField<v1::Record>& records,
    const RecordLimits& limits, absl::Time now, std::string* reason = nullptr);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_RECORD_VALIDATOR_H_
