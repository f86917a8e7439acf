// The embedded metadata store of the registry: one SQLite file in WAL mode
// with foreign keys on and synchronous=FULL, so a committed transaction
// survives a crash; a schema_version table drives migrations.
#ifndef CONTINUUM_SERVICES_REGISTRY_SQLITE_REGISTRY_STORE_H_
#define CONTINUUM_SERVICES_REGISTRY_SQLITE_REGISTRY_STORE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/registry/registry_store.h"

struct sqlite3;

namespace continuum::registry {

class SqliteRegistryStore : public RegistryStore {
 public:
  // The schema version this code writes; older files are migrated forward.
  static constexpr int kSchemaVersion = 1;

  // Opens or creates the database at `path` and migrates it. INTERNAL if
  // SQLite fails, FAILED_PRECONDITION if the file is from a newer version.
  static absl::StatusOr<std::unique_ptr<SqliteRegistryStore>> Open(
      const std::string& path);

  ~SqliteRegistryStore() override;

  absl::Status Transact(
      const std::function<absl::Status(RegistryTx&)>& fn) override;

 private:
  explicit SqliteRegistryStore(sqlite3* db) : db_(db) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_SQLITE_REGISTRY_STORE_H_
