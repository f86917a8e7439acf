#include "services/inference/deployment_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/logging.h"

namespace continuum::inference {
namespace {

constexpr absl::string_view kSuffix = ".deployment.pb";

}  // namespace

DeploymentCache::DeploymentCache(std::string dir, store::FileSystem* fs)
    : dir_(std::move(dir)), fs_(fs) {}

absl::Status DeploymentCache::Save(const v1::Deployment& deployment) {
  if (absl::Status s = fs_->CreateDirs(dir_); !s.ok()) return s;
  std::string bytes;
  if (!deployment.SerializeToString(&bytes)) {
    return absl::InternalError("serializing a deployment");
  }
  return fs_->WriteFileAtomically(
      absl::StrCat(dir_, "/", deployment.model(), kSuffix), bytes);
}

std::vector<v1::Deployment> DeploymentCache::LoadAll() const {
  std::vector<v1::Deployment> out;
  absl::StatusOr<std::vector<std::string>> names = fs_->GetChildren(dir_);
  if (!names.ok()) return out;
  std::sort(names->begin(), names->end());
  for (const std::string& name : *names) {
    if (!absl::EndsWith(name, kSuffix)) continue;
    const std::string path = absl::StrCat(dir_, "/", name);
    absl::StatusOr<std::string> bytes = fs_->ReadFileToString(path);
    v1::Deployment d;
    if (!bytes.ok() || !d.ParseFromString(*bytes) || d.model().empty()) {
      spdlog::warn("skipping unreadable cached deployment {}", path);
      continue;
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace continuum::inference
