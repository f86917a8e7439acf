// When scheduled training runs are due: the `every` and `daily_at` cadences
// of continuum.v1.TrainingSchedule. Plain functions of time, so the
// daylight-saving rules can be tested without a clock.
//
// Daylight-saving changes (TimeOfDay's contract in common.proto):
// - a local time that does not exist that day (02:30 on the day clocks
//   spring forward from 02:00 to 03:00) runs at the first valid instant
//   after it: the transition itself, 03:00 in the new offset;
// - a local time that occurs twice (01:30 on the day clocks fall back from
//   02:00 to 01:00) runs once, at its first occurrence.
#ifndef CONTINUUM_SERVICES_TRAINER_SCHEDULE_H_
#define CONTINUUM_SERVICES_TRAINER_SCHEDULE_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

// The shortest `every` accepted.
inline constexpr absl::Duration kMinEvery = absl::Minutes(1);

// Loads an IANA time zone by name ("America/New_York"); empty = UTC.
// INVALID_ARGUMENT naming `field` for an unknown zone.
absl::StatusOr<absl::TimeZone> LoadScheduleZone(absl::string_view name,
                                                absl::string_view field);

// Checks a schedule: `every` at least kMinEvery, `daily_at` hours 0..23,
// minutes 0..59 and a known zone, min_new_records >= 0. INVALID_ARGUMENT
// naming the field (`schedule.every`, `schedule.daily_at.time_zone`, ...).
absl::Status ValidateSchedule(const v1::TrainingSchedule& schedule);

// The first instant strictly after `after` at which the local time `at`
// occurs in `zone`, with the daylight-saving rules above.
absl::Time NextDailyTime(const v1::TimeOfDay& at, const absl::TimeZone& zone,
                         absl::Time after);

// When the next scheduled run is due, given `last`, the previous scheduled
// slot (or when the cadence was set): `last + every`, or the next daily
// time after `last`. nullopt without a cadence (or with an invalid one).
std::optional<absl::Time> NextScheduledTime(
    const v1::TrainingSchedule& schedule, absl::Time last);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_SCHEDULE_H_
