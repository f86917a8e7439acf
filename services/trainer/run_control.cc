#include "services/trainer/run_control.h"

#include "absl/time/clock.h"
#include "lib/core/proto_time.h"

namespace continuum::trainer {

using Change = RunHost::Change;

bool ActiveRunControl::cancelled() {
  bool cancelled = true;
  host_->EditRun(name_, [&](ActiveRun& a, bool stopping) {
    cancelled = stopping || a.cancel_requested;
    return Change::kNone;
  });
  return cancelled;
}

void ActiveRunControl::SetPhase(v1::RunPhase phase,
                                const std::string& message) {
  host_->EditRun(name_, [&](ActiveRun& a, bool) {
    if (phase != v1::RUN_PHASE_UPLOADING) a.uploading = false;
    v1::RunProgress* p = a.run.mutable_progress();
    p->set_phase(phase);
    p->set_message(message);
    p->set_samples_done(0);
    *p->mutable_time() = core::ToProto(clock_->Now());
    return Change::kState;
  });
}

void ActiveRunControl::Progress(const v1::RunProgress& progress) {
  bool passed_on = false;
  std::string model;
  host_->EditRun(name_, [&](ActiveRun& a, bool) {
    *a.run.mutable_progress() = progress;
    if (!progress.has_time()) {
      *a.run.mutable_progress()->mutable_time() = core::ToProto(clock_->Now());
    }
    const absl::Time now = absl::Now();
    if (!progress.has_holdout_loss() &&
        now - a.last_progress < progress_interval_) {
      return Change::kNone;
    }
    a.last_progress = now;
    passed_on = true;
    model = a.run.model();
    return Change::kProgress;
  });
  if (passed_on && metrics_ != nullptr && progress.samples_per_second() > 0) {
    metrics_->SetSamplesPerSecond(model, progress.samples_per_second());
  }
}

void ActiveRunControl::Update(const std::function<void(v1::Run*)>& edit) {
  host_->EditRun(name_, [&](ActiveRun& a, bool) {
    edit(&a.run);
    return Change::kState;
  });
}

absl::Status ActiveRunControl::BeginUpload() {
  absl::Status status =
      absl::CancelledError("the run was cancelled before its upload");
  host_->EditRun(name_, [&](ActiveRun& a, bool stopping) {
    if (stopping || a.cancel_requested) return Change::kNone;
    a.uploading = true;
    v1::RunProgress* p = a.run.mutable_progress();
    p->set_phase(v1::RUN_PHASE_UPLOADING);
    p->set_message("uploading the candidate to the registry");
    *p->mutable_time() = core::ToProto(clock_->Now());
    status = absl::OkStatus();
    return Change::kState;
  });
  return status;
}

bool ActiveRunControl::CandidateDecided(bool approved,
                                        const std::string& detail) {
  return host_->CountCandidate(name_, approved, detail);
}

}  // namespace continuum::trainer
