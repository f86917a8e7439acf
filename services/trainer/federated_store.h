// What a federated coordinator keeps on disk: rounds, sites, and per model
// the aggregation state that spans rounds (the RDP accountant's spending,
// the server optimiser's moments, the adaptive clip norm), and the audit
// events not yet recorded by the registry. SQLite
// (`federated.db`, WAL, synchronous = FULL), so that a coordinator killed
// with -9 comes back with every site's trust and every epsilon it spent.
//
// Updates themselves are never stored: they are held in memory for the
// round in flight only, and a round interrupted by a restart fails
// (federated_coordinator.h).
//
// Thread-safe (one mutex around the connection).
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_STORE_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_STORE_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/federated.pb.h"
#include "continuum/v1/registry.pb.h"
#include "lib/federated/server_optimizer.h"

namespace continuum::trainer {

// The aggregation state of one model that outlives a round.
struct FederatedModelState {
  // The accountant's RDP per order (federated::DefaultRdpOrders()) and its
  // steps (rounds with DP).
  std::vector<double> rdp;
  int64_t dp_rounds = 0;
  // The server optimiser's moments.
  federated::ServerOptimizerState optimizer;
  // Adaptive clipping: the clip norm of the next round; 0 = the config's.
  double clip_norm = 0;
};

class FederatedStore {
 public:
  // Opens (creating) the database at `path`. INTERNAL or
  // FAILED_PRECONDITION (a newer schema) as lib/store/sqlite.h says.
  static absl::StatusOr<std::unique_ptr<FederatedStore>> Open(
      const std::string& path);
  ~FederatedStore();

  absl::Status PutRound(const v1::Round& round);
  absl::StatusOr<std::vector<v1::Round>> LoadRounds();

  absl::Status PutSite(const v1::Site& site);
  absl::StatusOr<std::vector<v1::Site>> LoadSites();

  absl::Status PutModelState(const std::string& model,
                             const FederatedModelState& state);
  absl::StatusOr<std::map<std::string, FederatedModelState>> LoadModelStates();

  // The outbox of audit events for the registry (RecordAuditEvent): kept
  // until the registry recorded them, so a registry that is down or a
  // coordinator restart loses none.
  struct PendingAuditEvent {
    int64_t id = 0;
    v1::RecordAuditEventRequest event;
  };
  absl::Status AddAuditEvent(const v1::RecordAuditEventRequest& event);
  // The oldest `limit` events, oldest first.
  absl::StatusOr<std::vector<PendingAuditEvent>> PendingAuditEvents(
      int64_t limit);
  absl::Status DeleteAuditEvent(int64_t id);
  // How many events wait.
  absl::StatusOr<int64_t> CountAuditEvents();

 private:
  explicit FederatedStore(sqlite3* db) : db_(db) {}

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_STORE_H_
