// FakeRunControl: a RunControl (run_executor.h) that records what an
// executor reports (phases, progress, record edits, candidate decisions)
// for the executor's tests, and cancels on request. Its CandidateDecided
// is a circuit breaker of threshold 2 on consecutive rejections.
// Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_RUN_CONTROL_H_
#define CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_RUN_CONTROL_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"
#include "services/trainer/run_executor.h"

namespace continuum::trainer {

class FakeRunControl : public RunControl {
 public:
  // `run` is the record Update edits.
  explicit FakeRunControl(v1::Run run) : run_(std::move(run)) {}

  bool cancelled() override;
  void SetPhase(v1::RunPhase phase, const std::string& message) override;
  void Progress(const v1::RunProgress& progress) override;
  void Update(const std::function<void(v1::Run*)>& edit) override;
  absl::Status BeginUpload() override;
  bool CandidateDecided(bool approved, const std::string& detail) override;

  void cancel();
  // Cancels at the first TRAINING progress.
  void cancel_on_training();
  // Called (without the control's lock) with each progress, after it is
  // recorded.
  void set_on_progress(std::function<void(const v1::RunProgress&)> fn);

  v1::Run run();
  std::vector<v1::RunPhase> phases();
  std::vector<v1::RunProgress> progress();
  std::vector<bool> decisions();
  // The end of the run's data window at each decision.
  std::vector<absl::Time> trained_through();

 private:
  absl::Mutex mu_;
  v1::Run run_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_on_training_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(const v1::RunProgress&)> on_progress_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RunPhase> phases_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RunProgress> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> decisions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> details_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> trained_through_ ABSL_GUARDED_BY(mu_);
  int consecutive_rejections_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TESTING_FAKE_RUN_CONTROL_H_
