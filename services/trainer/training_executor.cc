#include "services/trainer/training_executor.h"

#include "services/trainer/batch_run.h"
#include "services/trainer/online_run.h"

namespace continuum::trainer {

RunOutcome TrainingExecutor::Execute(const v1::Run& run, RunControl& control) {
  if (run.config().strategy() == v1::TRAINING_STRATEGY_ONLINE) {
    return RunOnline(options_, run, control);
  }
  return RunBatch(options_, run, control);
}

}  // namespace continuum::trainer
