// The requests of TrainerService's run methods, checked before the
// scheduler acts on them: TriggerRun (TriggerSpec) and ListRuns
// (RunQuery). Pure; errors are INVALID_ARGUMENT naming the field
// ("parent: ...", "trigger: ...", "override_mask: ...", "filter: ...",
// "page_token is malformed"), or UNIMPLEMENTED for federated rounds.
// Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_REQUESTS_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_REQUESTS_H_

#include <google/protobuf/field_mask.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/filter.h"

namespace continuum::trainer {

// A trigger of a run: a checked TriggerRun request, or a scheduled slot.
struct TriggerSpec {
  std::string model;
  // MANUAL or DRIFT from requests (UNSPECIFIED becomes MANUAL); SCHEDULE
  // from the scheduler's own slots.
  v1::RunTrigger trigger = v1::RUN_TRIGGER_MANUAL;
  std::string reason;
  std::string alert;
  // Overrides of the stored configuration for this run only.
  v1::TrainingConfig overrides;
  google::protobuf::FieldMask override_mask;
  // The data window the trigger names, if any (its end after its start).
  std::optional<v1::TimeWindow> window;
  // Idempotency key (at most 256 bytes); empty for none.
  std::string request_id;
  // Who triggered it (the audit's actor).
  std::string actor;
};

// Checks a TriggerRun request from `actor`: parent models/{model}, a
// trigger clients may send, reason <= 4096 and request_id <= 256 bytes, a
// window that ends after it starts, an override mask of run-level fields.
absl::StatusOr<TriggerSpec> ParseTriggerRequest(
    const v1::TriggerRunRequest& request, const std::string& actor);

// A checked ListRuns request: which model (or all), the page, the filter
// (keys state, trigger, strategy, model; values the enums' names).
class RunQuery {
 public:
  // parent "models/{model}" or "models/-" (all models); page_size >= 0
  // (0: 50; at most 1000); page_token empty or the sequence of the run to
  // list before.
  static absl::StatusOr<RunQuery> Parse(const v1::ListRunsRequest& request);

  // The model id; empty for all models.
  const std::string& model() const { return model_; }
  int page_size() const { return page_size_; }
  // List runs with a sequence below this one; 0 = from the newest.
  int64_t before() const { return before_; }
  bool Matches(const v1::Run& run) const;

 private:
  RunQuery(std::string model, int page_size, int64_t before,
           core::Filter filter)
      : model_(std::move(model)),
        page_size_(page_size),
        before_(before),
        filter_(std::move(filter)) {}

  std::string model_;
  int page_size_;
  int64_t before_;
  core::Filter filter_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_REQUESTS_H_
