#include "services/collector/dataset_settings.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"

namespace continuum::collector {
namespace {

// The span of `d` (or `fallback` when zero), truncated to the microsecond:
// the collector keeps times in microseconds.
absl::Duration InMicros(const google::protobuf::Duration& d,
                        absl::Duration fallback) {
  return absl::Trunc(core::FromProtoOr(d, fallback), absl::Microseconds(1));
}

}  // namespace

void FillDefaults(v1::Dataset* d, int64_t default_replay_size) {
  if (!d->retention().has_max_age()) {
    d->mutable_retention()->mutable_max_age()->set_seconds(60 * 86400);
  }
  if (d->replay().size() == 0)
    d->mutable_replay()->set_size(default_replay_size);
  if (d->durability() == v1::DURABILITY_MODE_UNSPECIFIED) {
    d->set_durability(v1::DURABILITY_MODE_FSYNC_PER_BATCH);
  }
  if (!d->has_fsync_interval()) {
    d->mutable_fsync_interval()->set_nanos(100'000'000);
  }
  if (!d->has_dedup_window()) d->mutable_dedup_window()->set_seconds(7 * 86400);
  if (!d->has_outcome_grace_period()) {
    d->mutable_outcome_grace_period()->set_seconds(86400);
  }
}

absl::Status ValidateSettings(const v1::Dataset& d) {
  constexpr int64_t kMaxSeconds = int64_t{100} * 365 * 86400;
  for (auto [field, duration] :
       {std::pair{"retention.max_age", &d.retention().max_age()},
        std::pair{"fsync_interval", &d.fsync_interval()},
        std::pair{"dedup_window", &d.dedup_window()},
        std::pair{"outcome_grace_period", &d.outcome_grace_period()}}) {
    if (duration->seconds() < 0 || duration->nanos() < 0 ||
        duration->seconds() > kMaxSeconds) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset.", field, " must be between 0 and 100 years"));
    }
  }
  if (d.retention().max_bytes() < 0) {
    return absl::InvalidArgumentError(
        "dataset.retention.max_bytes must not be negative");
  }
  if (d.replay().size() < 0) {
    return absl::InvalidArgumentError(
        "dataset.replay.size must not be negative");
  }
  return absl::OkStatus();
}

bool IsMutableSettingsPath(absl::string_view path) {
  static constexpr absl::string_view kPaths[] = {"description",
                                                 "retention",
                                                 "retention.max_age",
                                                 "retention.max_bytes",
                                                 "durability",
                                                 "fsync_interval",
                                                 "dedup_window",
                                                 "outcome_grace_period",
                                                 "labels"};
  for (absl::string_view p : kPaths) {
    if (p == path) return true;
  }
  return false;
}

absl::Duration MaxAge(const v1::Dataset& d) {
  return InMicros(d.retention().max_age(), absl::Hours(60 * 24));
}

absl::Duration DedupWindow(const v1::Dataset& d) {
  return InMicros(d.dedup_window(), absl::Hours(7 * 24));
}

absl::Duration OutcomeGracePeriod(const v1::Dataset& d) {
  return InMicros(d.outcome_grace_period(), absl::Hours(24));
}

absl::Duration FsyncInterval(const v1::Dataset& d) {
  return InMicros(d.fsync_interval(), absl::Milliseconds(100));
}

bool IntervalDurability(const v1::Dataset& d) {
  return d.durability() == v1::DURABILITY_MODE_INTERVAL;
}

int ReplayClasses(const v1::Dataset& d) {
  return d.replay().balanced_per_class() &&
                 d.schema().label_kind() == v1::LABEL_KIND_CLASS
             ? d.schema().num_classes()
             : 0;
}

int64_t ReplayCapacity(const v1::Dataset& d) {
  return d.replay().disabled() ? 0 : d.replay().size();
}

}  // namespace continuum::collector
