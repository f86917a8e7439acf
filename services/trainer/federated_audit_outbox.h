// FederatedAuditOutbox: a federated coordinator's site exclusions and
// readmissions on their way to the registry's tamper-evident audit log
// (RegistryService.RecordAuditEvent). Queue puts an event in the store's
// outbox table (federated_store.h) in the same process step that changed
// the site; Deliver, called at every coordinator tick, sends the waiting
// events oldest first and deletes each once the registry recorded it, so
// neither a registry that is down nor a coordinator killed with -9 loses
// one. Delivery is at least once: a reply lost after the registry
// committed sends the event again (the two entries differ only in
// sequence and time).
//
// Thread-safe: Queue may run under the coordinator's mutex; Deliver runs
// outside it and at most one delivery runs at a time (a concurrent call
// returns at once).
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_AUDIT_OUTBOX_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_AUDIT_OUTBOX_H_

#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/registry.pb.h"
#include "services/trainer/federated_metrics.h"
#include "services/trainer/federated_store.h"

namespace continuum::trainer {

class FederatedAuditOutbox {
 public:
  using RecordFn =
      std::function<absl::Status(const v1::RecordAuditEventRequest& event)>;

  // Without `record`, events are neither kept nor sent (a coordinator
  // with no registry to audit in, e.g. in tests). `metrics` may be null.
  FederatedAuditOutbox(FederatedStore* store, RecordFn record,
                       FederatedMetrics* metrics)
      : store_(store), record_(std::move(record)), metrics_(metrics) {}

  void Queue(const v1::RecordAuditEventRequest& event);
  // Sends the waiting events until one fails; returns how many still wait
  // (-1 when another delivery is running).
  int64_t Deliver() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  FederatedStore* const store_;
  const RecordFn record_;
  FederatedMetrics* const metrics_;
  // Held while delivering.
  absl::Mutex mu_;
  // The last delivery's failure (logged when delivery starts failing).
  absl::Status failing_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_AUDIT_OUTBOX_H_
