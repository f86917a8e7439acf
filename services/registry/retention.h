// Retention of retired versions (registry.proto, RetentionPolicy): per
// model, the ARCHIVED, REJECTED and ROLLED_BACK versions beyond the newest
// keep_last_archived (0 = kDefaultKeepLastArchived) are deleted, audited
// ("version.delete"), except those a user alias names. A blob goes once no
// version of any model refers to it; the Registry deletes it after the
// metadata has committed (a crash in between leaves an unreferenced blob,
// never a version without its blob).
//
// RetiredVersionsToDelete is pure; DeleteRetiredVersions runs in the
// caller's store transaction (not thread-safe on its own).
#ifndef CONTINUUM_SERVICES_REGISTRY_RETENTION_H_
#define CONTINUUM_SERVICES_REGISTRY_RETENTION_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry_writer.h"

namespace continuum::registry {

inline constexpr int kDefaultKeepLastArchived = 10;

// The versions of `model` that retention deletes, from `versions` (all of
// the model's, newest first), in that order.
std::vector<v1::Version> RetiredVersionsToDelete(
    const v1::Model& model, const std::vector<v1::Version>& versions);

// Deletes the retired versions of every model beyond their keep. Returns the
// SHA-256 of each blob that no version refers to any more.
absl::StatusOr<std::vector<std::string>> DeleteRetiredVersions(
    RegistryWriter& w);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_RETENTION_H_
