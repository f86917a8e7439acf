#include "services/trainer/schedule.h"

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"

namespace continuum::trainer {

absl::StatusOr<absl::TimeZone> LoadScheduleZone(absl::string_view name,
                                                absl::string_view field) {
  if (name.empty()) return absl::UTCTimeZone();
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(std::string(name), &zone)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": unknown time zone \"", name,
        "\" (an IANA name such as America/New_York; is tzdata installed?)"));
  }
  return zone;
}

absl::Status ValidateSchedule(const v1::TrainingSchedule& schedule) {
  if (schedule.min_new_records() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("schedule.min_new_records must not be negative (got ",
                     schedule.min_new_records(), ")"));
  }
  switch (schedule.cadence_case()) {
    case v1::TrainingSchedule::kEvery: {
      const absl::Duration every = core::FromProto(schedule.every());
      if (every < kMinEvery) {
        return absl::InvalidArgumentError(absl::StrCat(
            "schedule.every must be at least ", absl::FormatDuration(kMinEvery),
            " (got ", absl::FormatDuration(every), ")"));
      }
      return absl::OkStatus();
    }
    case v1::TrainingSchedule::kDailyAt: {
      const v1::TimeOfDay& at = schedule.daily_at();
      if (at.hours() < 0 || at.hours() > 23) {
        return absl::InvalidArgumentError(absl::StrCat(
            "schedule.daily_at.hours must be in 0..23 (got ", at.hours(), ")"));
      }
      if (at.minutes() < 0 || at.minutes() > 59) {
        return absl::InvalidArgumentError(
            absl::StrCat("schedule.daily_at.minutes must be in 0..59 (got ",
                         at.minutes(), ")"));
      }
      return LoadScheduleZone(at.time_zone(), "schedule.daily_at.time_zone")
          .status();
    }
    case v1::TrainingSchedule::CADENCE_NOT_SET:
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

absl::Time NextDailyTime(const v1::TimeOfDay& at, const absl::TimeZone& zone,
                         absl::Time after) {
  const absl::CivilDay today(zone.At(after).cs);
  // The local day of `after`, the one before (an offset change can put the
  // instant of a day's time before the day's start in another offset) and
  // a few after: the first candidate strictly after `after` wins.
  for (absl::CivilDay day = today - 1; day <= today + 3; ++day) {
    const absl::CivilSecond local(day.year(), day.month(), day.day(),
                                  at.hours(), at.minutes(), 0);
    const absl::TimeZone::TimeInfo info = zone.At(local);
    // UNIQUE: pre == trans == post. SKIPPED: `trans` is the first valid
    // instant after the missing time. REPEATED: `pre` (the earlier offset)
    // is the first occurrence.
    const absl::Time candidate =
        info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
    if (candidate > after) return candidate;
  }
  return after + absl::Hours(24);  // Not reached for real zones.
}

std::optional<absl::Time> NextScheduledTime(
    const v1::TrainingSchedule& schedule, absl::Time last) {
  switch (schedule.cadence_case()) {
    case v1::TrainingSchedule::kEvery: {
      const absl::Duration every = core::FromProto(schedule.every());
      if (every < kMinEvery) return std::nullopt;
      return last + every;
    }
    case v1::TrainingSchedule::kDailyAt: {
      absl::StatusOr<absl::TimeZone> zone =
          LoadScheduleZone(schedule.daily_at().time_zone(), "");
      if (!zone.ok()) return std::nullopt;
      return NextDailyTime(schedule.daily_at(), *zone, last);
    }
    case v1::TrainingSchedule::CADENCE_NOT_SET:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace continuum::trainer
