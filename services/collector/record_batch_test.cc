#include "services/collector/record_batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>

namespace continuum::collector {
namespace {

v1::Record Rec(const std::string& id) {
  v1::Record r;
  r.set_id(id);
  r.mutable_event_time()->set_seconds(10);
  r.add_features(1);
  r.add_features(2);
  (*r.mutable_attributes())["site"] = "eu";
  return r;
}

TEST(RecordBatchTest, StartBatchShapesByLabelKind) {
  v1::DatasetSchema schema;
  schema.set_feature_dim(2);
  schema.set_target_dim(3);
  v1::RecordBatch batch;
  batch.set_num_rows(5);
  for (auto [kind, target_dim] :
       {std::pair{v1::LABEL_KIND_CLASS, 0}, std::pair{v1::LABEL_KIND_VALUE, 1},
        std::pair{v1::LABEL_KIND_VECTOR, 3},
        std::pair{v1::LABEL_KIND_NONE, 0}}) {
    schema.set_label_kind(kind);
    StartBatch(schema, &batch);
    EXPECT_EQ(batch.num_rows(), 0);
    EXPECT_EQ(batch.feature_dim(), 2);
    EXPECT_EQ(batch.label_kind(), kind);
    EXPECT_EQ(batch.target_dim(), target_dim);
  }
}

TEST(RecordBatchTest, RowsCarryLabelsOrTheirAbsence) {
  v1::DatasetSchema schema;
  schema.set_feature_dim(2);
  schema.set_label_kind(v1::LABEL_KIND_CLASS);
  v1::RecordBatch batch;
  StartBatch(schema, &batch);
  v1::Label label;
  label.set_class_index(2);
  AppendRow(Rec("a"), &label, /*include_attributes=*/true, &batch);
  AppendRow(Rec("b"), nullptr, /*include_attributes=*/true, &batch);
  EXPECT_EQ(batch.num_rows(), 2);
  EXPECT_EQ(batch.features_size(), 4);
  EXPECT_EQ(batch.ids(1), "b");
  EXPECT_EQ(batch.event_time_unix_micros(0), 10'000'000);
  EXPECT_TRUE(batch.labeled(0));
  EXPECT_FALSE(batch.labeled(1));
  EXPECT_EQ(batch.class_indices(0), 2);
  EXPECT_EQ(batch.class_indices(1), -1);
  ASSERT_EQ(batch.attributes_size(), 2);
  EXPECT_EQ(batch.attributes(0).values().at("site"), "eu");

  schema.set_label_kind(v1::LABEL_KIND_VECTOR);
  schema.set_target_dim(2);
  StartBatch(schema, &batch);
  v1::Label vector;
  vector.mutable_target_vector()->add_values(0.5);
  AppendRow(Rec("c"), &vector, /*include_attributes=*/false, &batch);
  ASSERT_EQ(batch.targets_size(), 2);
  EXPECT_EQ(batch.targets(0), 0.5);
  EXPECT_TRUE(std::isnan(batch.targets(1)));
  EXPECT_EQ(batch.attributes_size(), 0);

  schema.set_label_kind(v1::LABEL_KIND_VALUE);
  StartBatch(schema, &batch);
  AppendRow(Rec("d"), nullptr, false, &batch);
  ASSERT_EQ(batch.targets_size(), 1);
  EXPECT_TRUE(std::isnan(batch.targets(0)));
}

TEST(RecordBatchTest, BatchRowsDefaultsAndCapsBySize) {
  EXPECT_EQ(BatchRows(0, 10), kDefaultBatchRows);
  EXPECT_EQ(BatchRows(-3, 10), kDefaultBatchRows);
  EXPECT_EQ(BatchRows(7, 10), 7);
  // 1M features of 4 bytes: 16 MiB / (4 MB + 64) rounds down to 4 rows.
  EXPECT_EQ(BatchRows(1000, 1'000'000), 4);
  EXPECT_EQ(BatchRows(1000, 100'000'000), 1);
}

}  // namespace
}  // namespace continuum::collector
