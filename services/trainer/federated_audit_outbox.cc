#include "services/trainer/federated_audit_outbox.h"

#include <vector>

#include "spdlog/spdlog.h"

namespace continuum::trainer {

void FederatedAuditOutbox::Queue(const v1::RecordAuditEventRequest& event) {
  if (!record_) return;
  if (absl::Status s = store_->AddAuditEvent(event); !s.ok()) {
    spdlog::error("federated: keeping the audit event {} of {}: {}",
                  event.action(), event.object(), s.ToString());
  }
}

int64_t FederatedAuditOutbox::Deliver() {
  if (!record_) return 0;
  if (!mu_.TryLock()) return -1;
  absl::Status failure;
  while (failure.ok()) {
    absl::StatusOr<std::vector<FederatedStore::PendingAuditEvent>> events =
        store_->PendingAuditEvents(64);
    if (!events.ok()) {
      failure = events.status();
      break;
    }
    if (events->empty()) break;
    for (const FederatedStore::PendingAuditEvent& e : *events) {
      failure = record_(e.event);
      if (failure.ok()) failure = store_->DeleteAuditEvent(e.id);
      if (!failure.ok()) break;
      spdlog::info("federated: {} of {} recorded in the registry's audit log",
                   e.event.action(), e.event.object());
    }
  }
  int64_t pending = 0;
  if (!failure.ok()) {
    absl::StatusOr<int64_t> left = store_->CountAuditEvents();
    pending = left.ok() ? *left : 1;
    if (failing_.ok()) {
      spdlog::warn(
          "federated: {} audit event(s) wait for the registry (retried at "
          "every tick): {}",
          pending, failure.ToString());
    }
  }
  failing_ = failure;
  if (metrics_ != nullptr) metrics_->SetAuditPending(pending);
  mu_.Unlock();
  return pending;
}

}  // namespace continuum::trainer
