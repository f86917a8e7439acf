#include "services/collector/record_validator.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "lib/core/record_attributes.h"
#include "lib/core/resource_names.h"

namespace continuum::collector {
namespace {

constexpr int kMaxIdBytes = 128;
constexpr int kMaxProblems = 10;


absl::Status CheckTarget(const v1::DatasetSchema& schema, double value,
                         absl::string_view what) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "label target ", value, " is not finite"));
  }
  if (schema.has_target_min() && value < schema.target_min()) {
    return absl::InvalidArgumentError(absl::StrCat(what, "label target ", value,
                                                   " is below the minimum ",
                                                   schema.target_min()));
  }
  if (schema.has_target_max() && value > schema.target_max()) {
    return absl::InvalidArgumentError(absl::StrCat(what, "label target ", value,
                                                   " is above the maximum ",
                                                   schema.target_max()));
  }
  return absl::OkStatus();
}

// The first problem of one record: its metric reason and its message;
// both empty when there is none.
struct Problem {
  std::string reason;
  std::string message;
};

// The prefix of a problem's message, e.g. `record 3 (id "r-3"): `.
std::string What(int index, const v1::Record& r) {
  return absl::StrCat("record ", index, " (id \"",
                      r.id().substr(0, kMaxIdBytes), "\"): ");
}

// Checks the id, the data set, the event time and the features.
Problem CheckFields(const v1::DatasetSchema& schema, absl::string_view dataset,
                    const v1::Record& r, int i, absl::Time latest,
                    const RecordLimits& limits) {
  if (r.id().empty()) {
    return {"missing_id", absl::StrCat("record ", i, ": id is missing")};
  }
  if (r.id().size() > kMaxIdBytes) {
    return {"bad_id", absl::StrCat(What(i, r), "id is ", r.id().size(),
                                   " bytes; at most ", kMaxIdBytes)};
  }
  if (!r.dataset().empty() && r.dataset() != dataset) {
    return {"dataset_mismatch",
            absl::StrCat(What(i, r), "dataset \"", r.dataset(),
                         "\" differs from the request's \"", dataset, "\"")};
  }
  if (!r.has_event_time()) {
    return {"missing_event_time",
            absl::StrCat(What(i, r), "event_time is missing")};
  }
  if (absl::FromUnixSeconds(r.event_time().seconds()) > latest) {
    return {
        "future_event_time",
        absl::StrCat(
            What(i, r), "event_time ",
            absl::FormatTime(absl::FromUnixSeconds(r.event_time().seconds())),
            " is in the future (more than ",
            absl::FormatDuration(limits.max_clock_skew), " ahead)")};
  }
  if (r.event_time().nanos() < 0 || r.event_time().nanos() >= 1'000'000'000 ||
      r.event_time().seconds() < 0) {
    return {"bad_event_time",
            absl::StrCat(What(i, r), "event_time is not a valid timestamp")};
  }
  if (r.features_size() != schema.feature_dim()) {
    return {"feature_dim",
            absl::StrCat(What(i, r), r.features_size(),
                         " features, the data set has ", schema.feature_dim())};
  }
  for (int f = 0; f < r.features_size(); ++f) {
    if (!std::isfinite(r.features(f))) {
      return {"non_finite_feature",
              absl::StrCat(What(i, r), "feature ", f, " is ", r.features(f))};
    }
  }
  return {};
}

// Checks the attributes: keys, count and size (core::CheckRecordAttributes).
Problem CheckAttributes(const v1::Record& r, int i) {
  absl::Status s = core::CheckRecordAttributes(r.attributes());
  if (s.ok()) return {};
  return {"bad_attributes", absl::StrCat(What(i, r), s.message())};
}

// The first problem of record `i`, in the order: fields, label, attributes.
Problem CheckRecord(const v1::DatasetSchema& schema, absl::string_view dataset,
                    const v1::Record& r, int i, absl::Time latest,
                    const RecordLimits& limits) {
  Problem problem = CheckFields(schema, dataset, r, i, latest, limits);
  if (!problem.message.empty()) return problem;
  if (r.has_label()) {
    absl::Status s = ValidateLabel(schema, r.label(), "");
    if (!s.ok()) return {"bad_label", absl::StrCat(What(i, r), s.message())};
  }
  return CheckAttributes(r, i);
}

}  // namespace

absl::Status ValidateDatasetId(absl::string_view id) {
  return core::ValidateResourceId("data set", id);
}

