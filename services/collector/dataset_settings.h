// The settings of a data set (a v1::Dataset apart from its name, schema and
// times): the defaults filled in at creation, their validation, the fields
// UpdateDataset may change, and the spans they stand for. Pure functions,
// thread-safe.
//
// Example:
//   v1::Dataset d = request.dataset();
//   if (absl::Status s = ValidateSettings(d); !s.ok()) return s;
//   FillDefaults(&d, /*default_replay_size=*/10000);
//   absl::Duration window = DedupWindow(d);  // 7 days unless set
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_SETTINGS_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_SETTINGS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.pb.h"

namespace continuum::collector {

// Fills the settings left unset: retention.max_age 60 days, replay.size
// `default_replay_size`, durability DURABILITY_MODE_FSYNC_PER_BATCH,
// fsync_interval 100 ms, dedup_window 7 days, outcome_grace_period 1 day.
void FillDefaults(v1::Dataset* dataset, int64_t default_replay_size);

// Checks the durations (each between 0 and 100 years) and limits (not
// negative) of `dataset`. INVALID_ARGUMENT names the field, e.g.
// "dataset.retention.max_age must be between 0 and 100 years".
absl::Status ValidateSettings(const v1::Dataset& dataset);

// Whether UpdateDataset may change the field at `path` of its update mask
// (description, retention, durability, fsync_interval, dedup_window,
// outcome_grace_period, labels). The schema and the replay settings are
// fixed at creation.
bool IsMutableSettingsPath(absl::string_view path);

// The spans the settings stand for, truncated to the microsecond (the
// collector keeps times in microseconds); a zero (or unset) duration means
// the default named.
absl::Duration MaxAge(const v1::Dataset& dataset);              // 60 days
absl::Duration DedupWindow(const v1::Dataset& dataset);         // 7 days
absl::Duration OutcomeGracePeriod(const v1::Dataset& dataset);  // 24 hours
absl::Duration FsyncInterval(const v1::Dataset& dataset);       // 100 ms

// Whether records are stored without waiting for fsync (the background
// thread syncs every FsyncInterval).
bool IntervalDurability(const v1::Dataset& dataset);

// The number of per-class replay reservoirs: num_classes when the replay
// buffer is balanced per class and the labels are classes, else 0 (one
// reservoir).
int ReplayClasses(const v1::Dataset& dataset);

// The replay buffer's capacity: 0 when it is disabled.
int64_t ReplayCapacity(const v1::Dataset& dataset);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_SETTINGS_H_
