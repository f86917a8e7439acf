#include "services/trainer/federated_store.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/store/sqlite.h"

namespace continuum::trainer {
namespace {

constexpr absl::string_view kContext = "federated database";

class Statement : public store::SqliteStatement {
 public:
  Statement(sqlite3* db, const char* sql)
      : store::SqliteStatement(db, sql, kContext) {}
};

constexpr const char* kSchemaV1[] = {
    "CREATE TABLE rounds (name TEXT PRIMARY KEY, model TEXT NOT NULL, "
    "number INTEGER NOT NULL, proto BLOB NOT NULL, UNIQUE (model, number))",
    "CREATE TABLE sites (id TEXT PRIMARY KEY, proto BLOB NOT NULL)",
    "CREATE TABLE model_state (model TEXT PRIMARY KEY, dp_rounds INTEGER "
    "NOT NULL, rdp BLOB NOT NULL, optimizer_steps INTEGER NOT NULL, "
    "optimizer_m BLOB NOT NULL, optimizer_v BLOB NOT NULL, clip_norm BLOB "
    "NOT NULL)",
};

// Version 2: the audit events the registry has not yet recorded.
constexpr const char* kSchemaV2[] = {
    "CREATE TABLE audit_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "proto BLOB NOT NULL)",
};

// Vectors are stored as their bytes (little-endian on every machine this
// runs on); a length that is no multiple of the element is corrupt.
template <typename T>
std::string ToBlob(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(T));
}

template <typename T>
absl::StatusOr<std::vector<T>> FromBlob(const std::string& bytes,
                                        absl::string_view what) {
  if (bytes.size() % sizeof(T) != 0) {
    return absl::DataLossError(
        absl::StrCat(kContext, ": a stored ", what, " is corrupt"));
  }
  std::vector<T> v(bytes.size() / sizeof(T));
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

}  // namespace

absl::StatusOr<std::unique_ptr<FederatedStore>> FederatedStore::Open(
    const std::string& path) {
  absl::StatusOr<sqlite3*> db = store::SqliteOpen(path, kContext);
  if (!db.ok()) return db.status();
  std::unique_ptr<FederatedStore> s(new FederatedStore(*db));
  static constexpr absl::Span<const char* const> kVersions[] = {kSchemaV1,
                                                                kSchemaV2};
  absl::MutexLock lock(&s->mu_);
  if (absl::Status m =
          store::SqliteMigrate(s->db_, kVersions, kContext, "trainer");
      !m.ok()) {
    return m;
  }
  return s;
}

FederatedStore::~FederatedStore() {
  absl::MutexLock lock(&mu_);
  sqlite3_close(db_);
}

absl::Status FederatedStore::PutRound(const v1::Round& round) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT INTO rounds (name, model, number, proto) VALUES (?, ?, "
              "?, ?) ON CONFLICT (name) DO UPDATE SET proto = excluded.proto");
  s.Bind(1, round.name())
      .Bind(2, round.model())
      .Bind(3, round.number())
      .BindBlob(4, round.SerializeAsString());
  return s.Run();
}

absl::StatusOr<std::vector<v1::Round>> FederatedStore::LoadRounds() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT proto FROM rounds ORDER BY model, number");
  std::vector<v1::Round> rounds;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::Round> round =
        store::ParseStored<v1::Round>(s.Blob(0), kContext, "round");
    if (!round.ok()) return round.status();
    rounds.push_back(*std::move(round));
  }
  return rounds;
}

absl::Status FederatedStore::PutSite(const v1::Site& site) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT INTO sites (id, proto) VALUES (?, ?) ON CONFLICT (id) "
              "DO UPDATE SET proto = excluded.proto");
  s.Bind(1, site.name()).BindBlob(2, site.SerializeAsString());
  return s.Run();
}

