// SqliteDriftStore: the DriftStore of the drift service, in one SQLite
// file (`--data_dir/drift.db`): WAL journal, synchronous = FULL, a
// `schema_version` table for migrations, each object as its protobuf
// message beside the columns that queries need (lib/store/sqlite.h).
// Writes are durable when they return. Errors: INTERNAL for SQLite's,
// DATA_LOSS for a stored message that does not parse, FAILED_PRECONDITION
// for a database written by a newer build. Thread-safe (one connection
// behind a mutex).
#ifndef CONTINUUM_SERVICES_DRIFT_SQLITE_DRIFT_STORE_H_
#define CONTINUUM_SERVICES_DRIFT_SQLITE_DRIFT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/drift/drift_store.h"

struct sqlite3;

namespace continuum::drift_service {

class SqliteDriftStore : public DriftStore {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 1;

  // Opens (creating if needed) the database at `path` and migrates it.
  // `max_alerts` < 1 counts as 1. INTERNAL for SQLite errors;
  // FAILED_PRECONDITION for a database written by a newer build.
  static absl::StatusOr<std::unique_ptr<SqliteDriftStore>> Open(
      const std::string& path, int64_t max_alerts);
  ~SqliteDriftStore() override;
  SqliteDriftStore(const SqliteDriftStore&) = delete;
  SqliteDriftStore& operator=(const SqliteDriftStore&) = delete;

  absl::StatusOr<DriftState> Load() override;
  absl::Status PutMonitor(const std::string& model,
                          const v1::Monitor& monitor) override;
  absl::Status PutAlert(const v1::Alert& alert) override;
  absl::Status PutLastAction(const std::string& model,
                             absl::Time time) override;

 private:
  SqliteDriftStore(sqlite3* db, int64_t max_alerts)
      : max_alerts_(max_alerts), db_(db) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t max_alerts_;
  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_SQLITE_DRIFT_STORE_H_
