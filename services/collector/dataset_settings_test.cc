#include "services/collector/dataset_settings.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace continuum::collector {
namespace {

TEST(DatasetSettingsTest, FillDefaultsFillsOnlyWhatIsUnset) {
  v1::Dataset d;
  FillDefaults(&d, 123);
  EXPECT_EQ(d.retention().max_age().seconds(), 60 * 86400);
  EXPECT_EQ(d.replay().size(), 123);
  EXPECT_EQ(d.durability(), v1::DURABILITY_MODE_FSYNC_PER_BATCH);
  EXPECT_EQ(d.fsync_interval().seconds(), 0);
  EXPECT_EQ(d.fsync_interval().nanos(), 100'000'000);
  EXPECT_EQ(d.dedup_window().seconds(), 7 * 86400);
  EXPECT_EQ(d.outcome_grace_period().seconds(), 86400);

  v1::Dataset set;
  set.mutable_retention()->mutable_max_age()->set_seconds(5);
  set.mutable_replay()->set_size(7);
  set.set_durability(v1::DURABILITY_MODE_INTERVAL);
  set.mutable_fsync_interval()->set_seconds(2);
  set.mutable_dedup_window()->set_seconds(3);
  set.mutable_outcome_grace_period()->set_seconds(4);
  v1::Dataset filled = set;
  FillDefaults(&filled, 123);
  EXPECT_EQ(filled.SerializeAsString(), set.SerializeAsString());
}

TEST(DatasetSettingsTest, ValidateSettingsNamesTheField) {
  EXPECT_TRUE(ValidateSettings(v1::Dataset()).ok());
  struct Case {
    void (*mutate)(v1::Dataset*);
    const char* field;
  };
  const Case cases[] = {
      {[](v1::Dataset* d) {
         d->mutable_retention()->mutable_max_age()->set_seconds(-1);
       },
       "dataset.retention.max_age must be between 0 and 100 years"},
      {[](v1::Dataset* d) { d->mutable_fsync_interval()->set_nanos(-1); },
       "dataset.fsync_interval must be between 0 and 100 years"},
      {[](v1::Dataset* d) {
         d->mutable_dedup_window()->set_seconds(int64_t{101} * 365 * 86400);
       },
       "dataset.dedup_window must be between 0 and 100 years"},
      {[](v1::Dataset* d) {
         d->mutable_outcome_grace_period()->set_seconds(-5);
       },
       "dataset.outcome_grace_period must be between 0 and 100 years"},
      {[](v1::Dataset* d) { d->mutable_retention()->set_max_bytes(-1); },
       "dataset.retention.max_bytes must not be negative"},
      {[](v1::Dataset* d) { d->mutable_replay()->set_size(-1); },
       "dataset.replay.size must not be negative"},
  };
  for (const Case& c : cases) {
    v1::Dataset d;
    c.mutate(&d);
    absl::Status s = ValidateSettings(d);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(s.message(), c.field);
  }
}

TEST(DatasetSettingsTest, OnlySettingsOutsideSchemaAndReplayAreMutable) {
  for (const char* path :
       {"description", "retention", "retention.max_age", "retention.max_bytes",
        "durability", "fsync_interval", "dedup_window", "outcome_grace_period",
        "labels"}) {
    EXPECT_TRUE(IsMutableSettingsPath(path)) << path;
  }
  for (const char* path : {"schema", "replay", "replay.size", "name",
                           "create_time", "update_time", ""}) {
    EXPECT_FALSE(IsMutableSettingsPath(path)) << path;
  }
}

TEST(DatasetSettingsTest, SpansFallBackWhenZeroAndKeepMicroseconds) {
  v1::Dataset d;
  EXPECT_EQ(MaxAge(d), absl::Hours(60 * 24));
  EXPECT_EQ(DedupWindow(d), absl::Hours(7 * 24));
  EXPECT_EQ(OutcomeGracePeriod(d), absl::Hours(24));
  EXPECT_EQ(FsyncInterval(d), absl::Milliseconds(100));
  d.mutable_dedup_window()->set_seconds(3);
  d.mutable_dedup_window()->set_nanos(1'999);
  EXPECT_EQ(DedupWindow(d), absl::Seconds(3) + absl::Microseconds(1));
  d.mutable_fsync_interval()->set_nanos(1'500);
  EXPECT_EQ(FsyncInterval(d), absl::Microseconds(1));
}

TEST(DatasetSettingsTest, ReplayShapeAndDurability) {
  v1::Dataset d;
  d.mutable_schema()->set_label_kind(v1::LABEL_KIND_CLASS);
  d.mutable_schema()->set_num_classes(4);
  d.mutable_replay()->set_size(100);
  EXPECT_EQ(ReplayClasses(d), 0);
  EXPECT_EQ(ReplayCapacity(d), 100);
  d.mutable_replay()->set_balanced_per_class(true);
  EXPECT_EQ(ReplayClasses(d), 4);
  d.mutable_schema()->set_label_kind(v1::LABEL_KIND_VALUE);
  EXPECT_EQ(ReplayClasses(d), 0);
  d.mutable_replay()->set_disabled(true);
  EXPECT_EQ(ReplayCapacity(d), 0);
  EXPECT_FALSE(IntervalDurability(d));
  d.set_durability(v1::DURABILITY_MODE_INTERVAL);
  EXPECT_TRUE(IntervalDurability(d));
}

}  // namespace
}  // namespace continuum::collector