absl::StatusOr<std::vector<v1::Site>> FederatedStore::LoadSites() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT proto FROM sites ORDER BY id");
  std::vector<v1::Site> sites;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::Site> site =
        store::ParseStored<v1::Site>(s.Blob(0), kContext, "site");
    if (!site.ok()) return site.status();
    sites.push_back(*std::move(site));
  }
  return sites;
}

absl::Status FederatedStore::PutModelState(const std::string& model,
                                           const FederatedModelState& state) {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "INSERT INTO model_state (model, dp_rounds, rdp, "
              "optimizer_steps, optimizer_m, optimizer_v, clip_norm) VALUES "
              "(?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model) DO UPDATE SET "
              "dp_rounds = excluded.dp_rounds, rdp = excluded.rdp, "
              "optimizer_steps = excluded.optimizer_steps, optimizer_m = "
              "excluded.optimizer_m, optimizer_v = excluded.optimizer_v, "
              "clip_norm = excluded.clip_norm");
  s.Bind(1, model)
      .Bind(2, state.dp_rounds)
      .BindBlob(3, ToBlob(state.rdp))
      .Bind(4, state.optimizer.steps)
      .BindBlob(5, ToBlob(state.optimizer.m))
      .BindBlob(6, ToBlob(state.optimizer.v))
      .BindBlob(7, ToBlob(std::vector<double>{state.clip_norm}));
  return s.Run();
}

absl::StatusOr<std::map<std::string, FederatedModelState>>
FederatedStore::LoadModelStates() {
  absl::MutexLock lock(&mu_);
  Statement s(db_,
              "SELECT model, dp_rounds, rdp, optimizer_steps, optimizer_m, "
              "optimizer_v, clip_norm FROM model_state");
  std::map<std::string, FederatedModelState> states;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    FederatedModelState state;
    state.dp_rounds = s.Int(1);
    auto rdp = FromBlob<double>(s.Blob(2), "privacy accountant");
    auto m = FromBlob<float>(s.Blob(4), "optimizer moment");
    auto v = FromBlob<float>(s.Blob(5), "optimizer moment");
    auto clip = FromBlob<double>(s.Blob(6), "clip norm");
    if (!rdp.ok()) return rdp.status();
    if (!m.ok()) return m.status();
    if (!v.ok()) return v.status();
    if (!clip.ok() || clip->size() != 1) {
      return absl::DataLossError(
          absl::StrCat(kContext, ": a stored clip norm is corrupt"));
    }
    state.rdp = *std::move(rdp);
    state.optimizer.steps = s.Int(3);
    state.optimizer.m = *std::move(m);
    state.optimizer.v = *std::move(v);
    state.clip_norm = (*clip)[0];
    states[s.Text(0)] = std::move(state);
  }
  return states;
}

absl::Status FederatedStore::AddAuditEvent(
    const v1::RecordAuditEventRequest& event) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "INSERT INTO audit_outbox (proto) VALUES (?)");
  s.BindBlob(1, event.SerializeAsString());
  return s.Run();
}

absl::StatusOr<std::vector<FederatedStore::PendingAuditEvent>>
FederatedStore::PendingAuditEvents(int64_t limit) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT id, proto FROM audit_outbox ORDER BY id LIMIT ?");
  s.Bind(1, limit);
  std::vector<PendingAuditEvent> events;
  while (true) {
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    absl::StatusOr<v1::RecordAuditEventRequest> event =
        store::ParseStored<v1::RecordAuditEventRequest>(s.Blob(1), kContext,
                                                        "audit event");
    if (!event.ok()) return event.status();
    events.push_back({s.Int(0), *std::move(event)});
  }
  return events;
}

absl::StatusOr<int64_t> FederatedStore::CountAuditEvents() {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "SELECT COUNT(*) FROM audit_outbox");
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  return *row ? s.Int(0) : 0;
}

absl::Status FederatedStore::DeleteAuditEvent(int64_t id) {
  absl::MutexLock lock(&mu_);
  Statement s(db_, "DELETE FROM audit_outbox WHERE id = ?");
  s.Bind(1, id);
  return s.Run();
}

}  // namespace continuum::trainer
