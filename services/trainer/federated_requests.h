// The rules of FederatedService's requests that need no coordinator state
// or only the round they name (federated.proto's comments, INVALID_ARGUMENT
// naming the field), and where a round's time went (Round.phases). Pure
// functions; the coordinator (federated_coordinator.h) applies them, those
// that read a round under its lock.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_REQUESTS_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_REQUESTS_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/federated.pb.h"
#include "lib/federated/secure_aggregation.h"

namespace continuum::trainer {

// JoinRound: parent `models/{model}` (returned), site_id an id, round (if
// named) a round of that model, sample_count >= 0, a public key of 32
// bytes if any.
absl::StatusOr<std::string> CheckJoinRequest(
    const v1::JoinRoundRequest& request);

// SubmitUpdate's metadata: round `models/{model}/rounds/{round}`, site_id
// an id.
absl::Status CheckUpdateNames(const v1::UpdateMetadata& metadata);

// UpdateSite: the site named `sites/{site}`, a mask of trust and/or
// trust_reason, a defined trust, a reason of at most 4096 bytes.
struct SiteChange {
  std::string site_id;
  bool set_trust = false;
  bool set_reason = false;
};
absl::StatusOr<SiteChange> CheckUpdateSiteRequest(
    const v1::UpdateSiteRequest& request);

// RevealMaskSeeds: exactly one 32-byte seed per participant of `round`
// that dropped out, by peer site id.
absl::StatusOr<std::map<std::string, federated::Key32>> ParseRevealedSeeds(
    const v1::Round& round, const v1::RevealMaskSeedsRequest& request);

// The checks of `metadata` that depend only on the round it names (not on
// who may submit): sample_count > 0, the round's base version and
// parameter count, `masked` equal to the round's secure aggregation, the
// DP clip norm (within the round's; > 0 for a masked update), and the
// site's timings (download and local_training each >= 0 and at most a
// day). INVALID_ARGUMENT naming the field ("metadata.base_version: ...").
absl::Status CheckUpdateAgainstRound(const v1::Round& round,
                                     const v1::UpdateMetadata& metadata);

// Sets round.phases' download, local_training and upload to the slowest
// submitted participant's (the round waits for it). Called when
// submissions close, before aggregation marks any participant EXCLUDED.
void SetSitePhases(v1::Round& round);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_REQUESTS_H_
