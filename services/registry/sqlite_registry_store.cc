#include "services/registry/sqlite_registry_store.h"

#include <sqlite3.h>

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/store/sqlite.h"
#include "absl/strings/str_join.h"

namespace continuum::registry {
namespace {

constexpr absl::string_view kContext = "registry database";

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

// Collects the rows of a one-column proto query.
template <typename Message>
absl::StatusOr<std::vector<Message>> Rows(Statement& statement,
                                          absl::string_view what) {
  std::vector<Message> out;
  while (true) {
    absl::StatusOr<bool> row = statement.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<Message> m = Parse<Message>(statement.Blob(0), what);
    if (!m.ok()) return m.status();
    out.push_back(*std::move(m));
  }
  return out;
}

template <typename Message>
absl::StatusOr<std::optional<Message>> OneRow(Statement& statement,
                                              absl::string_view what) {
  absl::StatusOr<std::vector<Message>> rows = Rows<Message>(statement, what);
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return std::move(rows->front());
}

std::string IdOf(const std::string& name, absl::string_view prefix) {
  return name.substr(prefix.size());
}

class SqliteTx : public RegistryTx {
 public:
  explicit SqliteTx(sqlite3* db) : db_(db) {}

  absl::StatusOr<std::optional<v1::Model>> GetModel(
      const std::string& id) override {
    Statement s(db_, "SELECT proto FROM models WHERE id = ?");
    s.Bind(1, id);
    return OneRow<v1::Model>(s, "model");
  }
  absl::Status PutModel(const v1::Model& model) override {
    Statement s(db_, "INSERT OR REPLACE INTO models (id, proto) VALUES (?, ?)");
    s.Bind(1, IdOf(model.name(), "models/"))
        .BindBlob(2, model.SerializeAsString());
    return s.Run();
  }
  absl::StatusOr<std::vector<v1::Model>> ListModels(const std::string& after,
                                                    int limit) override {
    Statement s(db_,
                "SELECT proto FROM models WHERE id > ? ORDER BY id LIMIT ?");
    s.Bind(1, after).Bind(2, static_cast<int64_t>(limit));
    return Rows<v1::Model>(s, "model");
  }

  absl::StatusOr<std::optional<v1::Version>> GetVersion(
      const std::string& model, int64_t version) override {
    Statement s(db_,
                "SELECT proto FROM versions WHERE model = ? AND version = ?");
    s.Bind(1, model).Bind(2, version);
    return OneRow<v1::Version>(s, "version");
  }
  absl::StatusOr<std::optional<v1::Version>> FindVersionBySha256(
      const std::string& model, const std::string& sha256) override {
    Statement s(db_,
                "SELECT proto FROM versions WHERE model = ? AND sha256 = ? "
                "ORDER BY version LIMIT 1");
    s.Bind(1, model).Bind(2, sha256);
    return OneRow<v1::Version>(s, "version");
  }
  absl::Status PutVersion(const std::string& model,
                          const v1::Version& version) override {
    Statement s(
        db_,
        "INSERT OR REPLACE INTO versions (model, version, state, sha256, "
        "proto) VALUES (?, ?, ?, ?, ?)");
    s.Bind(1, model)
        .Bind(2, version.version())
        .Bind(3, static_cast<int64_t>(version.state()))
        .Bind(4, version.sha256())
        .BindBlob(5, version.SerializeAsString());
    return s.Run();
  }
  absl::StatusOr<std::vector<v1::Version>> ListVersions(
      const std::string& model, v1::VersionState state, int64_t before,
      int limit) override {
    Statement s(db_,
                "SELECT proto FROM versions WHERE model = ? AND (? = 0 OR "
                "version < ?) AND (? = 0 OR state = ?) ORDER BY version DESC "
                "LIMIT ?");
    s.Bind(1, model)
        .Bind(2, before)
        .Bind(3, before)
        .Bind(4, static_cast<int64_t>(state))
        .Bind(5, static_cast<int64_t>(state))
        .Bind(6, static_cast<int64_t>(limit));
    return Rows<v1::Version>(s, "version");
  }
  absl::Status DeleteVersion(const std::string& model,
                             int64_t version) override {
    Statement s(db_, "DELETE FROM versions WHERE model = ? AND version = ?");
    s.Bind(1, model).Bind(2, version);
    return s.Run();
  }
  absl::StatusOr<int64_t> CountBlobReferences(
      const std::string& sha256) override {
    Statement s(db_, "SELECT COUNT(*) FROM versions WHERE sha256 = ?");
    s.Bind(1, sha256);
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    return s.Int(0);
  }

