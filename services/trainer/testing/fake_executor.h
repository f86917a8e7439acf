// FakeExecutor: a RunExecutor (run_executor.h) for the scheduler's tests.
// A run waits until the test finishes it (Finish) or it is cancelled,
// unless an automatic outcome (set_auto) or a script (set_script) decides;
// with set_begin_upload it enters its upload first. Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_EXECUTOR_H_
#define CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_EXECUTOR_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

class FakeExecutor : public RunExecutor {
 public:
  using Script = std::function<RunOutcome(const v1::Run&, RunControl&)>;

  RunOutcome Execute(const v1::Run& run, RunControl& control) override;

  // Waits until `n` runs have started; false after `timeout`.
  bool WaitStarted(size_t n, absl::Duration timeout = absl::Seconds(10));
  // Ends run `name` with `state` and `error`.
  void Finish(const std::string& name, v1::RunState state,
              absl::Status error = absl::OkStatus());
  // Every later run ends at once with `outcome` (nullopt: waits again).
  void set_auto(std::optional<RunOutcome> outcome);
  // Runs `script` instead (called with the executor's lock held).
  void set_script(Script script);
  void set_begin_upload(bool begin_upload);
  // The runs started so far, as they were handed over.
  std::vector<v1::Run> started();

 private:
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::vector<v1::Run> started_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RunOutcome> outcomes_ ABSL_GUARDED_BY(mu_);
  std::optional<RunOutcome> auto_outcome_ ABSL_GUARDED_BY(mu_);
  bool begin_upload_ ABSL_GUARDED_BY(mu_) = false;
  Script script_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_EXECUTOR_H_
