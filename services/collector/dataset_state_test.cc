#include "services/collector/dataset_state.h"

#include <gtest/gtest.h>

#include <string>

#include "lib/core/proto_time.h"
#include "services/collector/collector_testing.h"

namespace continuum::collector {
namespace {

v1::Dataset Settings(int64_t replay_size, bool only_labeled = false,
                     bool per_class = false) {
  v1::Dataset d;
  d.mutable_schema()->set_feature_dim(1);
  d.mutable_schema()->set_label_kind(v1::LABEL_KIND_CLASS);
  d.mutable_schema()->set_num_classes(2);
  d.mutable_replay()->set_size(replay_size);
  d.mutable_replay()->set_only_labeled(only_labeled);
  d.mutable_replay()->set_balanced_per_class(per_class);
  return d;
}

v1::Record Rec(const std::string& id, int label = -1,
               int64_t ingest_micros = 0) {
  v1::Record r = TestRecord(id, kTestDay0Micros, {1}, label);
  if (ingest_micros > 0) {
    *r.mutable_ingest_time() = core::TimestampFromUnixMicros(ingest_micros);
  }
  return r;
}

store::LogPosition Pos(uint64_t offset, int64_t segment = 1) {
  store::LogPosition p;
  p.segment_id = segment;
  p.offset = offset;
  return p;
}

TEST(DatasetStateTest, IngestIndexesCountsOffersAndJoinsAWaitingOutcome) {
  DatasetState state(Settings(10), 1);
  EXPECT_EQ(state.ApplyOutcome("a", ClassLabel(1), 5, true),
            v1::OUTCOME_DISPOSITION_PENDING);
  state.AddIngested(Rec("a"), Pos(10), 1000);
  state.FinishBatch(1000, 2);
  EXPECT_TRUE(state.IngestedWithin("a", 1000, 0));
  EXPECT_EQ(state.index().pending(), 0);
  EXPECT_EQ(state.EffectiveLabel("a", v1::Label())->class_index(), 1);
  EXPECT_EQ(state.aggregates().records(), 1);
  EXPECT_EQ(state.aggregates().labeled(), 1);
  // A data set with labels keeps labelled rows only: "a" entered the buffer
  // when its waiting label joined at ingest.
  EXPECT_EQ(state.replay().size(), 1);
  EXPECT_EQ(state.counters().duplicate_records, 2);
}

// Issue 15: unlabelled rows (evaluation traffic) filled the replay buffer
// of a supervised data set; a data set without labels still takes every
// row.
TEST(DatasetStateTest, ADataSetWithLabelsBuffersLabelledRowsOnly) {
  DatasetState supervised(Settings(10), 1);
  supervised.AddIngested(Rec("unlabelled"), Pos(10), 1000);
  supervised.AddIngested(Rec("labelled", 0), Pos(20), 1000);
  EXPECT_EQ(supervised.replay().size(), 1);
  supervised.ApplyOutcome("unlabelled", ClassLabel(1), 5, true);
  EXPECT_EQ(supervised.replay().size(), 2);
  v1::Dataset none = Settings(10);
  none.mutable_schema()->set_label_kind(v1::LABEL_KIND_NONE);
  DatasetState unsupervised(none, 1);
  unsupervised.AddIngested(Rec("a"), Pos(10), 1000);
  unsupervised.AddIngested(Rec("b"), Pos(20), 1000);
  EXPECT_EQ(unsupervised.replay().size(), 2);
}

TEST(DatasetStateTest, OnlyLabeledBuffersTakeRecordsWhenTheirLabelJoins) {
  DatasetState state(Settings(10, /*only_labeled=*/true), 1);
  state.AddIngested(Rec("unlabelled"), Pos(10), 1000);
  state.AddIngested(Rec("labelled", 0), Pos(20), 1000);
  EXPECT_EQ(state.replay().size(), 1);
  EXPECT_EQ(state.ApplyOutcome("unlabelled", ClassLabel(1), 5, true),
            v1::OUTCOME_DISPOSITION_JOINED);
  EXPECT_EQ(state.replay().size(), 2);
  // A replacement is no first label: not offered again.
  EXPECT_EQ(state.ApplyOutcome("unlabelled", ClassLabel(0), 6, true),
            v1::OUTCOME_DISPOSITION_REPLACED);
  EXPECT_EQ(state.replay().size(), 2);
  // Recovery replays outcomes without offering.
  state.AddIngested(Rec("third"), Pos(30), 1000);
  state.ApplyOutcome("third", ClassLabel(1), 7, /*offer_to_replay=*/false);
  EXPECT_EQ(state.replay().size(), 2);
}

TEST(DatasetStateTest, PerClassBuffersTakeUnlabelledRecordsOnlyOnceLabelled) {
  DatasetState state(Settings(10, false, /*per_class=*/true), 1);
  state.AddIngested(Rec("a"), Pos(10), 1000);
  EXPECT_EQ(state.replay().size(), 0);
  state.ApplyOutcome("a", ClassLabel(1), 5, true);
  EXPECT_EQ(state.replay().size(), 1);
}

TEST(DatasetStateTest, RecoveryOffersOnlyRecordsNewerThanTheSnapshot) {
  DatasetState state(Settings(10), 1);
  internal::v1::DatasetStateSnapshot snapshot;
  snapshot.set_replay_high_water_ingest_micros(2000);
  snapshot.set_duplicate_records(3);
  snapshot.set_dropped_outcomes(4);
  snapshot.set_retention_deleted_records(5);
  state.Reset(snapshot);
  EXPECT_TRUE(state.AddRecovered(Rec("old", 0, 1500), Pos(10), 2000));
  EXPECT_TRUE(state.AddRecovered(Rec("new", 1, 2500), Pos(20), 2000));
  EXPECT_FALSE(state.AddRecovered(Rec("new", 1, 2600), Pos(30), 2000));
  EXPECT_EQ(state.index().records(), 2);
  EXPECT_EQ(state.aggregates().records(), 2);
  EXPECT_EQ(state.replay().size(), 1);

  internal::v1::DatasetStateSnapshot saved;
  state.SaveTo(&saved);
  EXPECT_EQ(saved.replay_high_water_ingest_micros(), 2500);
  EXPECT_EQ(saved.duplicate_records(), 3);
  EXPECT_EQ(saved.dropped_outcomes(), 4);
  EXPECT_EQ(saved.retention_deleted_records(), 5);

  // Reset starts over from a snapshot, counters included.
  state.Reset(internal::v1::DatasetStateSnapshot());
  EXPECT_EQ(state.index().records(), 0);
  EXPECT_EQ(state.aggregates().records(), 0);
  EXPECT_EQ(state.replay().size(), 0);
  EXPECT_EQ(state.counters().duplicate_records, 0);
}

TEST(DatasetStateTest, RetentionForgetsSegmentsAndCounts) {
  DatasetState state(Settings(10), 1);
  state.AddIngested(Rec("gone", 0), Pos(10, 1), 1000);
  state.AddIngested(Rec("kept", 1), Pos(10, 2), 1000);
  state.ForgetSegmentsNotIn({2}, 1);
  EXPECT_EQ(state.index().records(), 1);
  EXPECT_EQ(state.replay().size(), 1);
  EXPECT_EQ(state.counters().retention_deleted_records, 1);
  state.ApplyOutcome("waiting", ClassLabel(0), 100, true);
  EXPECT_EQ(state.ExpirePending(300, 100), 1);

  state.counters().skipped_corrupt_records = 6;
  state.counters().truncated_tail_bytes = 7;
  v1::DatasetStats stats;
  state.FillCounters(&stats);
  EXPECT_EQ(stats.replay_buffer_size(), 1);
  EXPECT_EQ(stats.pending_outcomes(), 0);
  EXPECT_EQ(stats.retention_deleted_records(), 1);
  EXPECT_EQ(stats.skipped_corrupt_records(), 6);
  EXPECT_EQ(stats.truncated_tail_bytes(), 7);
}

}  // namespace
}  // namespace continuum::collector
