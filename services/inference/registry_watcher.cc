#include "services/inference/registry_watcher.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "lib/core/call_identity.h"
#include "lib/core/logging.h"

namespace continuum::inference {
namespace {

// The caller the pod names on its calls to the registry.
constexpr absl::string_view kActor = "inference";
// Deadline of one ReportServingState.
constexpr absl::Duration kReportTimeout = absl::Seconds(5);
// Wait before applying again a deployment whose artifact was unavailable.
constexpr absl::Duration kRetryFetchAfter = absl::Seconds(1);

}  // namespace

RegistryWatcher::RegistryWatcher(RegistryWatcherOptions options)
    : options_(std::move(options)),
      stub_(options_.registry ? v1::RegistryService::NewStub(options_.registry)
                              : nullptr) {}

RegistryWatcher::~RegistryWatcher() { Stop(); }

void RegistryWatcher::Enqueue(const v1::Deployment& deployment,
                              bool from_cache) {
  absl::MutexLock lock(&mu_);
  pending_[deployment.model()] = {deployment, from_cache};
}

void RegistryWatcher::Start() {
  if (options_.deployments != nullptr) {
    for (const v1::Deployment& d : options_.deployments->LoadAll()) {
      spdlog::info("model {}: queueing cached deployment revision {}",
                   d.model(), d.revision());
      Enqueue(d, /*from_cache=*/true);
    }
  }
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  threads_.emplace_back([this] { LoadLoop(); });
  if (stub_ != nullptr) {
    threads_.emplace_back([this] { WatchLoop(); });
    threads_.emplace_back([this] { ReportLoop(); });
  }
}

void RegistryWatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (watch_context_ != nullptr) watch_context_->TryCancel();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void RegistryWatcher::NotifyChanged() {
  absl::MutexLock lock(&mu_);
  ++changes_;
}

bool RegistryWatcher::connected() const {
  absl::MutexLock lock(&mu_);
  return connected_;
}

bool RegistryWatcher::from_cache() const {
  absl::MutexLock lock(&mu_);
  return applied_from_cache_ && !heard_from_registry_;
}

bool RegistryWatcher::SleepUnlessStopping(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&stopping), d);
  return !stopping_;
}

void RegistryWatcher::WatchLoop() {
  absl::Duration backoff = options_.min_backoff;
  for (;;) {
    grpc::ClientContext ctx;
    // The watch lasts until it breaks or the pod stops: no deadline.
    core::PrepareCall(ctx, kActor, absl::InfiniteFuture());
    v1::WatchDeploymentsRequest request;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      watch_context_ = &ctx;
      request.set_since_revision(last_revision_);
    }
    for (const std::string& m : options_.models) request.add_models(m);
    request.set_pod_id(options_.pod_id);
    auto reader = stub_->WatchDeployments(&ctx, request);
    v1::WatchDeploymentsResponse response;
    while (reader->Read(&response)) {
      backoff = options_.min_backoff;
      bool newly_connected = false;
      {
        absl::MutexLock lock(&mu_);
        newly_connected = !connected_;
        connected_ = true;
        if (response.caught_up()) heard_from_registry_ = true;
        if (response.has_deployment()) {
          // Revisions arrive in order; a registry restored from a backup
          // may restart lower, and the pod follows it.
          last_revision_ = response.deployment().revision();
          pending_[response.deployment().model()] = {response.deployment(),
                                                     false};
        }
        ++changes_;
      }
      if (newly_connected) {
        spdlog::info("watching deployments at the registry from revision {}",
                     request.since_revision());
      }
    }
    grpc::Status status = reader->Finish();
    {
      absl::MutexLock lock(&mu_);
      watch_context_ = nullptr;
      connected_ = false;
      ++changes_;
      if (stopping_) return;
    }
    spdlog::warn("deployment watch ended ({}: {}); reconnecting in {}",
                 static_cast<int>(status.error_code()),
                 status.error_message(), absl::FormatDuration(backoff));
    if (!SleepUnlessStopping(backoff)) return;
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool RegistryWatcher::TakePending(v1::Deployment* deployment,
                                  bool* from_cache) {
  absl::MutexLock lock(&mu_);
  auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !pending_.empty();
  };
  mu_.Await(absl::Condition(&work));
  if (stopping_) return false;
  auto it = pending_.begin();
  *deployment = std::move(it->second.first);
  *from_cache = it->second.second;
  pending_.erase(it);
  return true;
}

