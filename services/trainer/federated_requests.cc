#include "services/trainer/federated_requests.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"

namespace continuum::trainer {
namespace {

absl::Status CheckTiming(const google::protobuf::Duration& d,
                         absl::string_view field) {
  const bool valid =
      d.seconds() >= 0 && d.nanos() >= 0 && d.nanos() < 1000000000;
  if (!valid || core::FromProto(d) > absl::Hours(24)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.timings.", field, ": must be >= 0 and at most a day (got ",
        d.seconds(), " s ", d.nanos(), " ns)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CheckJoinRequest(
    const v1::JoinRoundRequest& request) {
  absl::StatusOr<std::string> model =
      core::ParseResourceName(request.parent(), "models", "model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent: ", model.status().message()));
  }
  if (absl::Status s = core::ValidateResourceId("site", request.site_id());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("site_id: ", s.message()));
  }
  if (!request.round().empty()) {
    absl::StatusOr<std::vector<std::string>> parts =
        core::MatchResourceName(request.round(), "models/{model}/rounds/{round}");
    if (!parts.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("round: ", parts.status().message()));
    }
    if ((*parts)[0] != *model) {
      return absl::InvalidArgumentError(absl::StrCat(
          "round: ", request.round(), " is not a round of ", request.parent()));
    }
  }
  if (request.sample_count() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sample_count: must be >= 0 (got ", request.sample_count(), ")"));
  }
  if (!request.mask_public_key().empty() &&
      request.mask_public_key().size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("mask_public_key: must be 32 bytes (got ",
                     request.mask_public_key().size(), ")"));
  }
  return *model;
}

absl::Status CheckUpdateNames(const v1::UpdateMetadata& metadata) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(metadata.round(), "models/{model}/rounds/{round}");
  if (!parts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.round: ", parts.status().message()));
  }
  if (absl::Status s = core::ValidateResourceId("site", metadata.site_id());
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.site_id: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<SiteChange> CheckUpdateSiteRequest(
    const v1::UpdateSiteRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.site().name(), "sites", "site");
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("site.name: ", id.status().message()));
  }
  if (request.update_mask().paths_size() == 0) {
    return absl::InvalidArgumentError(
        "update_mask: name the fields to change (trust, trust_reason)");
  }
  for (const std::string& path : request.update_mask().paths()) {
    if (path != "trust" && path != "trust_reason") {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: '", path,
          "' cannot be changed; only trust and trust_reason"));
    }
  }
  const auto& paths = request.update_mask().paths();
  SiteChange change;
  change.site_id = *id;
  change.set_trust =
      std::find(paths.begin(), paths.end(), "trust") != paths.end();
  change.set_reason =
      std::find(paths.begin(), paths.end(), "trust_reason") != paths.end();
  if (change.set_trust && (!v1::SiteTrust_IsValid(request.site().trust()) ||
                    request.site().trust() == v1::SITE_TRUST_UNSPECIFIED)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "site.trust: ", request.site().trust(),
        " is not SITE_TRUST_TRUSTED, SITE_TRUST_PROBATION or "
        "SITE_TRUST_EXCLUDED"));
  }
  if (request.site().trust_reason().size() > 4096) {
    return absl::InvalidArgumentError("site.trust_reason: at most 4096 bytes");
  }
  return change;
}

absl::StatusOr<std::map<std::string, federated::Key32>> ParseRevealedSeeds(
    const v1::Round& round, const v1::RevealMaskSeedsRequest& request) {
  std::set<std::string> dropped;
  for (const v1::Participant& p : round.participants()) {
    if (p.state() == v1::PARTICIPANT_STATE_DROPPED) dropped.insert(p.site_id());
  }
  std::map<std::string, federated::Key32> seeds;
  for (int i = 0; i < request.seeds_size(); ++i) {
    const v1::PairwiseSeed& s = request.seeds(i);
    if (dropped.count(s.peer_site_id()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds[", i, "].peer_site_id: ", s.peer_site_id(),
          " did not drop out of ", round.name(),
          "; only seeds shared with dropped sites may be revealed"));
    }
    if (s.seed().size() != 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds[", i, "].seed: must be 32 bytes (got ", s.seed().size(), ")"));
    }
    if (seeds.count(s.peer_site_id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds[", i, "].peer_site_id: ", s.peer_site_id(), " given twice"));
    }
    federated::Key32 key;
    std::copy(s.seed().begin(), s.seed().end(), key.begin());
    seeds[s.peer_site_id()] = key;
  }
  for (const std::string& id : dropped) {
    if (seeds.count(id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds: missing the seed shared with dropped site ", id));
    }
  }
  return seeds;
}

absl::Status CheckUpdateAgainstRound(const v1::Round& round,
                                     const v1::UpdateMetadata& metadata) {
  if (metadata.sample_count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.sample_count: must be > 0 (got ", metadata.sample_count(),
        ")"));
  }
  if (metadata.base_version().model() != round.base_version().model() ||
      metadata.base_version().version() != round.base_version().version()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.base_version: the round trains from version ",
        round.base_version().version(), " of ", round.base_version().model(),
        ", not ", metadata.base_version().version(), " of ",
        metadata.base_version().model()));
  }
  if (metadata.num_parameters() != round.num_parameters()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.num_parameters: the round's base version has ",
        round.num_parameters(), " parameters, not ",
        metadata.num_parameters()));
  }
  const bool secure = round.config().secure_aggregation().enabled();
  if (metadata.masked() != secure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.masked: must be ", secure ? "true" : "false",
        secure ? " (the round uses secure aggregation)"
               : " (the round does not use secure aggregation)"));
  }
  const v1::DifferentialPrivacyConfig& dp =
      round.config().differential_privacy();
  if (dp.enabled()) {
    if (!(metadata.clip_norm() >= 0) ||
        metadata.clip_norm() > round.clip_norm() * (1 + 1e-9)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata.clip_norm: must not exceed the round's clip norm ",
          round.clip_norm(), " (got ", metadata.clip_norm(), ")"));
    }
    if (secure && metadata.clip_norm() <= 0) {
      return absl::InvalidArgumentError(
          "metadata.clip_norm: a masked update under DP must be clipped by "
          "its site (clip_norm > 0)");
    }
  }
  if (absl::Status s =
          CheckTiming(metadata.timings().download(), "download");
      !s.ok()) {
    return s;
  }
  return CheckTiming(metadata.timings().local_training(), "local_training");
}

void SetSitePhases(v1::Round& round) {
  absl::Duration download, training, upload;
  for (const v1::Participant& p : round.participants()) {
    if (p.state() != v1::PARTICIPANT_STATE_SUBMITTED) continue;
    download = std::max(download, core::FromProto(p.timings().download()));
    training =
        std::max(training, core::FromProto(p.timings().local_training()));
    upload = std::max(upload, core::FromProto(p.timings().upload()));
  }
  v1::RoundPhases* phases = round.mutable_phases();
  *phases->mutable_download() = core::ToProtoDuration(download);
  *phases->mutable_local_training() = core::ToProtoDuration(training);
  *phases->mutable_upload() = core::ToProtoDuration(upload);
}

}  // namespace continuum::trainer
