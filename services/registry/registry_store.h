// Where the registry keeps its metadata: models, versions, deployments and
// their revision history, and the audit log. The interface keeps the
// registry's domain code independent of the database, so a PostgreSQL
// backend can follow the embedded SQLite one (sqlite_registry_store.h).
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_STORE_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// The operations available inside one transaction. Objects are stored as
// their protobuf messages; a few fields are also columns for lookups.
class RegistryTx {
 public:
  virtual ~RegistryTx() = default;

  // The model with id `id`, or nullopt.
  virtual absl::StatusOr<std::optional<v1::Model>> GetModel(
      const std::string& id) = 0;
  // Inserts or replaces a model (keyed by the id in its name).
  virtual absl::Status PutModel(const v1::Model& model) = 0;
  // Models with id > `after`, by id, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Model>> ListModels(
      const std::string& after, int limit) = 0;

  // Version `version` of model `model`, or nullopt.
  virtual absl::StatusOr<std::optional<v1::Version>> GetVersion(
      const std::string& model, int64_t version) = 0;
  // The version of `model` whose artifact has this digest, or nullopt.
  virtual absl::StatusOr<std::optional<v1::Version>> FindVersionBySha256(
      const std::string& model, const std::string& sha256) = 0;
  // Inserts or replaces a version of `model`.
  virtual absl::Status PutVersion(const std::string& model,
                                  const v1::Version& version) = 0;
  // Versions of `model` with number < `before` (0 = no bound), newest
  // first, in state `state` (UNSPECIFIED = any), at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Version>> ListVersions(
      const std::string& model, v1::VersionState state, int64_t before,
      int limit) = 0;
  // Deletes version `version` of `model` (retention).
  virtual absl::Status DeleteVersion(const std::string& model,
                                     int64_t version) = 0;
  // How many versions of any model refer to the blob `sha256`.
  virtual absl::StatusOr<int64_t> CountBlobReferences(
      const std::string& sha256) = 0;

  // The current deployment of `model`, or nullopt.
  virtual absl::StatusOr<std::optional<v1::Deployment>> GetDeployment(
      const std::string& model) = 0;
  // Allocates the next registry-wide revision number.
  virtual absl::StatusOr<int64_t> NextRevision() = 0;
  // Makes `deployment` current for its model and appends it to the history.
  virtual absl::Status PutDeployment(const v1::Deployment& deployment) = 0;
  // Deployment revisions > `since`, oldest first, of the models in `models`
  // (empty = all), at most `limit`.
  virtual absl::StatusOr<std::vector<v1::Deployment>> DeploymentsSince(
      int64_t since, const std::vector<std::string>& models, int limit) = 0;
  // The highest revision made so far (0 if none).
  virtual absl::StatusOr<int64_t> LatestRevision() = 0;

  // The rollout of `model` (the latest, finished or not), or nullopt.
  virtual absl::StatusOr<std::optional<v1::Rollout>> GetRollout(
      const std::string& model) = 0;
  // Replaces the rollout of its model.
  virtual absl::Status PutRollout(const v1::Rollout& rollout) = 0;

  // The last audit entry, or nullopt.
  virtual absl::StatusOr<std::optional<v1::AuditEntry>> LastAuditEntry() = 0;
  // Appends an entry (its sequence must follow the last one's).
  virtual absl::Status AppendAuditEntry(const v1::AuditEntry& entry) = 0;
  // Entries with sequence > `after`, oldest first, at most `limit`.
  virtual absl::StatusOr<std::vector<v1::AuditEntry>> AuditEntriesAfter(
      int64_t after, int limit) = 0;
};

class RegistryStore {
 public:
  virtual ~RegistryStore() = default;

  // Runs `fn` in one transaction: everything it wrote commits together when
  // it returns OK, and nothing does otherwise (or after a crash). Calls are
  // serialized.
  virtual absl::Status Transact(
      const std::function<absl::Status(RegistryTx&)>& fn) = 0;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_STORE_H_
