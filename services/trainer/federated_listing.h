// The listings of FederatedService, as pure functions over the
// coordinator's records (federated_coordinator.h reads them under its lock
// and hides what a round does not show yet): request checks, AIP-160
// filters (core::Filter), and page tokens (core::EncodePageToken) bound to
// the query.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_LISTING_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_LISTING_H_

#include <vector>

#include "absl/status/statusor.h"
#include "continuum/v1/federated.pb.h"

namespace continuum::trainer {

// ListRounds: checks `request` (parent `models/{model}` or `models/-`,
// page_size in [0, 1000], a filter on `state` and `create_time`, a token of
// this query; INVALID_ARGUMENT naming the field) and returns its page of
// `rounds` (any order), newest first.
absl::StatusOr<v1::ListRoundsResponse> ListRoundsPage(
    const v1::ListRoundsRequest& request,
    const std::vector<const v1::Round*>& rounds);

// ListSites: checks `request` (page_size in [0, 1000], a filter on `trust`,
// a token of this filter) and returns its page of `sites`, which must be
// ordered by id.
absl::StatusOr<v1::ListSitesResponse> ListSitesPage(
    const v1::ListSitesRequest& request,
    const std::vector<const v1::Site*>& sites);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_LISTING_H_
