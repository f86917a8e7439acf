#include "services/trainer/schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::ToProtoDuration;
using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi),
                         absl::UTCTimeZone());
}

v1::TrainingSchedule Daily(int h, int m, const std::string& zone) {
  v1::TrainingSchedule s;
  s.mutable_daily_at()->set_hours(h);
  s.mutable_daily_at()->set_minutes(m);
  s.mutable_daily_at()->set_time_zone(zone);
  return s;
}

TEST(ScheduleTest, EveryAddsThePeriod) {
  v1::TrainingSchedule s;
  *s.mutable_every() = ToProtoDuration(absl::Hours(6));
  const absl::Time t = Utc(2026, 1, 1, 0, 0);
  EXPECT_EQ(NextScheduledTime(s, t), t + absl::Hours(6));
}

TEST(ScheduleTest, NoCadenceHasNoNextTime) {
  EXPECT_EQ(NextScheduledTime(v1::TrainingSchedule(), Utc(2026, 1, 1, 0, 0)),
            std::nullopt);
}

TEST(ScheduleTest, DailyInUtcAndInAZone) {
  EXPECT_EQ(NextScheduledTime(Daily(2, 0, ""), Utc(2026, 1, 1, 1, 0)),
            Utc(2026, 1, 1, 2, 0));
  // Strictly after: at 02:00 itself the next one is tomorrow's.
  EXPECT_EQ(NextScheduledTime(Daily(2, 0, ""), Utc(2026, 1, 1, 2, 0)),
            Utc(2026, 1, 2, 2, 0));
  // 02:00 in New York in winter is 07:00 UTC.
  EXPECT_EQ(
      NextScheduledTime(Daily(2, 0, "America/New_York"), Utc(2026, 1, 1, 0, 0)),
      Utc(2026, 1, 1, 7, 0));
}

// 2026-03-08: New York springs forward from 02:00 EST to 03:00 EDT, so
// 02:30 does not exist; the run is at the first valid instant after it,
// 03:00 EDT (07:00 UTC).
TEST(ScheduleTest, SpringForwardRunsAtTheFirstValidInstantAfter) {
  const v1::TrainingSchedule s = Daily(2, 30, "America/New_York");
  absl::Time t = Utc(2026, 3, 7, 12, 0);  // 07:00 EST on the 7th.
  std::vector<absl::Time> slots;
  for (int i = 0; i < 3; ++i) {
    t = *NextScheduledTime(s, t);
    slots.push_back(t);
  }
  EXPECT_EQ(slots[0], Utc(2026, 3, 8, 7, 0));   // 03:00 EDT, the 8th.
  EXPECT_EQ(slots[1], Utc(2026, 3, 9, 6, 30));  // 02:30 EDT, the 9th.
  EXPECT_EQ(slots[2], Utc(2026, 3, 10, 6, 30));
  // The day before, 02:30 EST.
  EXPECT_EQ(NextScheduledTime(s, Utc(2026, 3, 7, 0, 0)),
            Utc(2026, 3, 7, 7, 30));
}

// 2026-11-01: New York falls back from 02:00 EDT to 01:00 EST, so 01:30
// happens twice (05:30 and 06:30 UTC); the run is at the first only.
TEST(ScheduleTest, FallBackRunsOnceAtTheFirstOccurrence) {
  const v1::TrainingSchedule s = Daily(1, 30, "America/New_York");
  absl::Time t = Utc(2026, 10, 31, 12, 0);
  std::vector<absl::Time> slots;
  for (int i = 0; i < 2; ++i) {
    t = *NextScheduledTime(s, t);
    slots.push_back(t);
  }
  EXPECT_EQ(slots[0], Utc(2026, 11, 1, 5, 30));  // 01:30 EDT.
  EXPECT_EQ(slots[1], Utc(2026, 11, 2, 6, 30));  // 01:30 EST, the 2nd.
  // Even from between the two occurrences the second is never chosen.
  EXPECT_EQ(NextScheduledTime(s, Utc(2026, 11, 1, 6, 0)),
            Utc(2026, 11, 2, 6, 30));
}

TEST(ScheduleTest, ValidateNamesTheField) {
  v1::TrainingSchedule s;
  *s.mutable_every() = ToProtoDuration(absl::Seconds(30));
  EXPECT_THAT(ValidateSchedule(s).message(), HasSubstr("schedule.every"));
  EXPECT_THAT(ValidateSchedule(Daily(24, 0, "")).message(),
              HasSubstr("schedule.daily_at.hours"));
  EXPECT_THAT(ValidateSchedule(Daily(1, 60, "")).message(),
              HasSubstr("schedule.daily_at.minutes"));
  absl::Status zone = ValidateSchedule(Daily(1, 0, "Mars/Olympus_Mons"));
  EXPECT_TRUE(absl::IsInvalidArgument(zone));
  EXPECT_THAT(zone.message(), HasSubstr("schedule.daily_at.time_zone"));
  EXPECT_THAT(zone.message(), HasSubstr("Mars/Olympus_Mons"));
  v1::TrainingSchedule negative;
  negative.set_min_new_records(-1);
  EXPECT_THAT(ValidateSchedule(negative).message(),
              HasSubstr("schedule.min_new_records"));
  EXPECT_TRUE(ValidateSchedule(Daily(2, 30, "America/New_York")).ok());
}

}  // namespace
}  // namespace continuum::trainer