  absl::StatusOr<std::optional<v1::Deployment>> GetDeployment(
      const std::string& model) override {
    Statement s(db_, "SELECT proto FROM deployments WHERE model = ?");
    s.Bind(1, model);
    return OneRow<v1::Deployment>(s, "deployment");
  }
  absl::StatusOr<int64_t> NextRevision() override {
    if (absl::Status st = Statement(db_,
                                    "UPDATE counters SET value = value + 1 "
                                    "WHERE name = 'revision'")
                              .Run();
        !st.ok()) {
      return st;
    }
    return LatestRevision();
  }
  absl::StatusOr<int64_t> LatestRevision() override {
    Statement s(db_, "SELECT value FROM counters WHERE name = 'revision'");
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    return *row ? s.Int(0) : 0;
  }
  absl::Status PutDeployment(const v1::Deployment& deployment) override {
    const std::string bytes = deployment.SerializeAsString();
    Statement current(
        db_,
        "INSERT OR REPLACE INTO deployments (model, revision, proto) "
        "VALUES (?, ?, ?)");
    current.Bind(1, deployment.model())
        .Bind(2, deployment.revision())
        .BindBlob(3, bytes);
    if (absl::Status s = current.Run(); !s.ok()) return s;
    Statement history(db_,
                      "INSERT INTO deployment_history (revision, model, proto) "
                      "VALUES (?, ?, ?)");
    history.Bind(1, deployment.revision())
        .Bind(2, deployment.model())
        .BindBlob(3, bytes);
    return history.Run();
  }
  absl::StatusOr<std::vector<v1::Deployment>> DeploymentsSince(
      int64_t since, const std::vector<std::string>& models,
      int limit) override {
    // The model filter is applied here rather than in SQL: watchers name few
    // models and revisions are read in pages.
    std::vector<v1::Deployment> out;
    int64_t cursor = since;
    while (static_cast<int>(out.size()) < limit) {
      Statement s(db_,
                  "SELECT proto FROM deployment_history WHERE revision > ? "
                  "ORDER BY revision LIMIT 256");
      s.Bind(1, cursor);
      absl::StatusOr<std::vector<v1::Deployment>> page =
          Rows<v1::Deployment>(s, "deployment");
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      for (v1::Deployment& d : *page) {
        cursor = d.revision();
        bool wanted = models.empty();
        for (const std::string& m : models) wanted |= m == d.model();
        if (wanted && static_cast<int>(out.size()) < limit)
          out.push_back(std::move(d));
      }
    }
    return out;
  }

  absl::StatusOr<std::optional<v1::Rollout>> GetRollout(
      const std::string& model) override {
    Statement s(db_, "SELECT proto FROM rollouts WHERE model = ?");
    s.Bind(1, model);
    return OneRow<v1::Rollout>(s, "rollout");
  }
  absl::Status PutRollout(const v1::Rollout& rollout) override {
    Statement s(db_,
                "INSERT OR REPLACE INTO rollouts (model, proto) VALUES (?, ?)");
    s.Bind(1, rollout.model()).BindBlob(2, rollout.SerializeAsString());
    return s.Run();
  }

  absl::StatusOr<std::optional<v1::AuditEntry>> LastAuditEntry() override {
    Statement s(db_, "SELECT proto FROM audit ORDER BY sequence DESC LIMIT 1");
    return OneRow<v1::AuditEntry>(s, "audit entry");
  }
  absl::Status AppendAuditEntry(const v1::AuditEntry& entry) override {
    Statement s(db_,
                "INSERT INTO audit (sequence, hash, proto) VALUES (?, ?, ?)");
    s.Bind(1, entry.sequence())
        .Bind(2, entry.hash())
        .BindBlob(3, entry.SerializeAsString());
    return s.Run();
  }
  absl::StatusOr<std::vector<v1::AuditEntry>> AuditEntriesAfter(
      int64_t after, int limit) override {
    Statement s(
        db_,
        "SELECT proto FROM audit WHERE sequence > ? ORDER BY sequence LIMIT ?");
    s.Bind(1, after).Bind(2, static_cast<int64_t>(limit));
    return Rows<v1::AuditEntry>(s, "audit entry");
  }

 private:
  sqlite3* db_;
};

// Version 1 of the schema.
constexpr const char* kSchemaV1[] = {
    "CREATE TABLE models (id TEXT PRIMARY KEY, proto BLOB NOT NULL)",
    "CREATE TABLE versions (model TEXT NOT NULL REFERENCES models(id), "
    "version INTEGER NOT NULL, state INTEGER NOT NULL, sha256 TEXT NOT NULL, "
    "proto BLOB NOT NULL, PRIMARY KEY (model, version))",
    "CREATE INDEX versions_by_sha256 ON versions (sha256)",
    "CREATE TABLE deployments (model TEXT PRIMARY KEY REFERENCES models(id), "
    "revision INTEGER NOT NULL, proto BLOB NOT NULL)",
    "CREATE TABLE deployment_history (revision INTEGER PRIMARY KEY, model TEXT "
    "NOT NULL REFERENCES models(id), proto BLOB NOT NULL)",
    "CREATE TABLE rollouts (model TEXT PRIMARY KEY REFERENCES models(id), "
    "proto BLOB NOT NULL)",
    "CREATE TABLE audit (sequence INTEGER PRIMARY KEY, hash TEXT NOT NULL, "
    "proto BLOB NOT NULL)",
    "CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO counters (name, value) VALUES ('revision', 0)",
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteRegistryStore>> SqliteRegistryStore::Open(
    const std::string& path) {
  absl::StatusOr<sqlite3*> db =
      store::SqliteOpen(path, kContext, /*foreign_keys=*/true);
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteRegistryStore> store(new SqliteRegistryStore(*db));
  absl::MutexLock lock(&store->mu_);
  if (absl::Status s = store->Migrate(); !s.ok()) return s;
  return store;
}

SqliteRegistryStore::~SqliteRegistryStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status SqliteRegistryStore::Migrate() {
  static constexpr absl::Span<const char* const> kVersions[] = {kSchemaV1};
  static_assert(std::size(kVersions) == kSchemaVersion);
  return store::SqliteMigrate(db_, kVersions, kContext, "registry");
}

absl::Status SqliteRegistryStore::Transact(
    const std::function<absl::Status(RegistryTx&)>& fn) {
  absl::MutexLock lock(&mu_);
  SqliteTx tx(db_);
  return store::SqliteTransaction(db_, kContext, [&] { return fn(tx); });
}

}  // namespace continuum::registry
