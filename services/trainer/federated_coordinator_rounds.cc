// FederatedCoordinator's progress of rounds (federated_coordinator.h):
// Tick, which moves rounds past their deadlines, aggregates them, starts
// their validation runs and follows them to the end, and the aggregation
// of one round. The RPCs are in federated_coordinator.cc.
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/trainer/federated_coordinator.h"
#include "services/trainer/federated_round_aggregation.h"
#include "services/trainer/federated_trust.h"
#include "spdlog/spdlog.h"

namespace continuum::trainer {

void FederatedCoordinator::Tick() {
  audit_.Deliver();
  std::vector<std::string> to_aggregate;
  std::vector<std::pair<std::string, v1::Round>> to_trigger;
  std::vector<std::pair<std::string, std::string>> to_follow;  // round, run
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [name, data] : rounds_) {
      v1::Round& round = data.round;
      switch (round.state()) {
        case v1::ROUND_STATE_OPEN:
          if (now >= core::FromProto(round.join_deadline())) {
            if (round.participants_size() >= round.config().min_sites()) {
              CloseMembership(data);
            } else {
              Fail(data, absl::StatusCode::kFailedPrecondition,
                   absl::StrCat("only ", round.participants_size(),
                                " sites joined before the join deadline; "
                                "the round needs min_sites = ",
                                round.config().min_sites()));
            }
          }
          break;
        case v1::ROUND_STATE_TRAINING:
          if (now >= core::FromProto(round.submit_deadline())) {
            CloseSubmissions(data);
          }
          break;
        case v1::ROUND_STATE_UNMASKING:
          if (now >= data.unmask_deadline) {
            Fail(data, absl::StatusCode::kDeadlineExceeded,
                 "surviving sites did not reveal the seeds shared with the "
                 "dropped ones before the deadline; the sum cannot be "
                 "unmasked");
          }
          break;
        default:
          break;
      }
      if (round.state() == v1::ROUND_STATE_AGGREGATING) {
        if (data.aggregate.has_value()) {
          to_trigger.emplace_back(name, round);
        } else {
          to_aggregate.push_back(name);
        }
      } else if (round.state() == v1::ROUND_STATE_VALIDATING) {
        to_follow.emplace_back(name, round.run());
      }
    }
  }
  for (const std::string& name : to_aggregate) AggregateRound(name);
  // Rounds aggregated just now are triggered on the next tick, so that a
  // run never starts before its aggregate was persisted.
  for (auto& [name, round] : to_trigger) {
    absl::StatusOr<std::string> run = options_.trigger_run(round);
    absl::MutexLock lock(&mu_);
    RoundData* data = FindRound(name);
    if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
      continue;
    }
    if (!run.ok()) {
      Fail(*data, run.status().code(),
           absl::StrCat("the run that validates the candidate could not "
                        "start: ",
                        run.status().message()));
      continue;
    }
    data->round.set_run(*run);
    data->round.set_state(v1::ROUND_STATE_VALIDATING);
    Save(data->round);
  }
  for (const auto& [name, run_name] : to_follow) {
    absl::StatusOr<v1::Run> run = options_.get_run(run_name);
    if (!run.ok()) continue;
    const v1::RunState state = run->state();
    if (state != v1::RUN_STATE_SUCCEEDED && state != v1::RUN_STATE_REJECTED &&
        state != v1::RUN_STATE_FAILED && state != v1::RUN_STATE_CANCELLED) {
      continue;
    }
    absl::MutexLock lock(&mu_);
    RoundData* data = FindRound(name);
    if (data == nullptr || data->round.state() != v1::ROUND_STATE_VALIDATING) {
      continue;
    }
    if (state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_REJECTED) {
      v1::Round& round = data->round;
      round.set_state(v1::ROUND_STATE_COMPLETED);
      if (run->has_candidate_version()) {
        *round.mutable_result_version() = run->candidate_version();
      }
      if (run->has_start_time() && run->has_end_time()) {
        *round.mutable_phases()->mutable_validation() = core::ToProtoDuration(
            core::FromProto(run->end_time()) -
            core::FromProto(run->start_time()));
      }
      *round.mutable_end_time() = core::ToProto(options_.clock->Now());
      data->updates.clear();
      data->masked_sum.reset();
      data->aggregate.reset();
      if (options_.metrics != nullptr) options_.metrics->RoundEnded(round);
      spdlog::info("federated: {} completed: run {} {}", name, run_name, v1::RunState_Name(state));
      Save(round);
    } else {
      Fail(*data, static_cast<absl::StatusCode>(run->error().code()),
           absl::StrCat("run ", run_name, " ", v1::RunState_Name(state), ": ",
                        run->error().message()));
    }
  }
}

