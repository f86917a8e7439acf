// FederatedSite: a trainer in the site role (TrainerConfig.federated). For
// each of its models, a thread joins the coordinator's rounds and, for
// each round it is a participant of, runs a local training run on this
// trainer's scheduler (Scheduler::TriggerFederatedRun: the site's own
// collector, the round's local_epochs, local_batch_size and
// local_learning_rate, FedProx as EWC with lambda = mu), whose update goes
// back through Submit. Nothing but the update (local - base), the row
// count and the local held-out metrics leaves the site.
//
// Secure aggregation: a fresh X25519 key pair per round; the update is
// clipped (with DP) and weighted, masked with the seeds shared with every
// other participant, and sent as masked_values; if the round waits for
// unmasking, the site reveals the seeds it shared with the dropped sites
// (and only those).
//
// Joins wait for a round in calls of at most 30 s, so Stop returns within
// that; transport errors back off up to 30 s; an excluded site waits 30 s
// between tries (it is logged). Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_SITE_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_SITE_H_

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/federated.grpc.pb.h"
#include "lib/federated/secure_aggregation.h"
#include "services/trainer/federated_run.h"
#include "services/trainer/scheduler.h"

namespace continuum::trainer {

struct FederatedSiteOptions {
  // Required: where local runs are triggered and followed.
  Scheduler* scheduler = nullptr;
  // The coordinator (TrainerConfig.federated.coordinator_address) and this
  // site's id; a model's FederatedConfig overrides either.
  std::string coordinator_address;
  std::string site_id;
  // Bare model ids whose rounds this site joins.
  std::vector<std::string> models;
  // Makes a channel to an address (core::CreateServiceChannel).
  std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>
      channel_to;
  // Deadline of the unary calls and of one update's stream.
  absl::Duration rpc_timeout = absl::Seconds(30);
};

class FederatedSite {
 public:
  explicit FederatedSite(FederatedSiteOptions options)
      : options_(std::move(options)) {}
  ~FederatedSite() { Stop(); }

  // Starts one thread per model.
  void Start();
  // Stops the threads (within about 30 s: a join in flight ends first).
  void Stop();

  // For TrainingExecutorOptions: the round a local run trains for, and
  // where its update goes.
  absl::StatusOr<v1::Round> SiteRound(const std::string& round);
  absl::Status Submit(const FederatedSiteUpdate& update);

 private:
  struct Session {
    v1::Round round;
    int index = 0;
    std::string site_id;
    federated::X25519KeyPair keys;
    std::shared_ptr<grpc::Channel> channel;
  };

  void Loop(const std::string& model);
  // Waits `d` or until Stop; false once stopping.
  bool Pause(absl::Duration d);
  std::shared_ptr<grpc::Channel> ChannelTo(const std::string& address);
  // The seeds this site shares with the participants `peers` of `session`.
  absl::StatusOr<std::vector<federated::PeerSeed>> Seeds(
      const Session& session, const std::vector<int>& peers);
  // Follows a secure round after its update: reveals the seeds shared with
  // dropped sites when the round asks for them.
  void FollowUnmasking(const Session& session);

  const FederatedSiteOptions options_;
  absl::Mutex mu_;
  absl::CondVar stop_cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, Session> sessions_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_SITE_H_
