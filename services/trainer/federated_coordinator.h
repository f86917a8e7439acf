// FederatedCoordinator: the domain of FederatedService (federated.proto)
// in a trainer that runs in the coordinator role. No gRPC: the handlers
// (federated_service.h) are thin over it.
//
// A round's life (Round.state):
//   OPEN        StartRound on the model's production version; sites join.
//   TRAINING    membership closed: max_sites joined, or the join deadline
//               passed with at least min_sites (else FAILED); sites train
//               and submit until every participant did or the submit
//               deadline passed (the rest are DROPPED).
//   UNMASKING   secure aggregation with dropped sites: the survivors reveal
//               the seeds they shared with them (a second submit_timeout;
//               FAILED if they do not).
//   AGGREGATING fewer than min_sites updates: FAILED. Else: DP clipping
//               (the coordinator's, or the sites' under secure
//               aggregation), outlier exclusion on update norms (trust:
//               PROBATION, then EXCLUDED after exclude_after rounds in a
//               row), the rule (lib/federated/aggregation.h), DP noise
//               z * C / m on the mean and the RDP accountant's step, the
//               server optimiser's step.
//   VALIDATING  the run that applies the step to the base version,
//               evaluates, gates and uploads it (TriggerFederatedRun, a
//               RUN_TRIGGER_FEDERATED run on this trainer's scheduler).
//   COMPLETED   the run ended SUCCEEDED or REJECTED (the registry's gates
//               decided; result_version is the uploaded candidate);
//   FAILED      too few sites or updates, a run that failed, or a restart.
// Deadlines and runs are checked by Tick(), which the service calls every
// tick_interval, and after every call that may move a round.
//
// Persistence (federated_store.h): every change of a round or a site, and
// each model's accountant, optimiser moments and clip norm after each
// aggregation. Updates live in memory for the round in flight; a round that
// a restart interrupts becomes FAILED ("interrupted by a coordinator
// restart ... the production version is untouched"), so nothing is ever
// half-applied.
//
// Thread-safe: one mutex; JoinRound with `wait` blocks its caller on a
// condition variable (up to the call's deadline), and the aggregation runs
// on Tick's thread outside the mutex.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_COORDINATOR_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_COORDINATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/federated.pb.h"
#include "continuum/v1/registry.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/clock.h"
#include "lib/federated/secure_aggregation.h"
#include "services/trainer/federated_audit_outbox.h"
#include "services/trainer/federated_metrics.h"
#include "services/trainer/federated_run.h"
#include "services/trainer/federated_settings.h"
#include "services/trainer/federated_store.h"

namespace continuum::trainer {

// The version a round starts from.
struct FederatedBase {
  v1::VersionRef version;
  // Length of its flattened parameter vector (manifest parameters).
  int64_t num_parameters = 0;
};

struct FederatedCoordinatorOptions {
  core::Clock* clock = core::Clock::Real();
  FederatedStore* store = nullptr;  // required
  // The model's production version. NOT_FOUND for an unknown model,
  // FAILED_PRECONDITION when it has none.
  std::function<absl::StatusOr<FederatedBase>(const std::string& model)>
      production;
  // The model's stored federated settings (TrainingConfig.federated).
  std::function<absl::StatusOr<v1::FederatedConfig>(const std::string& model)>
      model_config;
  // Starts the run that evaluates and uploads `round`'s candidate; returns
  // the run's name.
  std::function<absl::StatusOr<std::string>(const v1::Round& round)>
      trigger_run;
  // A run by name.
  std::function<absl::StatusOr<v1::Run>(const std::string& run)> get_run;
  // Optional: OK when the coordinator can evaluate the model's candidates
  // (its collector holds the model's evaluation data); StartRound refuses
  // with its error otherwise, before any site works for nothing.
  std::function<absl::Status(const std::string& model)> evaluation_ready;
  // Optional: records a site's exclusion or readmission in the registry's
  // audit log (RegistryService.RecordAuditEvent). Events wait in the
  // store's outbox until it returns OK, and are retried at every Tick.
  std::function<absl::Status(const v1::RecordAuditEventRequest& event)>
      record_audit;
  // Seed of the DP noise; 0 = from std::random_device.
  uint64_t noise_seed = 0;
  // Optional.
  FederatedMetrics* metrics = nullptr;
};

class FederatedCoordinator {
 public:
  // Loads the store; rounds left unfinished become FAILED.
  static absl::StatusOr<std::unique_ptr<FederatedCoordinator>> Create(
      FederatedCoordinatorOptions options);

