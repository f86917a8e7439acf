// InMemoryRunStore: the RunStore contract (run_store.h) in memory, for
// tests of the scheduler and anything above it. Nothing survives the
// object; there is no crash to recover from. Thread-safe (one mutex).
#ifndef CONTINUUM_SERVICES_TRAINER_IN_MEMORY_RUN_STORE_H_
#define CONTINUUM_SERVICES_TRAINER_IN_MEMORY_RUN_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "services/trainer/run_store.h"

namespace continuum::trainer {

class InMemoryRunStore : public RunStore {
 public:
  InMemoryRunStore() = default;

  absl::StatusOr<v1::Run> CreateRun(v1::Run run) override;
  absl::Status PutRun(const v1::Run& run) override;
  absl::StatusOr<std::optional<v1::Run>> GetRun(
      const std::string& name) override;
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>> ListRuns(
      const std::string& model, int64_t before, int limit) override;
  absl::StatusOr<std::optional<std::string>> FindTrigger(
      const std::string& model, const std::string& request_id,
      absl::Time not_before) override;
  absl::Status PutTrigger(const std::string& model,
                          const std::string& request_id,
                          const std::string& run_name, absl::Time now) override;
  absl::StatusOr<std::optional<v1::TrainingConfig>> GetConfig(
      const std::string& model) override;
  absl::Status PutConfig(const std::string& model,
                         const v1::TrainingConfig& config) override;
  absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
  ListConfigs() override;
  absl::StatusOr<ScheduleState> GetSchedule(const std::string& model) override;
  absl::Status PutSchedule(const std::string& model,
                           const ScheduleState& state) override;

 private:
  struct Trigger {
    std::string run;
    absl::Time time;
  };

  absl::Mutex mu_;
  // By sequence (creation order across models).
  std::map<int64_t, v1::Run> runs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> sequence_of_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> last_number_ ABSL_GUARDED_BY(mu_);
  int64_t next_sequence_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<std::string, std::string>, Trigger> triggers_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, v1::TrainingConfig> configs_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ScheduleState> schedules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_IN_MEMORY_RUN_STORE_H_
