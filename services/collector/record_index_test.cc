#include "services/collector/record_index.h"

#include <gtest/gtest.h>

#include <optional>

#include "services/collector/collector_testing.h"

namespace continuum::collector {
namespace {

RecordMeta Meta(int64_t segment, int64_t ingest_micros,
                std::optional<int> label = std::nullopt) {
  RecordMeta meta;
  meta.position.segment_id = segment;
  meta.position.offset = 100;
  meta.ingest_micros = ingest_micros;
  meta.event_micros = ingest_micros - 5;
  if (label) meta.ingest_label = ClassLabel(*label);
  return meta;
}

TEST(RecordIndexTest, LabelsHelpers) {
  EXPECT_FALSE(HasLabel(v1::Label()));
  EXPECT_TRUE(HasLabel(ClassLabel(0)));
  EXPECT_EQ(ClassOf(ClassLabel(3)), 3);
  EXPECT_EQ(ClassOf(v1::Label()), -1);
  v1::Label value;
  value.set_target_value(1);
  EXPECT_EQ(ClassOf(value), -1);
}

TEST(RecordIndexTest, DedupWindowAndInsertVersusPut) {
  RecordIndex index;
  EXPECT_TRUE(index.Insert("a", Meta(1, 1000)));
  EXPECT_FALSE(index.Insert("a", Meta(2, 5000)));
  EXPECT_EQ(index.Find("a")->position.segment_id, 1);
  EXPECT_TRUE(index.IngestedWithin("a", 1500, 500));
  EXPECT_FALSE(index.IngestedWithin("a", 1501, 500));
  EXPECT_FALSE(index.IngestedWithin("b", 1000, 500));
  index.Put("a", Meta(2, 5000));
  EXPECT_EQ(index.Find("a")->position.segment_id, 2);
  EXPECT_EQ(index.records(), 1);
  EXPECT_EQ(index.Find("b"), nullptr);
}

TEST(RecordIndexTest, OutcomeDispositions) {
  RecordIndex index;
  index.Insert("unlabelled", Meta(1, 1000));
  index.Insert("labelled", Meta(1, 1000, 1));

  RecordIndex::Join join = index.JoinOutcome("unlabelled", ClassLabel(2), 10);
  EXPECT_EQ(join.disposition, v1::OUTCOME_DISPOSITION_JOINED);
  EXPECT_EQ(join.event_micros, 995);
  EXPECT_EQ(join.position.segment_id, 1);
  EXPECT_FALSE(join.replaced.has_value());
  EXPECT_EQ(index.JoinOutcome("unlabelled", ClassLabel(2), 11).disposition,
            v1::OUTCOME_DISPOSITION_DUPLICATE);

  EXPECT_EQ(index.JoinOutcome("labelled", ClassLabel(1), 12).disposition,
            v1::OUTCOME_DISPOSITION_DUPLICATE);
  join = index.JoinOutcome("labelled", ClassLabel(0), 13);
  EXPECT_EQ(join.disposition, v1::OUTCOME_DISPOSITION_REPLACED);
  ASSERT_TRUE(join.replaced.has_value());
  EXPECT_EQ(join.replaced->class_index(), 1);
  EXPECT_EQ(index.joined(), 2);

  // The outcome wins over the ingest label.
  v1::Label ingest = ClassLabel(1);
  EXPECT_EQ(index.EffectiveLabel("labelled", ingest)->class_index(), 0);
  EXPECT_EQ(index.EffectiveLabel("other", ingest), &ingest);
  EXPECT_EQ(index.EffectiveLabel("other", v1::Label()), nullptr);

  EXPECT_EQ(index.JoinOutcome("late", ClassLabel(1), 14).disposition,
            v1::OUTCOME_DISPOSITION_PENDING);
  EXPECT_EQ(index.pending(), 1);
  std::optional<PendingOutcome> pending = index.TakePending("late");
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->arrival_micros, 14);
  EXPECT_EQ(pending->label.class_index(), 1);
  EXPECT_FALSE(index.TakePending("late").has_value());
}

TEST(RecordIndexTest, PendingOutcomesExpireAfterTheirGrace) {
  RecordIndex index;
  index.JoinOutcome("old", ClassLabel(0), 100);
  index.JoinOutcome("new", ClassLabel(0), 200);
  EXPECT_EQ(index.ExpirePending(250, 150), 0);  // 100 + 150 is not < 250.
  EXPECT_EQ(index.ExpirePending(251, 150), 1);
  EXPECT_EQ(index.pending(), 1);
  EXPECT_TRUE(index.TakePending("new").has_value());
}

TEST(RecordIndexTest, RemovingSegmentsForgetsRecordsAndTheirOutcomes) {
  RecordIndex index;
  index.Insert("gone", Meta(1, 1000));
  index.Insert("kept", Meta(2, 1000));
  index.JoinOutcome("gone", ClassLabel(1), 5);
  index.JoinOutcome("kept", ClassLabel(1), 5);
  index.JoinOutcome("waiting", ClassLabel(1), 5);
  index.RemoveSegmentsNotIn({2});
  EXPECT_EQ(index.records(), 1);
  EXPECT_EQ(index.joined(), 1);
  EXPECT_EQ(index.pending(), 1);
  EXPECT_EQ(index.Find("gone"), nullptr);
  index.Clear();
  EXPECT_EQ(index.records() + index.joined() + index.pending(), 0);
}

}  // namespace
}  // namespace continuum::collector
