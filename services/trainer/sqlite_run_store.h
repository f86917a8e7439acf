// SqliteRunStore: the RunStore (run_store.h) the trainer runs on, one
// SQLite file (`--data_dir/trainer.db`): WAL journal, synchronous = FULL
// (a call that returned OK survives a crash), a `schema_version` table for
// migrations. Objects are stored as their protobuf messages beside the
// columns that queries need. Thread-safe: one connection behind a mutex.
//
// Crash recovery: Open marks every run left QUEUED or RUNNING (the process
// died or was killed while it waited or ran) FAILED with error ABORTED
// "interrupted by a trainer restart (it was RUN_PHASE_...)", phase DONE,
// end time `now`. Nothing else needs recovering: a run's work lives only
// in memory until its upload, which the registry makes atomic.
#ifndef CONTINUUM_SERVICES_TRAINER_SQLITE_RUN_STORE_H_
#define CONTINUUM_SERVICES_TRAINER_SQLITE_RUN_STORE_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/trainer/run_store.h"

struct sqlite3;

namespace continuum::trainer {

class SqliteRunStore : public RunStore {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 1;

  // Opens (creating if needed) the database at `path`, migrates it, and
  // fails the runs a crash interrupted (see above) with end time `now`.
  // INTERNAL for SQLite errors; FAILED_PRECONDITION for a database written
  // by a newer build.
  static absl::StatusOr<std::unique_ptr<SqliteRunStore>> Open(
      const std::string& path, absl::Time now);
  ~SqliteRunStore() override;
  SqliteRunStore(const SqliteRunStore&) = delete;
  SqliteRunStore& operator=(const SqliteRunStore&) = delete;

  // Runs Open marked FAILED.
  int recovered_runs() const { return recovered_runs_; }

  absl::StatusOr<v1::Run> CreateRun(v1::Run run) override;
  absl::Status PutRun(const v1::Run& run) override;
  absl::StatusOr<std::optional<v1::Run>> GetRun(
      const std::string& name) override;
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>> ListRuns(
      const std::string& model, int64_t before, int limit) override;
  absl::StatusOr<std::optional<std::string>> FindTrigger(
      const std::string& model, const std::string& request_id,
      absl::Time not_before) override;
  absl::Status PutTrigger(const std::string& model,
                          const std::string& request_id,
                          const std::string& run_name, absl::Time now) override;
  absl::StatusOr<std::optional<v1::TrainingConfig>> GetConfig(
      const std::string& model) override;
  absl::Status PutConfig(const std::string& model,
                         const v1::TrainingConfig& config) override;
  absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
  ListConfigs() override;
  absl::StatusOr<ScheduleState> GetSchedule(const std::string& model) override;
  absl::Status PutSchedule(const std::string& model,
                           const ScheduleState& state) override;

 private:
  explicit SqliteRunStore(sqlite3* db) : db_(db) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int> RecoverInterrupted(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
  int recovered_runs_ = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_SQLITE_RUN_STORE_H_
