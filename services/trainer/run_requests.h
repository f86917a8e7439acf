// The requests of TrainerService's run methods, checked before the
// scheduler acts on them: TriggerRun (TriggerSpec) and ListRuns
// (RunQuery). The handlers have checked each request's (continuum.v1.rules)
// options first (core::CheckFieldRules: required fields, name forms,
// lengths, enum values, ranges), so these functions check what an option
// cannot state. Pure; errors are INVALID_ARGUMENT naming the field
// ("parent: ...", "trigger: ...", "override_mask: ...", "filter: ...",
// "page_token: ..."), or UNIMPLEMENTED for federated rounds. Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_REQUESTS_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_REQUESTS_H_

#include <google/protobuf/field_mask.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
  // RUN_TRIGGER_FEDERATED: the round the run is for.
  std::string round;
};

// Checks a TriggerRun request from `actor` (whose field rules passed): a
// trigger clients may send (not SCHEDULE or ONLINE: "trigger: ... is
// internal"), a window that ends after it starts, an override mask of
// run-level fields, and the federated settings of the overrides
// (CheckFederatedConfig).
absl::StatusOr<TriggerSpec> ParseTriggerRequest(
    const v1::TriggerRunRequest& request, const std::string& actor);

// A checked ListRuns request: which model (or all), the page, the filter
// (keys state, trigger and strategy, whose values are names of their
// enums in full or without the prefix, and model).
class RunQuery {
 public:
  // parent "models/{model}" or "models/-" (all models); page_size 0: 50,
  // above 1000: 1000; page_token empty or a NextPageToken of the same
  // parent and filter ("page_token: not a token of this query ..."
  // otherwise); the filter (core::Filter, core::CheckFilterEnums).
  static absl::StatusOr<RunQuery> Parse(const v1::ListRunsRequest& request);

  // The model id; empty for all models.
  const std::string& model() const { return model_; }
  int page_size() const { return page_size_; }
  // List runs with a sequence below this one; 0 = from the newest.
  int64_t before() const { return before_; }
  bool Matches(const v1::Run& run) const;
  // The token of the page that lists runs before sequence `before` in
  // this query.
  std::string NextPageToken(int64_t before) const;

 private:
  using Conjunction = std::vector<core::Filter::Comparison>;

  RunQuery(std::string model, int page_size, int64_t before, std::string key,
           std::vector<Conjunction> filter)
      : model_(std::move(model)),
        page_size_(page_size),
        before_(before),
        key_(std::move(key)),
        filter_(std::move(filter)) {}

  std::string model_;
  int page_size_;
  int64_t before_;
  // What page tokens are bound to: parent and filter.
  std::string key_;
  // The filter's OR of ANDs, enum values in their full names.
  std::vector<Conjunction> filter_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_REQUESTS_H_
