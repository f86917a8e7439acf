#include "services/inference/cached_artifact_source.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/call_identity.h"
#include "lib/core/grpc_status.h"
#include "lib/core/logging.h"
#include "lib/core/resource_names.h"

namespace continuum::inference {
namespace {

// The caller the pod names on its calls to the registry.
constexpr absl::string_view kActor = "inference";

}  // namespace

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
  core::PrepareCall(ctx, kActor, absl::Now() + timeout_);
  v1::DownloadArtifactRequest request;
  request.set_name(
      absl::StrCat(core::ModelName(model), "/versions/", version));
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

}  // namespace continuum::inference
