// Test-only helpers of the drift service's domain tests: batches, an
// ActionTarget and a ReferenceSource that record what they are asked, and
// the DriftMonitor fixture most tests start from. Include from *_test.cc
// files only (library continuum_drift_test_util).
#ifndef CONTINUUM_SERVICES_DRIFT_MONITOR_TEST_UTIL_H_
#define CONTINUUM_SERVICES_DRIFT_MONITOR_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"
#include "lib/core/clock.h"
#include "services/drift/drift_actions.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/reference_source.h"

namespace continuum::drift_service {

// A prediction batch of `correct.size()` rows with 2 features, a constant
// confidence and one outcome per row.
v1::ObservationBatch Batch(const std::string& model, int64_t version,
                           const std::vector<bool>& correct);

// Every kept alert whose action is final, oldest first.
std::vector<v1::Alert> AllAlerts(DriftMonitor& monitor);

// A request configuring models/{model}/monitor (all defaults).
v1::ConfigureMonitorRequest ConfigureRequest(const std::string& model);

// A monitor on a fake clock (1,700,000,000 s), no actions.
class DriftMonitorTest : public ::testing::Test {
 protected:
  DriftMonitorTest() : monitor_(DriftMonitorOptions{.clock = &clock_}) {}

  // 1000 right predictions, then 1000 with a 50 % error rate, in batches
  // of 100.
  void FeedErrorJump(const std::string& model, int64_t version) {
    std::mt19937 rng(7);
    std::bernoulli_distribution wrong(0.5);
    for (int b = 0; b < 20; ++b) {
      std::vector<bool> correct(100, true);
      if (b >= 10) {
        for (size_t i = 0; i < correct.size(); ++i) correct[i] = !wrong(rng);
      }
      auto result = monitor_.Observe(Batch(model, version, correct));
      ASSERT_TRUE(result.ok()) << result.status();
      clock_.Advance(absl::Seconds(1));
    }
  }

  core::FakeClock clock_;
  DriftMonitor monitor_;
};

// Records the calls; production is `production`.
class RecordingTarget : public ActionTarget {
 public:
  absl::StatusOr<int64_t> ProductionVersion(const std::string&) override {
    return production;
  }
  absl::StatusOr<std::string> Rollback(const std::string& model,
                                       int64_t expected, int64_t to_version,
                                       const std::string&) override {
    calls.push_back(
        absl::StrCat("rollback ", model, " ", expected, " to ", to_version));
    return absl::StrCat("models/", model, "/deployment@", calls.size());
  }
  absl::StatusOr<std::string> AbortRollout(const std::string& model,
                                           int64_t candidate,
                                           const std::string&) override {
    calls.push_back(absl::StrCat("abort ", model, " ", candidate));
    return absl::StrCat("models/", model, "/deployment@", calls.size());
  }
  absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                         const std::string&,
                                         const std::string&) override {
    calls.push_back(absl::StrCat("retrain ", model));
    if (!retrain_status.ok()) return retrain_status;
    return absl::StrCat("models/", model, "/runs/", calls.size());
  }
  int64_t production = 2;
  absl::Status retrain_status = absl::UnavailableError("trainer down");
  std::vector<std::string> calls;
};

// An outcome batch of `n` rows of `version` of model "m" in which every
// `every`-th outcome (0 = none) is wrong: a deterministic error rate.
v1::ObservationBatch Outcomes(int64_t version, int n, int every);

v1::ObservationBatch AllWrong(int64_t version, int n);

// The same with error values: `value` per row, `high` every `every`-th.
v1::ObservationBatch ErrorValues(int64_t version, int n, float value,
                                 float high, int every);

// Model "m": max_error_rate 0.2 over a window of 50, at least 20 outcomes.
v1::ConfigureMonitorRequest PerformanceMonitor(bool dry_run);

// Serves one reference per version: `features` standard-normal features
// (512 sampled values each, seeded), an error rate, and a prediction
// sample; or the error queued for the next fetches.
class FakeReferences : public ReferenceSource {
 public:
  absl::StatusOr<v1::ReferenceStatistics> Fetch(const std::string& model,
                                                int64_t version) override;

  int features = 8;
  std::vector<absl::Status> errors;
  std::vector<std::string> fetches;

 private:
  absl::Mutex mu_;
};

// `rows` prediction rows of model "m" with 8 features drawn from N(0, 1),
// the first `shifted` of them moved by +3, and confidences in [0.6, 1).
v1::ObservationBatch FeatureRows(int64_t version, int rows, int shifted,
                                 uint32_t seed, int dim = 8);

// A target whose retrain call waits until released.
class BlockingTarget : public RecordingTarget {
 public:
  absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                         const std::string& alert,
                                         const std::string& reason) override {
    absl::MutexLock lock(&mu_);
    entered_ = true;
    mu_.Await(absl::Condition(&released_));
    return RecordingTarget::TriggerRun(model, alert, reason);
  }
  void AwaitEntered() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&entered_));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

 private:
  absl::Mutex mu_;
  bool entered_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_MONITOR_TEST_UTIL_H_
