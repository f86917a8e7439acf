#include "services/trainer/testing/fake_run_control.h"

#include <utility>

#include "lib/core/proto_time.h"

namespace continuum::trainer {

bool FakeRunControl::cancelled() {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void FakeRunControl::SetPhase(v1::RunPhase phase, const std::string&) {
  absl::MutexLock lock(&mu_);
  phases_.push_back(phase);
}

void FakeRunControl::Progress(const v1::RunProgress& progress) {
  std::function<void(const v1::RunProgress&)> on_progress;
  {
    absl::MutexLock lock(&mu_);
    progress_.push_back(progress);
    if (cancel_on_training_ && progress.phase() == v1::RUN_PHASE_TRAINING) {
      cancelled_ = true;
    }
    on_progress = on_progress_;
  }
  if (on_progress) on_progress(progress);
}

void FakeRunControl::Update(const std::function<void(v1::Run*)>& edit) {
  absl::MutexLock lock(&mu_);
  edit(&run_);
}

absl::Status FakeRunControl::BeginUpload() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return absl::CancelledError("cancelled");
  phases_.push_back(v1::RUN_PHASE_UPLOADING);
  return absl::OkStatus();
}

bool FakeRunControl::CandidateDecided(bool approved,
                                      const std::string& detail) {
  absl::MutexLock lock(&mu_);
  decisions_.push_back(approved);
  details_.push_back(detail);
  trained_through_.push_back(core::FromProto(run_.data_window().end_time()));
  // A circuit breaker of threshold 2 on consecutive rejections.
  consecutive_rejections_ = approved ? 0 : consecutive_rejections_ + 1;
  return consecutive_rejections_ < 2;
}

void FakeRunControl::cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
}

void FakeRunControl::cancel_on_training() {
  absl::MutexLock lock(&mu_);
  cancel_on_training_ = true;
}

void FakeRunControl::set_on_progress(
    std::function<void(const v1::RunProgress&)> fn) {
  absl::MutexLock lock(&mu_);
  on_progress_ = std::move(fn);
}

v1::Run FakeRunControl::run() {
  absl::MutexLock lock(&mu_);
  return run_;
}

std::vector<v1::RunPhase> FakeRunControl::phases() {
  absl::MutexLock lock(&mu_);
  return phases_;
}

std::vector<v1::RunProgress> FakeRunControl::progress() {
  absl::MutexLock lock(&mu_);
  return progress_;
}

std::vector<bool> FakeRunControl::decisions() {
  absl::MutexLock lock(&mu_);
  return decisions_;
}

std::vector<absl::Time> FakeRunControl::trained_through() {
  absl::MutexLock lock(&mu_);
  return trained_through_;
}

}  // namespace continuum::trainer
