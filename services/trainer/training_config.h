// A model's effective training configuration and the edits that lead to
// it, as pure functions: the service's defaults over the stored
// TrainingConfig (as ConfigureTraining set it, or merged with a trigger's
// overrides), the field masks of ConfigureTraining and TriggerRun, and the
// configuration's resource name. Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINING_CONFIG_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINING_CONFIG_H_

#include <google/protobuf/field_mask.pb.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

// Defaults of the effective configuration.
inline constexpr absl::Duration kDefaultWindow = absl::Hours(24 * 30);
inline constexpr int kDefaultCircuitBreakerThreshold = 3;
inline constexpr int64_t kDefaultMemoryBudget = int64_t{1} << 30;
inline constexpr absl::Duration kDefaultMaxDuration = absl::Hours(2);
inline constexpr absl::Duration kDefaultOnlinePublishEvery = absl::Minutes(15);

// `config` with the service's defaults: dataset = the model id, window 30
// days, circuit breaker threshold 3, memory budget 1 GiB, max duration 2
// hours (and resources.intra_op_threads 0 left as the process's setting),
// then lib/model's ResolveTrainingConfig (which turns seed 0 into a random
// seed; online.micro_batch_size 1000 and online.publish_every_updates 100
// when 0) and online.publish_every 15 minutes when unset. Its name is
// TrainingConfigName(model); schedule_status and update_time are cleared.
// INVALID_ARGUMENT naming the field, e.g. "window must be positive (got
// -1h)".
absl::StatusOr<v1::TrainingConfig> EffectiveTrainingConfig(
    const std::string& model, const v1::TrainingConfig& config);

// "models/{model}/trainingConfig".
std::string TrainingConfigName(absl::string_view model);

// The model id of a training configuration name. INVALID_ARGUMENT naming
// the expected form (core::MatchResourceName), or "name: model id ..." for
// an invalid id.
absl::StatusOr<std::string> ParseTrainingConfigName(absl::string_view name);

// Checks the paths of `mask` (the request field `field`): fields of
// TrainingConfig, not output only (name, schedule_status, update_time),
// and, unless `allow_schedule`, not the schedule (a trigger's overrides
// are for one run). INVALID_ARGUMENT naming the field and the path.
absl::Status ValidateConfigMask(const google::protobuf::FieldMask& mask,
                                absl::string_view field, bool allow_schedule);

// Copies the fields of `mask` from `from` to `to`, replacing messages and
// repeated fields as a whole. When that changes the strategy, the fields
// whose default depends on the strategy (epochs, optimizer.learning_rate)
// and that the mask does not name go back to 0, so the effective
// configuration takes the new strategy's defaults (full retraining: 20
// epochs at 1e-3; incremental: 2 at 1e-4) instead of the old strategy's
// values.
void MergeConfig(const v1::TrainingConfig& from,
                 const google::protobuf::FieldMask& mask,
                 v1::TrainingConfig* to);

// The cadence for humans: "every 6h", "daily at 02:30 America/New_York".
std::string DescribeCadence(const v1::TrainingSchedule& schedule);

// Whether two schedules run at different times (their cadences differ).
bool CadenceChanged(const v1::TrainingSchedule& before,
                    const v1::TrainingSchedule& after);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TRAINING_CONFIG_H_
