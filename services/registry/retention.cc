#include "services/registry/retention.h"

#include "absl/strings/str_cat.h"
#include "lib/core/resource_names.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

bool Retired(S state) {
  return state == S::VERSION_STATE_ARCHIVED ||
         state == S::VERSION_STATE_REJECTED ||
         state == S::VERSION_STATE_ROLLED_BACK;
}

int KeepOf(const v1::Model& model) {
  return model.retention().keep_last_archived() > 0
             ? model.retention().keep_last_archived()
             : kDefaultKeepLastArchived;
}

// Deletes `version` of `model` (audited); adds its blob to `orphans` when no
// version refers to it any more.
absl::Status DeleteVersion(RegistryWriter& w, const std::string& model,
                           const v1::Version& version, int keep,
                           std::vector<std::string>* orphans) {
  if (absl::Status s = w.tx().DeleteVersion(model, version.version());
      !s.ok()) {
    return s;
  }
  v1::Version brief;
  brief.set_name(version.name());
  brief.set_state(version.state());
  brief.set_sha256(version.sha256());
  if (absl::Status s =
          w.Audit("version.delete", version.name(), &brief, nullptr,
                  absl::StrCat("retention: keep the last ", keep));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<int64_t> refs = w.tx().CountBlobReferences(version.sha256());
  if (!refs.ok()) return refs.status();
  if (*refs == 0) orphans->push_back(version.sha256());
  return absl::OkStatus();
}

}  // namespace

std::vector<v1::Version> RetiredVersionsToDelete(
    const v1::Model& model, const std::vector<v1::Version>& versions) {
  const int keep = KeepOf(model);
  int kept = 0;
  std::vector<v1::Version> doomed;
  for (const v1::Version& v : versions) {
    // Aliased versions count towards the keep.
    if (!Retired(v.state()) || ++kept <= keep) continue;
    bool aliased = false;
    for (const auto& [alias, target] : model.aliases()) {
      aliased |= target == v.version();
    }
    if (aliased) continue;  // A user alias keeps a version.
    doomed.push_back(v);
  }
  return doomed;
}

absl::StatusOr<std::vector<std::string>> DeleteRetiredVersions(
    RegistryWriter& w) {
  std::vector<std::string> orphans;
  std::string cursor;
  while (true) {
    absl::StatusOr<std::vector<v1::Model>> models =
        w.tx().ListModels(cursor, 256);
    if (!models.ok()) return models.status();
    if (models->empty()) break;
    for (const v1::Model& model : *models) {
      cursor = std::string(core::ModelIdOf(model.name()));
      absl::StatusOr<std::vector<v1::Version>> versions =
          w.tx().ListVersions(cursor, S::VERSION_STATE_UNSPECIFIED, 0, 1 << 20);
      if (!versions.ok()) return versions.status();
      for (const v1::Version& v : RetiredVersionsToDelete(model, *versions)) {
        if (absl::Status s =
                DeleteVersion(w, cursor, v, KeepOf(model), &orphans);
            !s.ok()) {
          return s;
        }
      }
    }
  }
  return orphans;
}

}  // namespace continuum::registry
