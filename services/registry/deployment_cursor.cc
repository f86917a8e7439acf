#include "services/registry/deployment_cursor.h"

#include <algorithm>
#include <utility>

namespace continuum::registry {
namespace {

// Revisions read per store transaction.
constexpr int kPage = 1000;

}  // namespace

DeploymentCursor::DeploymentCursor(DeploymentFeed* feed,
                                   const v1::WatchDeploymentsRequest& request)
    : feed_(feed),
      registry_(&feed->registry()),
      models_(request.models().begin(), request.models().end()),
      requested_since_(request.since_revision()) {}

absl::Status DeploymentCursor::Poll(
    std::vector<v1::WatchDeploymentsResponse>* out) {
  if (!caught_up_) return CatchUp(out);
  if (registry_->latest_revision() <= since_) return absl::OkStatus();
  return Drain(out);
}

absl::Status DeploymentCursor::CatchUp(
    std::vector<v1::WatchDeploymentsResponse>* out) {
  if (requested_since_ < 0) {
    return absl::InvalidArgumentError("since_revision must not be negative");
  }
  since_ = requested_since_;
  // A revision ahead of the registry (restored from an older backup): start
  // over from the current deployments.
  if (since_ > registry_->latest_revision()) since_ = 0;
  if (since_ == 0) {
    const int64_t latest = registry_->latest_revision();
    absl::StatusOr<std::vector<v1::Deployment>> current =
        registry_->CurrentDeployments(models_);
    if (!current.ok()) return current.status();
    for (const v1::Deployment& d : *current) Send(d, out);
    since_ = latest;
  }
  if (absl::Status s = Drain(out); !s.ok()) return s;
  v1::WatchDeploymentsResponse caught_up;
  caught_up.set_caught_up(true);
  caught_up.set_latest_revision(since_);
  out->push_back(std::move(caught_up));
  caught_up_ = true;
  return absl::OkStatus();
}

absl::Status DeploymentCursor::Drain(
    std::vector<v1::WatchDeploymentsResponse>* out) {
  const int64_t latest = registry_->latest_revision();
  while (true) {
    absl::StatusOr<std::shared_ptr<const std::vector<v1::Deployment>>> page =
        feed_->Since(since_, models_, kPage, latest);
    if (!page.ok()) return page.status();
    for (const v1::Deployment& d : **page) {
      Send(d, out);
      since_ = std::max(since_, d.revision());
    }
    if (static_cast<int>((*page)->size()) < kPage) break;
  }
  since_ = std::max(since_, latest);
  return absl::OkStatus();
}

void DeploymentCursor::Send(const v1::Deployment& d,
                            std::vector<v1::WatchDeploymentsResponse>* out) {
  int64_t& last = sent_[d.model()];
  if (d.revision() <= last) return;
  last = d.revision();
  v1::WatchDeploymentsResponse response;
  *response.mutable_deployment() = d;
  response.set_latest_revision(registry_->latest_revision());
  out->push_back(std::move(response));
}

}  // namespace continuum::registry
