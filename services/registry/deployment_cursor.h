// DeploymentCursor: what one WatchDeployments stream sends (registry.proto),
// as a series of non-blocking polls that a watch stream runs when it
// starts and after each new revision (registry_service.cc runs it in a
// core::WatchReactor that follows Registry::revisions()). Its reads go
// through a DeploymentFeed that the watches share.
//
//  - The first poll catches up: when since_revision is 0, or ahead of the
//    registry (one restored from an older backup), the current deployment
//    of each watched model, by revision; then every revision after
//    since_revision; then one message with caught_up = true and
//    latest_revision = the cursor.
//  - Each later poll sends every revision after the cursor, if the
//    registry has made any.
// A model's revision is never sent twice, and each message carries the
// registry's latest revision when it was made. After each poll the cursor
// is at least the latest revision committed before the poll's reads began
// (revisions of unwatched models need not be read again). `models` empty
// watches every model, including those registered later.
//
// Not thread-safe: one poll at a time (WatchReactor runs one Next() at a
// time).
#ifndef CONTINUUM_SERVICES_REGISTRY_DEPLOYMENT_CURSOR_H_
#define CONTINUUM_SERVICES_REGISTRY_DEPLOYMENT_CURSOR_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/deployment_feed.h"
#include "services/registry/registry.h"

namespace continuum::registry {

class DeploymentCursor {
 public:
  // `feed` must outlive the cursor.
  DeploymentCursor(DeploymentFeed* feed,
                   const v1::WatchDeploymentsRequest& request);

  // Appends what is new to `out`. An error (INVALID_ARGUMENT for a negative
  // since_revision, or the store's) ends the stream after what was
  // appended.
  absl::Status Poll(std::vector<v1::WatchDeploymentsResponse>* out);

  // The revision up to which everything watched was sent (0 before the
  // first poll).
  int64_t cursor() const { return since_; }

 private:
  absl::Status CatchUp(std::vector<v1::WatchDeploymentsResponse>* out);
  // Every revision after the cursor, page by page; then moves the cursor.
  absl::Status Drain(std::vector<v1::WatchDeploymentsResponse>* out);
  void Send(const v1::Deployment& d,
            std::vector<v1::WatchDeploymentsResponse>* out);

  DeploymentFeed* const feed_;
  Registry* const registry_;
  const std::vector<std::string> models_;
  const int64_t requested_since_;
  int64_t since_ = 0;
  bool caught_up_ = false;
  // The last revision sent per model: nothing is sent twice.
  std::map<std::string, int64_t> sent_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_DEPLOYMENT_CURSOR_H_