void FederatedCoordinator::AggregateRound(const std::string& name) {
  // Read what the aggregation needs.
  v1::Round round;
  std::map<std::string, std::vector<float>> updates;
  std::vector<uint32_t> masked_words;
  FederatedModelState state;
  int64_t federation = 0;
  uint64_t noise_seed = 0;
  {
    absl::MutexLock lock(&mu_);
    RoundData* data = FindRound(name);
    if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
      return;
    }
    round = data->round;
    updates = std::move(data->updates);
    data->updates.clear();
    if (data->masked_sum) masked_words = data->masked_sum->words();
    state = model_states_[round.model()];
    federation = FederationSize();
    noise_seed = noise_();
  }
  const RoundAggregation result = AggregateRoundUpdates(
      round, std::move(updates), masked_words, std::move(state), federation,
      noise_seed);
  const v1::FederatedConfig& config = round.config();
  const absl::Status& error = result.error;

  absl::MutexLock lock(&mu_);
  RoundData* data = FindRound(name);
  if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
    return;
  }
  // Trust: flagged sites go on probation, and are excluded after
  // exclude_after flagged rounds in a row; the others are cleared.
  TrustOutcome trust =
      ApplyRoundTrust(data->round, result.outlier_scores, result.excluded,
                      error.ok(), sites_);
  for (const std::string& id : trust.changed) SaveSite(sites_[id]);
  for (const v1::RecordAuditEventRequest& event : trust.audit_events) {
    spdlog::warn("federated: {} excluded: {}", event.object(), event.reason());
    if (options_.metrics != nullptr) options_.metrics->SiteExcluded();
    audit_.Queue(event);
  }
  if (!error.ok()) {
    Fail(*data, error.code(),
         absl::StrCat("aggregation failed: ", error.message()));
    return;
  }
  model_states_[data->round.model()] = result.state;
  if (absl::Status s =
          options_.store->PutModelState(data->round.model(), result.state);
      !s.ok()) {
    Fail(*data, absl::StatusCode::kInternal,
         absl::StrCat("saving the aggregation state: ", s.message()));
    return;
  }
  data->round.set_total_samples(result.total_samples);
  data->round.set_aggregate_norm(result.aggregate_norm);
  const v1::DifferentialPrivacyConfig& dp = config.differential_privacy();
  if (dp.enabled()) {
    data->round.mutable_privacy()->set_epsilon(result.epsilon);
    data->round.mutable_privacy()->set_delta(dp.target_delta());
    data->round.mutable_privacy()->set_rounds(result.state.dp_rounds);
    if (options_.metrics != nullptr) {
      options_.metrics->SetPrivacy(data->round.model(), result.epsilon,
                                   dp.max_epsilon());
    }
  }
  data->aggregate = FederatedAggregate{data->round.base_version(),
                                       result.step, result.total_samples};
  if (data->submissions_closed != absl::InfinitePast()) {
    *data->round.mutable_phases()->mutable_aggregation() =
        core::ToProtoDuration(options_.clock->Now() - data->submissions_closed);
  }
  spdlog::info("federated: {} aggregated {} updates ({} rows), norm {}",
               name, result.aggregated, result.total_samples,
               result.aggregate_norm);
  Save(data->round);
}

}  // namespace continuum::trainer
