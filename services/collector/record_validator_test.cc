#include "services/collector/record_validator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "absl/strings/match.h"

namespace continuum::collector {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

v1::DatasetSchema ClassSchema() {
  v1::DatasetSchema schema;
  schema.set_feature_dim(3);
  schema.set_label_kind(v1::LABEL_KIND_CLASS);
  schema.set_num_classes(4);
  return schema;
}

v1::Record Good(const std::string& id) {
  v1::Record r;
  r.set_id(id);
  r.mutable_event_time()->set_seconds(1'799'999'000);
  for (float f : {0.5f, -1.0f, 2.0f}) r.add_features(f);
  r.mutable_label()->set_class_index(2);
  (*r.mutable_attributes())["site"] = "eu-1";
  return r;
}

struct BadCase {
  std::string name;
  std::function<void(v1::Record*)> mutate;
  std::string message;
  std::string reason;
};

TEST(RecordValidatorTest, GoodBatchPasses) {
  google::protobuf::RepeatedPtrField<v1::Record> batch;
  *batch.Add() = Good("a");
  *batch.Add() = Good("b");
  EXPECT_TRUE(ValidateBatch(ClassSchema(), "ds", batch, {}, kNow).ok());
}

TEST(RecordValidatorTest, EveryKindOfBadRecordIsNamedWithItsIndex) {
  const BadCase cases[] = {
      {"missing id", [](v1::Record* r) { r->clear_id(); },
       "record 1: id is missing", "missing_id"},
      {"long id", [](v1::Record* r) { r->set_id(std::string(200, 'x')); },
       "id is 200 bytes", "bad_id"},
      {"other dataset", [](v1::Record* r) { r->set_dataset("other"); },
       "dataset \"other\" differs", "dataset_mismatch"},
      {"no event time", [](v1::Record* r) { r->clear_event_time(); },
       "event_time is missing", "missing_event_time"},
      {"future",
       [](v1::Record* r) {
         r->mutable_event_time()->set_seconds(1'900'000'000);
       },
       "is in the future", "future_event_time"},
      {"dimension", [](v1::Record* r) { r->add_features(1); },
       "4 features, the data set has 3", "feature_dim"},
      {"nan", [](v1::Record* r) { r->set_features(1, std::nanf("")); },
       "feature 1 is nan", "non_finite_feature"},
      {"inf",
       [](v1::Record* r) {
         r->set_features(2, std::numeric_limits<float>::infinity());
       },
       "feature 2 is inf", "non_finite_feature"},
      {"class out of range",
       [](v1::Record* r) { r->mutable_label()->set_class_index(4); },
       "class 4 is outside [0, 4)", "bad_label"},
      {"wrong label kind",
       [](v1::Record* r) { r->mutable_label()->set_target_value(1); },
       "label must be a class_index", "bad_label"},
      {"attribute key",
       [](v1::Record* r) { (*r->mutable_attributes())["Bad Key"] = "x"; },
       "attribute key \"Bad Key\"", "bad_attributes"},
  };
  for (const BadCase& c : cases) {
    google::protobuf::RepeatedPtrField<v1::Record> batch;
    *batch.Add() = Good("a");
    v1::Record bad = Good("b");
    c.mutate(&bad);
    *batch.Add() = bad;
    *batch.Add() = Good("c");
    std::string reason;
    absl::Status s =
        ValidateBatch(ClassSchema(), "ds", batch, {}, kNow, &reason);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_TRUE(absl::StrContains(s.message(), "record 1"))
        << c.name << ": " << s;
    EXPECT_TRUE(absl::StrContains(s.message(), c.message))
        << c.name << ": " << s;
    EXPECT_FALSE(absl::StrContains(s.message(), "record 0")) << s;
    EXPECT_EQ(reason, c.reason) << c.name;
  }
}

TEST(RecordValidatorTest, BatchLimits) {
  google::protobuf::RepeatedPtrField<v1::Record> batch;
  std::string reason;
  EXPECT_EQ(ValidateBatch(ClassSchema(), "ds", batch, {}, kNow, &reason).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reason, "empty_batch");
  RecordLimits limits;
  limits.max_batch_records = 2;
  for (int i = 0; i < 3; ++i) *batch.Add() = Good(std::to_string(i));
  absl::Status s =
      ValidateBatch(ClassSchema(), "ds", batch, limits, kNow, &reason);
  EXPECT_TRUE(absl::StrContains(s.message(), "the limit is 2")) << s;
  EXPECT_EQ(reason, "batch_too_large");
}

TEST(RecordValidatorTest, ManyProblemsAreSummarised) {
  google::protobuf::RepeatedPtrField<v1::Record> batch;
  for (int i = 0; i < 25; ++i) {
    v1::Record r = Good(std::to_string(i));
    r.clear_features();
    *batch.Add() = r;
  }
  absl::Status s = ValidateBatch(ClassSchema(), "ds", batch, {}, kNow);
  EXPECT_TRUE(absl::StrContains(s.message(), "record 9 ")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "record 10 ")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "and 15 more")) << s;
}

TEST(RecordValidatorTest, ValueAndVectorLabels) {
  v1::DatasetSchema schema;
  schema.set_feature_dim(1);
  schema.set_label_kind(v1::LABEL_KIND_VALUE);
  schema.set_target_min(0);
  schema.set_target_max(10);
  v1::Label label;
  label.set_target_value(5);
  EXPECT_TRUE(ValidateLabel(schema, label, "").ok());
  label.set_target_value(11);
  EXPECT_TRUE(absl::StrContains(ValidateLabel(schema, label, "").message(),
                                "above the maximum 10"));
  schema.set_label_kind(v1::LABEL_KIND_VECTOR);
  schema.set_target_dim(2);
  label.mutable_target_vector()->add_values(1);
  EXPECT_TRUE(absl::StrContains(ValidateLabel(schema, label, "").message(),
                                "has 1 values, the data set has 2"));
  label.mutable_target_vector()->add_values(2);
  EXPECT_TRUE(ValidateLabel(schema, label, "").ok());
  schema.set_label_kind(v1::LABEL_KIND_NONE);
  EXPECT_FALSE(ValidateLabel(schema, label, "").ok());
  // Without a prefix (ReportOutcome) every message still names the label.
  v1::DatasetSchema classes;
  classes.set_feature_dim(1);
  classes.set_label_kind(v1::LABEL_KIND_CLASS);
  classes.set_num_classes(3);
  auto class_label = [](int index) {
    v1::Label l;
    l.set_class_index(index);
    return l;
  };
  for (const v1::Label& l : {class_label(3), class_label(-1), label}) {
    EXPECT_TRUE(
        absl::StartsWith(ValidateLabel(classes, l, "").message(), "label "))
        << ValidateLabel(classes, l, "");
  }
  EXPECT_EQ(ValidateLabel(classes, class_label(3), "").message(),
            "label class 3 is outside [0, 3)");
}

TEST(RecordValidatorTest, SchemaAndIdChecks) {
  EXPECT_TRUE(ValidateDatasetId("fashion-mnist.v2_a").ok());
  EXPECT_FALSE(ValidateDatasetId("").ok());
  EXPECT_FALSE(ValidateDatasetId("Upper").ok());
  EXPECT_FALSE(ValidateDatasetId("-lead").ok());
  EXPECT_FALSE(ValidateDatasetId(std::string(64, 'a')).ok());
  v1::DatasetSchema schema = ClassSchema();
  EXPECT_TRUE(ValidateSchema(schema).ok());
  schema.set_num_classes(1);
  EXPECT_TRUE(
      absl::StrContains(ValidateSchema(schema).message(), "num_classes"));
  schema = ClassSchema();
  schema.set_feature_dim(0);
  EXPECT_TRUE(
      absl::StrContains(ValidateSchema(schema).message(), "feature_dim"));
  schema = ClassSchema();
  schema.set_label_kind(v1::LABEL_KIND_UNSPECIFIED);
  EXPECT_TRUE(
      absl::StrContains(ValidateSchema(schema).message(), "label_kind"));
}

}  // namespace
}  // namespace continuum::collector
