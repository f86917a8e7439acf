#include "services/trainer/run_watch.h"

#include <utility>

#include "lib/core/field_rules.h"
#include "lib/core/grpc_status.h"

namespace continuum::trainer {

RunWatch::RunWatch(Scheduler* scheduler, core::OpenStreams* streams,
                   const v1::WatchRunRequest& request)
    : WatchReactor(streams, scheduler->changes()),
      scheduler_(scheduler),
      name_(request.name()),
      checked_(core::CheckFieldRules(request)) {}

RunWatch::Batch RunWatch::Next() {
  Batch batch;
  if (!checked_.ok()) {
    batch.end = core::ToGrpcStatus(checked_);
    return batch;
  }
  absl::StatusOr<RunUpdate> update = scheduler_->GetRunUpdate(name_);
  if (!update.ok()) {
    batch.end = core::ToGrpcStatus(update.status());
    return batch;
  }
  if (sent_first_ && !update->final && update->sequence == seen_) {
    return batch;  // Another run changed.
  }
  v1::WatchRunResponse message;
  *message.mutable_progress() = update->run.progress();
  if (!sent_first_ || update->final || update->state_sequence != state_seen_) {
    *message.mutable_run() = update->run;
  }
  sent_first_ = true;
  seen_ = update->sequence;
  state_seen_ = update->state_sequence;
  batch.messages.push_back(std::move(message));
  if (update->final) batch.end = grpc::Status::OK;
  return batch;
}

}  // namespace continuum::trainer