absl::Status RegistryWatcher::Apply(const v1::Deployment& deployment,
                                    bool from_cache) {
  options_.manager->SetPending(deployment.model(), deployment.revision());
  // Marked before Apply: the version turns available inside Apply, and a
  // status read right then must already say where it came from.
  bool was_from_cache = false;
  if (from_cache) {
    absl::MutexLock lock(&mu_);
    was_from_cache = applied_from_cache_;
    applied_from_cache_ = true;
  }
  absl::Status status = options_.manager->Apply(deployment);
  if (!status.ok() && from_cache) {
    absl::MutexLock lock(&mu_);
    applied_from_cache_ = was_from_cache;
  }
  if (status.ok() && !from_cache && options_.deployments != nullptr) {
    if (absl::Status s = options_.deployments->Save(deployment); !s.ok()) {
      spdlog::warn("caching deployment of {}: {}", deployment.model(),
                   s.message());
    }
  }
  return status;
}

void RegistryWatcher::LoadLoop() {
  LowerThreadPriority();  // Loading yields to the request path.
  for (;;) {
    v1::Deployment deployment;
    bool from_cache = false;
    if (!TakePending(&deployment, &from_cache)) return;
    absl::Status status = Apply(deployment, from_cache);
    if (status.code() == absl::StatusCode::kUnavailable ||
        status.code() == absl::StatusCode::kDeadlineExceeded) {
      // The artifact could not be fetched for now: try again unless a newer
      // deployment arrived meanwhile.
      if (!SleepUnlessStopping(kRetryFetchAfter)) return;
      absl::MutexLock lock(&mu_);
      if (!pending_.count(deployment.model())) {
        pending_[deployment.model()] = {deployment, from_cache};
      }
      continue;
    }
    PruneArtifacts(deployment);
  }
}

void RegistryWatcher::PruneArtifacts(const v1::Deployment& applied) {
  // Keep only the artifacts of the deployments cached on disk.
  if (options_.artifacts == nullptr || options_.deployments == nullptr) {
    return;
  }
  std::vector<std::string> keep;
  for (const v1::Deployment& d : options_.deployments->LoadAll()) {
    for (const v1::DeployedArtifact& a : d.artifacts()) {
      keep.push_back(a.sha256());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [model, p] : pending_) {
      for (const v1::DeployedArtifact& a : p.first.artifacts()) {
        keep.push_back(a.sha256());
      }
    }
  }
  for (const v1::DeployedArtifact& a : applied.artifacts()) {
    keep.push_back(a.sha256());
  }
  if (absl::StatusOr<int> n = options_.artifacts->Prune(keep); !n.ok()) {
    spdlog::warn("pruning the artifact cache: {}", n.status().message());
  }
}

void RegistryWatcher::ReportLoop() {
  absl::Duration interval = options_.report_interval;
  uint64_t seen = ~uint64_t{0};
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto due = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || changes_ != seen;
      };
      mu_.AwaitWithTimeout(absl::Condition(&due), interval);
      if (stopping_) return;
      seen = changes_;
    }
    v1::ReportServingStateRequest request;
    request.set_pod_id(options_.pod_id);
    request.set_address(options_.address);
    request.set_ready(options_.manager->ready());
    if (auto models = options_.manager->Status(""); models.ok()) {
      for (v1::ModelServingStatus& m : *models) {
        *request.add_models() = std::move(m);
      }
    }
    grpc::ClientContext ctx;
    core::PrepareCall(ctx, kActor, absl::Now() + kReportTimeout);
    v1::ReportServingStateResponse response;
    grpc::Status status = stub_->ReportServingState(&ctx, request, &response);
    if (status.ok() && response.report_interval().seconds() > 0) {
      interval = absl::Seconds(response.report_interval().seconds());
    } else if (!status.ok()) {
      spdlog::debug("reporting serving state: {}", status.error_message());
    }
  }
}

}  // namespace continuum::inference