  absl::StatusOr<v1::Round> StartRound(const v1::StartRoundRequest& request);
  absl::StatusOr<v1::Round> GetRound(const std::string& name);
  absl::StatusOr<v1::ListRoundsResponse> ListRounds(
      const v1::ListRoundsRequest& request);
  // `deadline`: how long a call with `wait` may block.
  absl::StatusOr<v1::JoinRoundResponse> JoinRound(
      const v1::JoinRoundRequest& request, absl::Time deadline);

  // The checks of a SubmitUpdate stream's first message, before any value
  // arrives; returns the number of values to expect.
  absl::StatusOr<int64_t> CheckSubmission(const v1::UpdateMetadata& metadata);
  // A complete update: `values` (plain) or `masked` (secure aggregation),
  // num_parameters of them. Checks again (the round may have moved).
  absl::StatusOr<v1::Round> Submit(const v1::UpdateMetadata& metadata,
                                   std::vector<float> values,
                                   std::vector<uint32_t> masked);

  absl::StatusOr<v1::Round> RevealMaskSeeds(
      const v1::RevealMaskSeedsRequest& request);
  absl::StatusOr<v1::ListSitesResponse> ListSites(
      const v1::ListSitesRequest& request);
  absl::StatusOr<v1::Site> UpdateSite(const v1::UpdateSiteRequest& request);

  // Moves rounds past their deadlines, aggregates, starts and follows runs.
  void Tick();

  // The aggregate of a round in VALIDATING, for its run. NOT_FOUND
  // otherwise (e.g. after a restart).
  absl::StatusOr<FederatedAggregate> AggregateOf(const std::string& round);

 private:
  // A round in memory: its record and, while in flight, its updates.
  struct RoundData {
    v1::Round round;
    std::map<std::string, std::vector<float>> updates;  // by site id
    std::unique_ptr<federated::MaskedSum> masked_sum;
    std::map<std::string, bool> revealed;  // survivors that revealed
    absl::Time unmask_deadline;
    std::optional<FederatedAggregate> aggregate;
    // Phases: when each site's update stream began, and when submissions
    // closed.
    std::map<std::string, absl::Time> upload_start;
    absl::Time submissions_closed = absl::InfinitePast();
  };

  explicit FederatedCoordinator(FederatedCoordinatorOptions options);

  absl::Status Load() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RoundData* FindRound(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  RoundData* ActiveRound(const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Site* TouchSite(const std::string& site_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Save(const v1::Round& round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SaveSite(const v1::Site& site) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Fail(RoundData& data, absl::StatusCode code, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CloseMembership(RoundData& data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Submissions over (all in, or the deadline): drops the missing, then
  // UNMASKING or AGGREGATING.
  void CloseSubmissions(RoundData& data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int64_t> CheckSubmissionLocked(
      const v1::UpdateMetadata& metadata, RoundData** data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The aggregation of one round in AGGREGATING (called by Tick without
  // the mutex; takes it to read and to apply).
  void AggregateRound(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // The number of sites a round's participants are sampled from (the DP
  // accountant's q = participants / this).
  int64_t FederationSize() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const FederatedCoordinatorOptions options_;
  absl::Mutex mu_;
  // Signalled whenever a round changes (JoinRound's waiters).
  absl::CondVar changed_;
  std::map<std::string, RoundData> rounds_ ABSL_GUARDED_BY(mu_);  // by name
  std::map<std::string, v1::Site> sites_ ABSL_GUARDED_BY(mu_);   // by id
  std::map<std::string, FederatedModelState> model_states_
      ABSL_GUARDED_BY(mu_);
  std::mt19937_64 noise_ ABSL_GUARDED_BY(mu_);
  // Exclusions and readmissions on their way to the registry's audit log.
  FederatedAuditOutbox audit_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_COORDINATOR_H_
