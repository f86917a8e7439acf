#include "services/trainer/testing/fake_executor.h"

#include <utility>

#include "absl/time/clock.h"

namespace continuum::trainer {

RunOutcome FakeExecutor::Execute(const v1::Run& run, RunControl& control) {
  absl::MutexLock lock(&mu_);
  started_.push_back(run);
  cv_.SignalAll();
  if (script_) return script_(run, control);
  if (auto_outcome_.has_value()) return *auto_outcome_;
  if (begin_upload_) {
    absl::Status s = control.BeginUpload();
    if (!s.ok()) return {v1::RUN_STATE_CANCELLED, s};
  }
  while (true) {
    if (auto it = outcomes_.find(run.name()); it != outcomes_.end()) {
      return it->second;
    }
    if (control.cancelled()) {
      return {v1::RUN_STATE_CANCELLED, absl::CancelledError("cancelled")};
    }
    // Re-check the cancel flag now and then; a Finish wakes us at once.
    cv_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
  }
}

bool FakeExecutor::WaitStarted(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  const absl::Time deadline = absl::Now() + timeout;
  while (started_.size() < n) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) return started_.size() >= n;
  }
  return true;
}

void FakeExecutor::Finish(const std::string& name, v1::RunState state,
                          absl::Status error) {
  absl::MutexLock lock(&mu_);
  outcomes_[name] = {state, error};
  cv_.SignalAll();
}

void FakeExecutor::set_auto(std::optional<RunOutcome> outcome) {
  absl::MutexLock lock(&mu_);
  auto_outcome_ = outcome;
}

void FakeExecutor::set_script(Script script) {
  absl::MutexLock lock(&mu_);
  script_ = std::move(script);
}

void FakeExecutor::set_begin_upload(bool begin_upload) {
  absl::MutexLock lock(&mu_);
  begin_upload_ = begin_upload;
}

std::vector<v1::Run> FakeExecutor::started() {
  absl::MutexLock lock(&mu_);
  return started_;
}

}  // namespace continuum::trainer
