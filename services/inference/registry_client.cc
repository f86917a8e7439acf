#include "services/inference/registry_client.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/grpc_status.h"
#include <spdlog/spdlog.h>

#include "lib/core/logging.h"
#include "lib/store/file_system.h"

namespace continuum::inference {

// ---------------------------------------------------------------------------
// CachedArtifactSource

CachedArtifactSource::CachedArtifactSource(
    store::BlobStore* cache, std::shared_ptr<grpc::Channel> registry,
    absl::Duration timeout)
    : cache_(cache),
      registry_(registry ? v1::RegistryService::NewStub(registry) : nullptr),
      timeout_(timeout) {}

absl::StatusOr<std::string> CachedArtifactSource::ReadCached(
    const std::string& sha256) {
  absl::StatusOr<std::unique_ptr<store::BlobReader>> reader =
      cache_->Open(sha256);
  if (!reader.ok()) return reader.status();
  std::string bytes, chunk;
  bytes.reserve((*reader)->size());
  for (;;) {
    if (absl::Status s = (*reader)->Next(1 << 20, &chunk); !s.ok()) return s;
    if (chunk.empty()) break;
    bytes += chunk;
  }
  return bytes;
}

absl::StatusOr<std::string> CachedArtifactSource::Download(
    const std::string& model, int64_t version, const std::string& sha256) {
  if (registry_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "artifact ", sha256, " is not cached and no registry is configured"));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  v1::DownloadArtifactRequest request;
  request.set_name(absl::StrCat("models/", model, "/versions/", version));
  request.set_chunk_size(1 << 20);
  auto reader = registry_->DownloadArtifact(&ctx, request);
  absl::StatusOr<std::unique_ptr<store::BlobWriter>> writer =
      cache_->NewWriter();
  if (!writer.ok()) return writer.status();
  std::string bytes;
  int64_t size = -1;
  v1::DownloadArtifactResponse response;
  while (reader->Read(&response)) {
    if (response.has_info()) {
      if (response.info().sha256() != sha256) {
        ctx.TryCancel();
        reader->Finish();
        return absl::DataLossError(absl::StrCat(
            "the registry serves version ", version, " with sha256 ",
            response.info().sha256(), ", the deployment names ", sha256));
      }
      size = response.info().size_bytes();
      bytes.reserve(size);
    } else {
      bytes += response.chunk();
      if (absl::Status s = (*writer)->Append(response.chunk()); !s.ok()) {
        ctx.TryCancel();
        reader->Finish();
        return s;
      }
    }
  }
  if (absl::Status s = core::FromGrpcStatus(reader->Finish()); !s.ok()) {
    return s;
  }
  // Finish checks the size and the SHA-256 before the blob is visible.
  if (absl::StatusOr<std::string> digest = (*writer)->Finish(sha256, size);
      !digest.ok()) {
    return digest.status();
  }
  return bytes;
}

absl::StatusOr<std::string> CachedArtifactSource::Fetch(
    const std::string& model, int64_t version, const std::string& sha256) {
  if (cache_->Exists(sha256)) {
    absl::StatusOr<std::string> bytes = ReadCached(sha256);
    if (bytes.ok()) return bytes;
    spdlog::warn("cached artifact {} is unusable ({}); downloading it again",
                 sha256, bytes.status().message());
    if (absl::Status s = cache_->Delete(sha256); !s.ok()) {
      spdlog::warn("deleting cached artifact {}: {}", sha256, s.message());
    }
  }
  return Download(model, version, sha256);
}

absl::StatusOr<int> CachedArtifactSource::Prune(
    const std::vector<std::string>& keep) {
  absl::StatusOr<std::vector<std::string>> all = cache_->List();
  if (!all.ok()) return all.status();
  std::set<std::string> kept(keep.begin(), keep.end());
  int deleted = 0;
  for (const std::string& digest : *all) {
    if (kept.count(digest)) continue;
    if (absl::Status s = cache_->Delete(digest); !s.ok()) return s;
    ++deleted;
  }
  return deleted;
}

// ---------------------------------------------------------------------------
// DeploymentCache

DeploymentCache::DeploymentCache(std::string dir) : dir_(std::move(dir)) {}

absl::Status DeploymentCache::Save(const v1::Deployment& deployment) {
  store::FileSystem* fs = store::DefaultFileSystem();
  if (absl::Status s = fs->CreateDirs(dir_); !s.ok()) return s;
  std::string bytes;
  if (!deployment.SerializeToString(&bytes)) {
    return absl::InternalError("serializing a deployment");
  }
  return fs->WriteFileAtomically(
      absl::StrCat(dir_, "/", deployment.model(), ".deployment.pb"), bytes);
}

std::vector<v1::Deployment> DeploymentCache::LoadAll() const {
  std::vector<v1::Deployment> out;
  store::FileSystem* fs = store::DefaultFileSystem();
  absl::StatusOr<std::vector<std::string>> names = fs->GetChildren(dir_);
  if (!names.ok()) return out;
  std::sort(names->begin(), names->end());
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, ".deployment.pb")) continue;
    const std::string path = absl::StrCat(dir_, "/", name);
    absl::StatusOr<std::string> bytes = fs->ReadFileToString(path);
    v1::Deployment d;
    if (!bytes.ok() || !d.ParseFromString(*bytes) || d.model().empty()) {
      spdlog::warn("skipping unreadable cached deployment {}", path);
      continue;
    }
    out.push_back(std::move(d));
  }
  return out;
}

// ---------------------------------------------------------------------------
// RegistryWatcher

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

void RegistryWatcher::LoadLoop() {
  LowerThreadPriority();  // Loading yields to the request path.
  for (;;) {
    v1::Deployment deployment;
    bool from_cache = false;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !pending_.empty();
      };
      mu_.Await(absl::Condition(&work));
      if (stopping_) return;
      auto it = pending_.begin();
      deployment = std::move(it->second.first);
      from_cache = it->second.second;
      pending_.erase(it);
    }
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
    if (status.ok()) {
      if (!from_cache && options_.deployments != nullptr) {
        if (absl::Status s = options_.deployments->Save(deployment); !s.ok()) {
          spdlog::warn("caching deployment of {}: {}", deployment.model(),
                       s.message());
        }
      }
    } else if (status.code() == absl::StatusCode::kUnavailable ||
               status.code() == absl::StatusCode::kDeadlineExceeded) {
      // The artifact could not be fetched for now: try again unless a newer
      // deployment arrived meanwhile.
      if (!SleepUnlessStopping(absl::Seconds(1))) return;
      absl::MutexLock lock(&mu_);
      if (!pending_.count(deployment.model())) {
        pending_[deployment.model()] = {deployment, from_cache};
      }
      continue;
    }
    // Keep only the artifacts of the deployments cached on disk.
    if (options_.artifacts != nullptr && options_.deployments != nullptr) {
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
      for (const v1::DeployedArtifact& a : deployment.artifacts()) {
        keep.push_back(a.sha256());
      }
      if (absl::StatusOr<int> n = options_.artifacts->Prune(keep); !n.ok()) {
        spdlog::warn("pruning the artifact cache: {}", n.status().message());
      }
    }
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
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
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
