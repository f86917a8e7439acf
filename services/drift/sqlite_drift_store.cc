#include "services/drift/sqlite_drift_store.h"

#include <sqlite3.h>

#include <iterator>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "lib/store/sqlite.h"

namespace continuum::drift_service {

namespace {

constexpr absl::string_view kContext = "drift database";

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
    "CREATE TABLE monitors (model TEXT PRIMARY KEY, proto BLOB NOT NULL)",
    // sequence: the alert's number (its name ends in it); dense and
    // increasing, so the newest `max_alerts` are those within `max_alerts`
    // of the highest.
    "CREATE TABLE alerts (sequence INTEGER PRIMARY KEY, "
    "model TEXT NOT NULL, proto BLOB NOT NULL)",
    "CREATE TABLE last_actions (model TEXT PRIMARY KEY, "
    "time_us INTEGER NOT NULL)",
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteDriftStore>> SqliteDriftStore::Open(
    const std::string& path, int64_t max_alerts) {
  absl::StatusOr<sqlite3*> db = store::SqliteOpen(path, kContext);
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteDriftStore> store(
      new SqliteDriftStore(*db, max_alerts < 1 ? 1 : max_alerts));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  return store;
}

SqliteDriftStore::~SqliteDriftStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status SqliteDriftStore::Migrate() {
  static constexpr absl::Span<const char* const> kVersions[] = {kSchemaV1};
  static_assert(std::size(kVersions) == kSchemaVersion);
  return store::SqliteMigrate(db_, kVersions, kContext, "drift");
}

absl::StatusOr<DriftState> SqliteDriftStore::Load() {
  absl::MutexLock lock(&mu_);
  DriftState state;
  {
    Statement s(db_, "SELECT model, proto FROM monitors ORDER BY model");
    while (true) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<v1::Monitor> monitor =
          Parse<v1::Monitor>(s.Blob(1), "monitor");
      if (!monitor.ok()) return monitor.status();
      state.monitors[s.Text(0)] = *std::move(monitor);
    }
  }
  {
    Statement s(db_, "SELECT proto FROM alerts ORDER BY sequence");
    while (true) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      absl::StatusOr<v1::Alert> alert = Parse<v1::Alert>(s.Blob(0), "alert");
      if (!alert.ok()) return alert.status();
      state.alerts.push_back(*std::move(alert));
    }
  }
  {
    Statement s(db_, "SELECT model, time_us FROM last_actions");
    while (true) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      state.last_actions[s.Text(0)] = absl::FromUnixMicros(s.Int(1));
    }
  }
  return state;
}

absl::Status SqliteDriftStore::PutMonitor(const std::string& model,
                                          const v1::Monitor& monitor) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT OR REPLACE INTO monitors (model, proto) "
              "VALUES (?, ?)");
  s.Bind(1, model).BindBlob(2, monitor.SerializeAsString());
  return s.Run();
}

absl::Status SqliteDriftStore::PutAlert(const v1::Alert& alert) {
  absl::MutexLock lock(&mu_);
  return Transact(db_, [&]() -> absl::Status {
    {
      Statement s(db_,
                  "INSERT OR REPLACE INTO alerts (sequence, model, proto) "
                  "VALUES (?, ?, ?)");
      s.Bind(1, alert.sequence())
          .Bind(2, alert.model())
          .BindBlob(3, alert.SerializeAsString());
      if (absl::Status st = s.Run(); !st.ok()) return st;
    }
    // An action result recorded for an alert already dropped is dropped
    // again here.
    Statement s(db_,
                "DELETE FROM alerts WHERE sequence <= "
                "(SELECT MAX(sequence) FROM alerts) - ?");
    s.Bind(1, max_alerts_);
    return s.Run();
  });
}

absl::Status SqliteDriftStore::PutLastAction(const std::string& model,
                                             absl::Time time) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT OR REPLACE INTO last_actions (model, time_us) "
              "VALUES (?, ?)");
  s.Bind(1, model).Bind(2, static_cast<int64_t>(absl::ToUnixMicros(time)));
  return s.Run();
}

}  // namespace continuum::drift_service
