// The gRPC handlers of continuum.v1.FederatedService: thin adapters over
// FederatedCoordinator (federated_coordinator.h). A trainer in the site
// role registers the same service without a coordinator, and every call
// answers FAILED_PRECONDITION ("this trainer runs in the site role").
//
// SubmitUpdate reads its stream as federated.proto says: metadata first
// (checked before any value arrives), then chunks contiguous from offset 0,
// plain `values` or `masked_values` as the metadata's `masked` says, at
// most 1 M values each, finite. A stream that ends before every value
// arrived, or breaks a rule mid-way, ends with an error naming the message
// (`message 3: chunk offset 2048, expected 4096`) and the update is not
// counted: a client stream that fails never ends OK.
//
// JoinRound with `wait` blocks until the call's deadline, at most 10
// minutes (then DEADLINE_EXCEEDED: join again).
//
// With authentication (server.auth), a site's identity is bound to its
// site id: JoinRound, SubmitUpdate and RevealMaskSeeds from a caller that
// may not act for others (server.auth.delegating_roles, admin by default)
// must name the site its subject is (PERMISSION_DENIED otherwise), so one
// site cannot join or submit as another. Without authentication nothing is
// bound.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_SERVICE_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <optional>
#include <string>

#include "continuum/v1/federated.grpc.pb.h"
#include "services/trainer/federated_coordinator.h"

namespace continuum::trainer {

// The binding above, given the call's authenticated subject (none without
// authentication) and whether it may act for others.
absl::Status CheckSiteIdentity(const std::optional<std::string>& subject,
                               bool may_delegate, const std::string& site_id);

class FederatedServiceImpl final : public v1::FederatedService::Service {
 public:
  // `coordinator` must outlive the service; null = the site role.
  explicit FederatedServiceImpl(FederatedCoordinator* coordinator)
      : coordinator_(coordinator) {}

  grpc::Status StartRound(grpc::ServerContext* context,
                          const v1::StartRoundRequest* request,
                          v1::StartRoundResponse* response) override;
  grpc::Status GetRound(grpc::ServerContext* context,
                        const v1::GetRoundRequest* request,
                        v1::GetRoundResponse* response) override;
  grpc::Status ListRounds(grpc::ServerContext* context,
                          const v1::ListRoundsRequest* request,
                          v1::ListRoundsResponse* response) override;
  grpc::Status JoinRound(grpc::ServerContext* context,
                         const v1::JoinRoundRequest* request,
                         v1::JoinRoundResponse* response) override;
  grpc::Status SubmitUpdate(grpc::ServerContext* context,
                            grpc::ServerReader<v1::SubmitUpdateRequest>* reader,
                            v1::SubmitUpdateResponse* response) override;
  grpc::Status RevealMaskSeeds(grpc::ServerContext* context,
                               const v1::RevealMaskSeedsRequest* request,
                               v1::RevealMaskSeedsResponse* response) override;
  grpc::Status ListSites(grpc::ServerContext* context,
                         const v1::ListSitesRequest* request,
                         v1::ListSitesResponse* response) override;
  grpc::Status UpdateSite(grpc::ServerContext* context,
                          const v1::UpdateSiteRequest* request,
                          v1::UpdateSiteResponse* response) override;

 private:
  FederatedCoordinator* const coordinator_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_SERVICE_H_
