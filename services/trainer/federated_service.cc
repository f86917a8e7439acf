#include "services/trainer/federated_service.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/auth_processor.h"
#include "lib/core/grpc_status.h"

namespace continuum::trainer {
namespace {

constexpr int64_t kMaxChunkValues = 1 << 20;

grpc::Status SiteRole() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this trainer runs in the site role; FederatedService is "
                      "served by the coordinator's trainer");
}

absl::Status Broken(int message, const std::string& what) {
  return absl::InvalidArgumentError(
      absl::StrCat("message ", message, ": ", what));
}

// CheckSiteIdentity for a call: its AuthContext's subject and delegation.
absl::Status CheckCallSite(const grpc::ServerContext& context,
                           const std::string& site_id) {
  std::optional<std::string> subject;
  bool may_delegate = false;
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context()) {
    auto values = auth->FindPropertyValues(core::kSubjectProperty);
    if (!values.empty()) subject.emplace(values[0].data(), values[0].size());
    auto may = auth->FindPropertyValues(core::kMayDelegateProperty);
    may_delegate = !may.empty() && may[0] == "1";
  }
  return CheckSiteIdentity(subject, may_delegate, site_id);
}

}  // namespace

absl::Status CheckSiteIdentity(const std::optional<std::string>& subject,
                               bool may_delegate, const std::string& site_id) {
  if (!subject.has_value() || may_delegate || *subject == site_id) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "identity ", *subject, " may take part only as site ", *subject,
      ", not as site ", site_id,
      " (a site's certificate or token subject is its site id)"));
}

grpc::Status FederatedServiceImpl::StartRound(
    grpc::ServerContext*, const v1::StartRoundRequest* request,
    v1::StartRoundResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  return core::Reply([&] { return coordinator_->StartRound(*request); },
                     response->mutable_round());
}

grpc::Status FederatedServiceImpl::GetRound(grpc::ServerContext*,
                                            const v1::GetRoundRequest* request,
                                            v1::GetRoundResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  return core::Reply([&] { return coordinator_->GetRound(request->name()); },
                     response->mutable_round());
}

grpc::Status FederatedServiceImpl::ListRounds(
    grpc::ServerContext*, const v1::ListRoundsRequest* request,
    v1::ListRoundsResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  return core::Reply([&] { return coordinator_->ListRounds(*request); },
                     response);
}

grpc::Status FederatedServiceImpl::JoinRound(
    grpc::ServerContext* context, const v1::JoinRoundRequest* request,
    v1::JoinRoundResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  if (absl::Status s = CheckCallSite(*context, request->site_id()); !s.ok()) {
    return core::ToGrpcStatus(s);
  }
  const absl::Time cap = absl::Now() + absl::Minutes(10);
  const absl::Time deadline =
      std::min(cap, absl::FromChrono(context->deadline()));
  return core::Reply(
      [&] { return coordinator_->JoinRound(*request, deadline); }, response);
}

grpc::Status FederatedServiceImpl::SubmitUpdate(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::SubmitUpdateRequest>* reader,
    v1::SubmitUpdateResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  v1::SubmitUpdateRequest message;
  if (!reader->Read(&message)) {
    return core::ToGrpcStatus(absl::InvalidArgumentError(
        "the stream held no message; send metadata first, then chunks"));
  }
  if (!message.has_metadata()) {
    return core::ToGrpcStatus(
        Broken(1, "the first message must carry metadata"));
  }
  const v1::UpdateMetadata metadata = message.metadata();
  if (absl::Status s = CheckCallSite(*context, metadata.site_id()); !s.ok()) {
    return core::ToGrpcStatus(s);
  }
  absl::StatusOr<int64_t> expected = coordinator_->CheckSubmission(metadata);
  if (!expected.ok()) return core::ToGrpcStatus(expected.status());
  std::vector<float> values;
  std::vector<uint32_t> masked;
  int64_t received = 0;
  int index = 1;
  while (reader->Read(&message)) {
    ++index;
    if (!message.has_chunk()) {
      return core::ToGrpcStatus(
          Broken(index, "metadata belongs in the first message only; the "
                        "update is not counted"));
    }
    const v1::ParameterChunk& chunk = message.chunk();
    if (chunk.offset() != received) {
      return core::ToGrpcStatus(Broken(
          index, absl::StrCat("chunk offset ", chunk.offset(), ", expected ",
                              received, " (chunks are contiguous from 0); "
                              "the update is not counted")));
    }
    const bool wrong_kind = metadata.masked() ? chunk.values_size() > 0
                                              : chunk.masked_values_size() > 0;
    if (wrong_kind) {
      return core::ToGrpcStatus(Broken(
          index, metadata.masked()
                     ? "a masked update carries masked_values, not values"
                     : "a plain update carries values, not masked_values"));
    }
    const int64_t n = metadata.masked() ? chunk.masked_values_size()
                                        : chunk.values_size();
    if (n > kMaxChunkValues) {
      return core::ToGrpcStatus(Broken(
          index, absl::StrCat("a chunk holds at most 1048576 values (got ", n,
                              ")")));
    }
    if (received + n > *expected) {
      return core::ToGrpcStatus(Broken(
          index, absl::StrCat("the update would have ", received + n,
                              " values; the round expects ", *expected)));
    }
    if (metadata.masked()) {
      masked.insert(masked.end(), chunk.masked_values().begin(),
                    chunk.masked_values().end());
    } else {
      for (int i = 0; i < chunk.values_size(); ++i) {
        if (!std::isfinite(chunk.values(i))) {
          return core::ToGrpcStatus(Broken(
              index, absl::StrCat("value ", received + i,
                                  " is not finite; the update is not "
                                  "counted")));
        }
      }
      values.insert(values.end(), chunk.values().begin(), chunk.values().end());
    }
    received += n;
  }
  response->set_values_received(received);
  if (received != *expected) {
    return core::ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "the stream ended after ", received, " of ", *expected,
        " values; the update is not counted")));
  }
  absl::StatusOr<v1::Round> round =
      coordinator_->Submit(metadata, std::move(values), std::move(masked));
  if (!round.ok()) return core::ToGrpcStatus(round.status());
  response->set_accepted(true);
  *response->mutable_round() = *std::move(round);
  return grpc::Status::OK;
}

grpc::Status FederatedServiceImpl::RevealMaskSeeds(
    grpc::ServerContext* context, const v1::RevealMaskSeedsRequest* request,
    v1::RevealMaskSeedsResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  if (absl::Status s = CheckCallSite(*context, request->site_id()); !s.ok()) {
    return core::ToGrpcStatus(s);
  }
  return core::Reply([&] { return coordinator_->RevealMaskSeeds(*request); },
                     response->mutable_round());
}

grpc::Status FederatedServiceImpl::ListSites(
    grpc::ServerContext*, const v1::ListSitesRequest* request,
    v1::ListSitesResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  return core::Reply([&] { return coordinator_->ListSites(*request); },
                     response);
}

grpc::Status FederatedServiceImpl::UpdateSite(
    grpc::ServerContext*, const v1::UpdateSiteRequest* request,
    v1::UpdateSiteResponse* response) {
  if (coordinator_ == nullptr) return SiteRole();
  return core::Reply([&] { return coordinator_->UpdateSite(*request); },
                     response->mutable_site());
}

}  // namespace continuum::trainer
