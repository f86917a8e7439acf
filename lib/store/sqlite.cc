#include "lib/store/sqlite.h"

namespace continuum::store {

absl::Status SqliteError(sqlite3* db, absl::string_view context,
                         absl::string_view what) {
  return absl::InternalError(
      absl::StrCat(context, ": ", what, ": ", sqlite3_errmsg(db)));
}

absl::Status SqliteExec(sqlite3* db, const char* sql,
                        absl::string_view context) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(
        absl::StrCat(context, ": ", message, " in: ", sql));
  }
  return absl::OkStatus();
}

absl::StatusOr<sqlite3*> SqliteOpen(const std::string& path,
                                    absl::string_view context,
                                    bool foreign_keys) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
      nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::InternalError(
        absl::StrCat("cannot open ", context, " ", path, ": ", message));
  }
  for (const char* pragma :
       {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL",
        "PRAGMA busy_timeout = 5000"}) {
    if (absl::Status s = SqliteExec(db, pragma, context); !s.ok()) {
      sqlite3_close(db);
      return s;
    }
  }
  if (foreign_keys) {
    if (absl::Status s = SqliteExec(db, "PRAGMA foreign_keys = ON", context);
        !s.ok()) {
      sqlite3_close(db);
      return s;
    }
  }
  return db;
}

absl::Status SqliteTransaction(sqlite3* db, absl::string_view context,
                               absl::FunctionRef<absl::Status()> fn) {
  if (absl::Status s = SqliteExec(db, "BEGIN IMMEDIATE", context); !s.ok()) {
    return s;
  }
  absl::Status status = fn();
  if (!status.ok()) {
    (void)SqliteExec(db, "ROLLBACK", context);
    return status;
  }
  if (absl::Status s = SqliteExec(db, "COMMIT", context); !s.ok()) {
    (void)SqliteExec(db, "ROLLBACK", context);
    return s;
  }
  return absl::OkStatus();
}

absl::Status SqliteMigrate(
    sqlite3* db, absl::Span<const absl::Span<const char* const>> versions,
    absl::string_view context, absl::string_view component) {
  const int64_t target = static_cast<int64_t>(versions.size());
  absl::StatusOr<int64_t> current =
      SqliteSchemaVersion(db, target, context, component);
  if (!current.ok()) return current.status();
  if (*current == target) return absl::OkStatus();
  return SqliteTransaction(db, context, [&]() -> absl::Status {
    for (int64_t v = *current; v < target; ++v) {
      for (const char* sql : versions[v]) {
        if (absl::Status s = SqliteExec(db, sql, context); !s.ok()) return s;
      }
    }
    SqliteStatement s(db, "INSERT INTO schema_version (version) VALUES (?)",
                      context);
    s.Bind(1, target);
    return s.Run();
  });
}

absl::StatusOr<int64_t> SqliteSchemaVersion(sqlite3* db, int64_t supported,
                                            absl::string_view context,
                                            absl::string_view component) {
  if (absl::Status s = SqliteExec(db,
                                  "CREATE TABLE IF NOT EXISTS schema_version "
                                  "(version INTEGER NOT NULL)",
                                  context);
      !s.ok()) {
    return s;
  }
  SqliteStatement s(db, "SELECT MAX(version) FROM schema_version", context);
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  const int64_t current = *row ? s.Int(0) : 0;
  if (current > supported) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the ", context, " has schema version ", current,
        "; this build understands up to ", supported, ": upgrade the ",
        component));
  }
  return current;
}

SqliteStatement::SqliteStatement(sqlite3* db, const char* sql,
                                 absl::string_view context)
    : db_(db), context_(context) {
  if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
    status_ = SqliteError(db, context_, sql);
    stmt_ = nullptr;
  }
}

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement& SqliteStatement::Bind(int i, const std::string& text) {
  if (stmt_) {
    sqlite3_bind_text(stmt_, i, text.data(), static_cast<int>(text.size()),
                      SQLITE_TRANSIENT);
  }
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int i, int64_t value) {
  if (stmt_) sqlite3_bind_int64(stmt_, i, value);
  return *this;
}

SqliteStatement& SqliteStatement::BindBlob(int i, const std::string& bytes) {
  if (stmt_) {
    sqlite3_bind_blob(stmt_, i, bytes.data(), static_cast<int>(bytes.size()),
                      SQLITE_TRANSIENT);
  }
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  if (!status_.ok()) return status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return SqliteError(db_, context_, sqlite3_sql(stmt_));
}

absl::Status SqliteStatement::Run() {
  absl::StatusOr<bool> row = Step();
  return row.ok() ? absl::OkStatus() : row.status();
}

int64_t SqliteStatement::Int(int column) {
  return sqlite3_column_int64(stmt_, column);
}

std::string SqliteStatement::Text(int column) {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(reinterpret_cast<const char*>(text), size) : "";
}

std::string SqliteStatement::Blob(int column) {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string(static_cast<const char*>(data), size) : "";
}

}  // namespace continuum::store
