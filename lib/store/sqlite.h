// Small RAII helpers over the SQLite C API, shared by the stores that keep
// their metadata in SQLite (the registry's, the trainer's, the drift
// service's). Errors are
// absl::Status whose messages start with the caller's `context`, e.g.
// "registry database: ...".
#ifndef CONTINUUM_LIB_STORE_SQLITE_H_
#define CONTINUUM_LIB_STORE_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace continuum::store {

// INTERNAL "<context>: <what>: <sqlite's last error>".
absl::Status SqliteError(sqlite3* db, absl::string_view context,
                         absl::string_view what);

// Runs `sql` (no results). INTERNAL naming the statement on failure.
absl::Status SqliteExec(sqlite3* db, const char* sql,
                        absl::string_view context);

// Opens (creating it if missing) the database file `path` with WAL, full
// synchronous commits, a 5 s busy timeout and, if asked, foreign keys.
// INTERNAL "cannot open <context> <path>: ..." or the failed pragma's
// error; on error nothing stays open. The caller closes the handle.
absl::StatusOr<sqlite3*> SqliteOpen(const std::string& path,
                                    absl::string_view context,
                                    bool foreign_keys = false);

// Runs `fn` in one IMMEDIATE transaction: COMMIT when it returns OK, else
// ROLLBACK and its error (also ROLLBACK when COMMIT fails).
absl::Status SqliteTransaction(sqlite3* db, absl::string_view context,
                               absl::FunctionRef<absl::Status()> fn);

// Brings a store's schema to version `versions.size()`, where versions[i]
// holds the statements that take it from version i to i + 1: checks the
// recorded version (SqliteSchemaVersion), then runs the statements of every
// version above it and records the new version, in one transaction.
absl::Status SqliteMigrate(
    sqlite3* db, absl::Span<const absl::Span<const char* const>> versions,
    absl::string_view context, absl::string_view component);

// The schema version of a store kept in table `schema_version` (created if
// missing): the highest version recorded, 0 for a new database.
// FAILED_PRECONDITION "<context> has schema version N; this build
// understands up to M: upgrade <component>" when the database is newer than
// `supported`.
absl::StatusOr<int64_t> SqliteSchemaVersion(sqlite3* db, int64_t supported,
                                            absl::string_view context,
                                            absl::string_view component);

// A prepared statement with typed binds and column reads. A statement that
// failed to prepare answers every Step with that error.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, const char* sql, absl::string_view context);
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& Bind(int i, const std::string& text);
  SqliteStatement& Bind(int i, int64_t value);
  SqliteStatement& BindBlob(int i, const std::string& bytes);

  // Steps once: true if a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Steps once, for statements without rows.
  absl::Status Run();

  int64_t Int(int column);
  std::string Text(int column);
  std::string Blob(int column);

 private:
  sqlite3* const db_;
  const std::string context_;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status status_;
};

// Parses a proto stored in a column; DATA_LOSS "<context>: a stored <what>
// is corrupt" if it does not parse.
template <typename Message>
absl::StatusOr<Message> ParseStored(const std::string& bytes,
                                    absl::string_view context,
                                    absl::string_view what) {
  Message message;
  if (!message.ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrCat(context, ": a stored ", what, " is corrupt"));
  }
  return message;
}

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SQLITE_H_
