#include "services/trainer/training_rows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "services/trainer/held_out_split.h"

namespace continuum::trainer {
namespace {

// Rows of 2 features: labelled[i], class_indices[i] (-1 = none).
v1::RecordBatch Batch(const std::vector<bool>& labeled,
                      const std::vector<int>& classes) {
  v1::RecordBatch b;
  b.set_feature_dim(2);
  for (size_t i = 0; i < labeled.size(); ++i) {
    b.set_num_rows(b.num_rows() + 1);
    b.add_features(static_cast<float>(i));
    b.add_features(static_cast<float>(10 * i));
    b.add_ids("r" + std::to_string(i));
    b.add_labeled(labeled[i]);
    b.add_class_indices(classes[i]);
  }
  return b;
}

RowFormat Format(v1::ModelFamily family, int output_dim, bool anomaly) {
  RowFormat f;
  f.family = family;
  f.input_dim = 2;
  f.output_dim = output_dim;
  f.anomaly_labels = anomaly;
  return f;
}

TEST(TrainingRowsTest, ClassifierKeepsLabelledRowsOfItsClasses) {
  const RowFormat f = Format(v1::MODEL_FAMILY_MLP_CLASSIFIER, 3, false);
  Rows rows;
  rows.input_dim = 2;
  rows.target_width = f.TargetWidth();
  absl::StatusOr<bool> more = AppendBatch(
      Batch({true, false, true, true}, {1, 0, 5, 2}), f, 100, &rows);
  ASSERT_TRUE(more.ok()) << more.status();
  EXPECT_TRUE(*more);
  EXPECT_EQ(rows.size(), 2);
  EXPECT_EQ(rows.skipped, 2);  // Unlabelled, and class 5 of 3.
  EXPECT_EQ(rows.targets, (std::vector<float>{1, 2}));
  EXPECT_EQ(rows.features, (std::vector<float>{0, 0, 3, 30}));
  EXPECT_EQ(rows.keys[0], RowKey("r0"));
  EXPECT_TRUE(f.OnlyLabeled());
}

TEST(TrainingRowsTest, AutoencodersTrainOnBenignRowsAndEvaluateOnLabels) {
  const RowFormat train = Format(v1::MODEL_FAMILY_AUTOENCODER, 2, false);
  EXPECT_FALSE(train.OnlyLabeled());
  EXPECT_EQ(train.TargetWidth(), 0);
  Rows rows;
  rows.input_dim = 2;
  ASSERT_TRUE(
      AppendBatch(Batch({false, true, true}, {-1, 0, 1}), train, 100, &rows)
          .ok());
  EXPECT_EQ(rows.size(), 2);  // The anomaly (class 1) is left out.
  EXPECT_TRUE(rows.targets.empty());

  const RowFormat eval = Format(v1::MODEL_FAMILY_AUTOENCODER, 2, true);
  EXPECT_TRUE(eval.OnlyLabeled());
  Rows labelled;
  labelled.input_dim = 2;
  labelled.target_width = 1;
  ASSERT_TRUE(AppendBatch(Batch({false, true, true, true}, {-1, 0, 1, 2}), eval,
                          100, &labelled)
                  .ok());
  EXPECT_EQ(labelled.targets, (std::vector<float>{0, 1}));
  EXPECT_EQ(labelled.skipped, 2);
}

TEST(TrainingRowsTest, RegressorTakesItsTargetWidth) {
  const RowFormat f = Format(v1::MODEL_FAMILY_MLP_REGRESSOR, 2, false);
  v1::RecordBatch b = Batch({true, true}, {-1, -1});
  b.set_target_dim(2);
  for (float t : {1.0f, 2.0f, 3.0f, 4.0f}) b.add_targets(t);
  Rows rows;
  rows.input_dim = 2;
  rows.target_width = 2;
  ASSERT_TRUE(AppendBatch(b, f, 100, &rows).ok());
  EXPECT_EQ(rows.targets, (std::vector<float>{1, 2, 3, 4}));
  b.set_target_dim(1);
  Rows narrow;
  ASSERT_TRUE(AppendBatch(b, f, 100, &narrow).ok());
  EXPECT_EQ(narrow.size(), 0);
  EXPECT_EQ(narrow.skipped, 2);
}

TEST(TrainingRowsTest, CapAndBadBatches) {
  const RowFormat f = Format(v1::MODEL_FAMILY_MLP_CLASSIFIER, 3, false);
  Rows rows;
  rows.input_dim = 2;
  rows.target_width = 1;
  absl::StatusOr<bool> more =
      AppendBatch(Batch({true, true, true}, {0, 1, 2}), f, 2, &rows);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_EQ(rows.size(), 2);

  v1::RecordBatch wide = Batch({true}, {0});
  wide.set_feature_dim(3);
  EXPECT_TRUE(
      absl::IsFailedPrecondition(AppendBatch(wide, f, 9, &rows).status()));
  v1::RecordBatch no_ids = Batch({true}, {0});
  no_ids.clear_ids();
  EXPECT_TRUE(absl::IsInternal(AppendBatch(no_ids, f, 9, &rows).status()));
  // (2 features + 1 target) * 4 bytes + 8 bytes of key = 20 bytes a row.
  EXPECT_EQ(f.RowsInBudget(200), 10);
  EXPECT_EQ(f.RowsInBudget(1), 1);
}

TEST(TrainingRowsTest, RowsBecomeDatasets) {
  Rows rows;
  rows.input_dim = 2;
  rows.target_width = 1;
  rows.features = {1, 2, 3, NAN, 5, 6};
  rows.targets = {0, 1, 2};
  rows.keys = {7, 8, 9};
  EXPECT_TRUE(rows.Finite(0));
  EXPECT_FALSE(rows.Finite(1));
  const model::Dataset some = rows.ToDataset({2, 0});
  EXPECT_EQ(some.features, (std::vector<float>{5, 6, 1, 2}));
  EXPECT_EQ(some.targets, (std::vector<float>{2, 0}));
  EXPECT_EQ(rows.All().size(), 3);
  rows.EraseFront(2);
  EXPECT_EQ(rows.keys, (std::vector<uint64_t>{9}));
  EXPECT_EQ(rows.features, (std::vector<float>{5, 6}));

  model::Dataset recent;
  AppendRecent(some, 1, 3, &recent);
  AppendRecent(some, 1, 3, &recent);
  EXPECT_EQ(recent.size(), 3);  // The oldest row dropped.
  EXPECT_EQ(recent.targets, (std::vector<float>{0, 2, 0}));
  model::Dataset to;
  to.input_dim = 2;
  AppendRows(some, 1, {1, 1}, &to);
  EXPECT_EQ(to.targets, (std::vector<float>{0, 0}));
}

}  // namespace
}  // namespace continuum::trainer