absl::Status ValidateSchema(const v1::DatasetSchema& schema) {
  auto bad = [](absl::string_view field, absl::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset.schema.", field, ": ", problem));
  };
  if (schema.feature_dim() < 1) return bad("feature_dim", "must be >= 1");
  if (schema.feature_dim() > 1'000'000) {
    return bad("feature_dim", "must be at most 1000000");
  }
  if (schema.feature_names_size() != 0 &&
      schema.feature_names_size() != schema.feature_dim()) {
    return bad("feature_names", "must be empty or have feature_dim entries");
  }
  switch (schema.label_kind()) {
    case v1::LABEL_KIND_NONE:
      break;
    case v1::LABEL_KIND_CLASS:
      if (schema.num_classes() < 2) return bad("num_classes", "must be >= 2");
      if (schema.class_names_size() != 0 &&
          schema.class_names_size() != schema.num_classes()) {
        return bad("class_names", "must be empty or have num_classes entries");
      }
      break;
    case v1::LABEL_KIND_VECTOR:
      if (schema.target_dim() < 1) return bad("target_dim", "must be >= 1");
      [[fallthrough]];
    case v1::LABEL_KIND_VALUE:
      if (schema.has_target_min() && schema.has_target_max() &&
          !(schema.target_min() <= schema.target_max())) {
        return bad("target_min", "must not exceed target_max");
      }
      break;
    default:
      return bad("label_kind",
                 "must be LABEL_KIND_NONE, _CLASS, _VALUE or _VECTOR");
  }
  for (int index : schema.categorical_features()) {
    if (index < 0 || index >= schema.feature_dim()) {
      return bad("categorical_features",
                 absl::StrCat(index, " is not a feature index"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateLabel(const v1::DatasetSchema& schema,
                           const v1::Label& label, absl::string_view what) {
  switch (schema.label_kind()) {
    case v1::LABEL_KIND_NONE:
      return absl::InvalidArgumentError(
          absl::StrCat(what,
                       "label given, but the data set has no labels "
                       "(LABEL_KIND_NONE)"));
    case v1::LABEL_KIND_CLASS:
      if (label.value_case() != v1::Label::kClassIndex) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "label must be a class_index"));
      }
      if (label.class_index() < 0 ||
          label.class_index() >= schema.num_classes()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "label class ", label.class_index(),
                         " is outside [0, ", schema.num_classes(), ")"));
      }
      return absl::OkStatus();
    case v1::LABEL_KIND_VALUE:
      if (label.value_case() != v1::Label::kTargetValue) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "label must be a target_value"));
      }
      return CheckTarget(schema, label.target_value(), what);
    case v1::LABEL_KIND_VECTOR: {
      if (label.value_case() != v1::Label::kTargetVector) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "label must be a target_vector"));
      }
      const auto& values = label.target_vector().values();
      if (values.size() != schema.target_dim()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, "label target vector has ", values.size(),
                         " values, the data set has ", schema.target_dim()));
      }
      for (float v : values) {
        if (absl::Status s = CheckTarget(schema, v, what); !s.ok()) return s;
      }
      return absl::OkStatus();
    }
    default:
      return absl::InternalError("data set has no label kind");
  }
}

absl::Status ValidateBatch(
    const v1::DatasetSchema& schema, absl::string_view dataset,
    const google::protobuf::RepeatedPtrField<v1::Record>& records,
    const RecordLimits& limits, absl::Time now, std::string* reason) {
  std::string ignored;
  if (reason == nullptr) reason = &ignored;
  if (records.empty()) {
    *reason = "empty_batch";
    return absl::InvalidArgumentError("the batch has no records");
  }
  if (records.size() > limits.max_batch_records) {
    *reason = "batch_too_large";
    return absl::InvalidArgumentError(absl::StrCat(
        "the batch has ", records.size(), " records; the limit is ",
        limits.max_batch_records, ": split it"));
  }
  const absl::Time latest = now + limits.max_clock_skew;
  std::vector<std::string> problems;
  int total_problems = 0;
  for (int i = 0; i < records.size(); ++i) {
    Problem problem =
        CheckRecord(schema, dataset, records[i], i, latest, limits);
    if (!problem.message.empty()) {
      if (total_problems == 0) *reason = problem.reason;
      ++total_problems;
      if (problems.size() < kMaxProblems) {
        problems.push_back(std::move(problem.message));
      }
    }
  }
  if (problems.empty()) return absl::OkStatus();
  std::string message = absl::StrCat("batch rejected, nothing stored: ",
                                     absl::StrJoin(problems, "; "));
  if (total_problems > kMaxProblems) {
    absl::StrAppend(&message, "; and ", total_problems - kMaxProblems, " more");
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace continuum::collector
