#include "services/trainer/in_memory_run_store.h"

#include "absl/strings/str_cat.h"
#include "services/trainer/run_records.h"

namespace continuum::trainer {

absl::StatusOr<v1::Run> InMemoryRunStore::CreateRun(v1::Run run) {
  absl::MutexLock lock(&mu_);
  const int64_t number = ++last_number_[run.model()];
  run.set_name(RunName(run.model(), number));
  const int64_t sequence = next_sequence_++;
  runs_[sequence] = run;
  sequence_of_[run.name()] = sequence;
  return run;
}

absl::Status InMemoryRunStore::PutRun(const v1::Run& run) {
  absl::MutexLock lock(&mu_);
  auto it = sequence_of_.find(run.name());
  if (it == sequence_of_.end()) {
    return absl::NotFoundError(absl::StrCat("run ", run.name(), " not found"));
  }
  runs_[it->second] = run;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::Run>> InMemoryRunStore::GetRun(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = sequence_of_.find(name);
  if (it == sequence_of_.end()) return std::nullopt;
  return runs_.at(it->second);
}

absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>>
InMemoryRunStore::ListRuns(const std::string& model, int64_t before,
                           int limit) {
  absl::MutexLock lock(&mu_);
  std::vector<std::pair<int64_t, v1::Run>> out;
  auto it = before == 0 ? runs_.end() : runs_.lower_bound(before);
  while (it != runs_.begin() && static_cast<int>(out.size()) < limit) {
    --it;
    if (model.empty() || it->second.model() == model) {
      out.emplace_back(it->first, it->second);
    }
  }
  return out;
}

absl::StatusOr<std::optional<std::string>> InMemoryRunStore::FindTrigger(
    const std::string& model, const std::string& request_id,
    absl::Time not_before) {
  absl::MutexLock lock(&mu_);
  auto it = triggers_.find({model, request_id});
  if (it == triggers_.end() || it->second.time < not_before) {
    return std::nullopt;
  }
  return it->second.run;
}

absl::Status InMemoryRunStore::PutTrigger(const std::string& model,
                                          const std::string& request_id,
                                          const std::string& run_name,
                                          absl::Time now) {
  absl::MutexLock lock(&mu_);
  triggers_[{model, request_id}] = {run_name, now};
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::TrainingConfig>> InMemoryRunStore::GetConfig(
    const std::string& model) {
  absl::MutexLock lock(&mu_);
  auto it = configs_.find(model);
  if (it == configs_.end()) return std::nullopt;
  return it->second;
}

absl::Status InMemoryRunStore::PutConfig(const std::string& model,
                                         const v1::TrainingConfig& config) {
  absl::MutexLock lock(&mu_);
  configs_[model] = config;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
InMemoryRunStore::ListConfigs() {
  absl::MutexLock lock(&mu_);
  return std::vector<std::pair<std::string, v1::TrainingConfig>>(
      configs_.begin(), configs_.end());
}

absl::StatusOr<ScheduleState> InMemoryRunStore::GetSchedule(
    const std::string& model) {
  absl::MutexLock lock(&mu_);
  auto it = schedules_.find(model);
  if (it == schedules_.end()) return ScheduleState();
  return it->second;
}

absl::Status InMemoryRunStore::PutSchedule(const std::string& model,
                                           const ScheduleState& state) {
  ScheduleState stored = state;
  stored.status.clear_next_run_time();
  stored.status.clear_active_run();
  stored.status.clear_queued_run();
  absl::MutexLock lock(&mu_);
  schedules_[model] = std::move(stored);
  return absl::OkStatus();
}

}  // namespace continuum::trainer
