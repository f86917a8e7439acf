#include "services/trainer/sqlite_run_store.h"

#include <sqlite3.h>

#include <iterator>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/store/sqlite.h"
#include "services/trainer/run_records.h"

namespace continuum::trainer {
namespace {

constexpr absl::string_view kContext = "trainer database";

// A prepared statement (lib/store/sqlite.h) with this store's context.
class Statement : public store::SqliteStatement {
 public:
  Statement(sqlite3* db, const char* sql)
      : store::SqliteStatement(db, sql, kContext) {}
};

template <typename Message>
absl::StatusOr<Message> Parse(const std::string& bytes,
                              absl::string_view what) {
  return store::ParseStored<Message>(bytes, kContext, what);
}

// Runs `fn` in one IMMEDIATE transaction (lib/store/sqlite.h).
absl::Status Transact(sqlite3* db, absl::FunctionRef<absl::Status()> fn) {
  return store::SqliteTransaction(db, kContext, fn);
}

// Version 1 of the schema.
constexpr const char* kSchemaV1[] = {
    // seq orders runs across models (newest first in listings); (model,
    // run) is the run's name.
    "CREATE TABLE runs (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
    "name TEXT NOT NULL UNIQUE, model TEXT NOT NULL, run INTEGER NOT NULL, "
    "state INTEGER NOT NULL, proto BLOB NOT NULL, UNIQUE (model, run))",
    "CREATE INDEX runs_by_state ON runs (state)",
    "CREATE TABLE triggers (model TEXT NOT NULL, request_id TEXT NOT NULL, "
    "run TEXT NOT NULL, create_us INTEGER NOT NULL, "
    "PRIMARY KEY (model, request_id))",
    "CREATE TABLE configs (model TEXT PRIMARY KEY, proto BLOB NOT NULL)",
    "CREATE TABLE schedules (model TEXT PRIMARY KEY, "
    "last_slot_us INTEGER NOT NULL, proto BLOB NOT NULL)",
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteRunStore>> SqliteRunStore::Open(
    const std::string& path, absl::Time now) {
  absl::StatusOr<sqlite3*> db = store::SqliteOpen(path, kContext);
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteRunStore> store(new SqliteRunStore(*db));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  absl::StatusOr<int> recovered = store->RecoverInterrupted(now);
  if (!recovered.ok()) return recovered.status();
  store->recovered_runs_ = *recovered;
  return store;
}

SqliteRunStore::~SqliteRunStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status SqliteRunStore::Migrate() {
  static constexpr absl::Span<const char* const> kVersions[] = {kSchemaV1};
  static_assert(std::size(kVersions) == kSchemaVersion);
  return store::SqliteMigrate(db_, kVersions, kContext, "trainer");
}

absl::StatusOr<int> SqliteRunStore::RecoverInterrupted(absl::Time now) {
  int recovered = 0;
  absl::Status status = Transact(db_, [&]() -> absl::Status {
    std::vector<v1::Run> runs;
    {
      Statement s(db_, "SELECT proto FROM runs WHERE state IN (?, ?, ?)");
      s.Bind(1, static_cast<int64_t>(v1::RUN_STATE_QUEUED))
          .Bind(2, static_cast<int64_t>(v1::RUN_STATE_RUNNING))
          .Bind(3, static_cast<int64_t>(v1::RUN_STATE_UNSPECIFIED));
      while (true) {
        absl::StatusOr<bool> row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row) break;
        absl::StatusOr<v1::Run> run = Parse<v1::Run>(s.Blob(0), "run");
        if (!run.ok()) return run.status();
        runs.push_back(*std::move(run));
      }
    }
    for (v1::Run& run : runs) {
      run.set_state(v1::RUN_STATE_FAILED);
      run.mutable_error()->set_code(
          static_cast<int>(absl::StatusCode::kAborted));
      run.mutable_error()->set_message(
          absl::StrCat(kInterruptedReason, " (it was ",
                       v1::RunPhase_Name(run.progress().phase()), ")"));
      run.mutable_progress()->set_phase(v1::RUN_PHASE_DONE);
      run.mutable_progress()->set_message(kInterruptedReason);
      *run.mutable_end_time() = core::ToProto(now);
      Statement u(db_, "UPDATE runs SET state = ?, proto = ? WHERE name = ?");
      u.Bind(1, static_cast<int64_t>(run.state()))
          .BindBlob(2, run.SerializeAsString())
          .Bind(3, run.name());
      if (absl::Status s = u.Run(); !s.ok()) return s;
      ++recovered;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return recovered;
}

absl::StatusOr<v1::Run> SqliteRunStore::CreateRun(v1::Run run) {
  absl::MutexLock lock(&mu_);
  absl::Status status = Transact(db_, [&]() -> absl::Status {
    int64_t number = 1;
    {
      Statement s(db_,
                  "SELECT COALESCE(MAX(run), 0) + 1 FROM runs WHERE model = ?");
      s.Bind(1, run.model());
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (*row) number = s.Int(0);
    }
    run.set_name(RunName(run.model(), number));
    Statement s(db_,
                "INSERT INTO runs (name, model, run, state, proto) "
                "VALUES (?, ?, ?, ?, ?)");
    s.Bind(1, run.name())
        .Bind(2, run.model())
        .Bind(3, number)
        .Bind(4, static_cast<int64_t>(run.state()))
        .BindBlob(5, run.SerializeAsString());
    return s.Run();
  });
  if (!status.ok()) return status;
  return run;
}

absl::Status SqliteRunStore::PutRun(const v1::Run& run) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "UPDATE runs SET state = ?, proto = ? WHERE name = ?");
  s.Bind(1, static_cast<int64_t>(run.state()))
      .BindBlob(2, run.SerializeAsString())
      .Bind(3, run.name());
  if (absl::Status st = s.Run(); !st.ok()) return st;
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(absl::StrCat("run ", run.name(), " not found"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Run>> SqliteRunStore::GetRun(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT proto FROM runs WHERE name = ?");
  s.Bind(1, name);
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  absl::StatusOr<v1::Run> run = Parse<v1::Run>(s.Blob(0), "run");
  if (!run.ok()) return run.status();
  return *std::move(run);
}

absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>>
SqliteRunStore::ListRuns(const std::string& model, int64_t before, int limit) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "SELECT seq, proto FROM runs WHERE (? = '' OR model = ?) AND "
              "(? = 0 OR seq < ?) ORDER BY seq DESC LIMIT ?");
  s.Bind(1, model).Bind(2, model).Bind(3, before).Bind(4, before).Bind(
      5, static_cast<int64_t>(limit));
  std::vector<std::pair<int64_t, v1::Run>> out;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::Run> run = Parse<v1::Run>(s.Blob(1), "run");
    if (!run.ok()) return run.status();
    out.emplace_back(s.Int(0), *std::move(run));
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> SqliteRunStore::FindTrigger(
    const std::string& model, const std::string& request_id,
    absl::Time not_before) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "SELECT run FROM triggers WHERE model = ? AND request_id = ? "
              "AND create_us >= ?");
  s.Bind(1, model).Bind(2, request_id).Bind(3, absl::ToUnixMicros(not_before));
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  return s.Text(0);
}

absl::Status SqliteRunStore::PutTrigger(const std::string& model,
                                        const std::string& request_id,
                                        const std::string& run_name,
                                        absl::Time now) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT OR REPLACE INTO triggers (model, request_id, run, "
              "create_us) VALUES (?, ?, ?, ?)");
  s.Bind(1, model)
      .Bind(2, request_id)
      .Bind(3, run_name)
      .Bind(4, absl::ToUnixMicros(now));
  return s.Run();
}

absl::StatusOr<std::optional<v1::TrainingConfig>> SqliteRunStore::GetConfig(
    const std::string& model) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT proto FROM configs WHERE model = ?");
  s.Bind(1, model);
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::nullopt;
  absl::StatusOr<v1::TrainingConfig> config =
      Parse<v1::TrainingConfig>(s.Blob(0), "training configuration");
  if (!config.ok()) return config.status();
  return *std::move(config);
}

absl::Status SqliteRunStore::PutConfig(const std::string& model,
                                       const v1::TrainingConfig& config) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT OR REPLACE INTO configs (model, proto) VALUES (?, ?)");
  s.Bind(1, model).BindBlob(2, config.SerializeAsString());
  return s.Run();
}

absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
SqliteRunStore::ListConfigs() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT model, proto FROM configs ORDER BY model");
  std::vector<std::pair<std::string, v1::TrainingConfig>> out;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::TrainingConfig> config =
        Parse<v1::TrainingConfig>(s.Blob(1), "training configuration");
    if (!config.ok()) return config.status();
    out.emplace_back(s.Text(0), *std::move(config));
  }
  return out;
}

absl::StatusOr<ScheduleState> SqliteRunStore::GetSchedule(
    const std::string& model) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT last_slot_us, proto FROM schedules WHERE model = ?");
  s.Bind(1, model);
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  ScheduleState state;
  if (!*row) return state;
  const int64_t slot = s.Int(0);
  state.last_slot =
      slot == INT64_MIN ? absl::InfinitePast() : absl::FromUnixMicros(slot);
  absl::StatusOr<v1::ScheduleStatus> status =
      Parse<v1::ScheduleStatus>(s.Blob(1), "schedule");
  if (!status.ok()) return status.status();
  state.status = *std::move(status);
  return state;
}

absl::Status SqliteRunStore::PutSchedule(const std::string& model,
                                         const ScheduleState& state) {
  v1::ScheduleStatus status = state.status;
  status.clear_next_run_time();
  status.clear_active_run();
  status.clear_queued_run();
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT OR REPLACE INTO schedules (model, last_slot_us, proto) "
              "VALUES (?, ?, ?)");
  s.Bind(1, model)
      .Bind(2, state.last_slot == absl::InfinitePast()
                   ? INT64_MIN
                   : absl::ToUnixMicros(state.last_slot))
      .BindBlob(3, status.SerializeAsString());
  return s.Run();
}

}  // namespace continuum::trainer
