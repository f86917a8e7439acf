#include "services/trainer/training_executor.h"

#include "services/trainer/batch_run.h"
#include "services/trainer/federated_run.h"
#include "services/trainer/online_run.h"

namespace continuum::trainer {

RunOutcome TrainingExecutor::Execute(const v1::Run& run, RunControl& control) {
  // A federated run: the coordinator's applies a round's aggregate; a
  // site's is a batch run that submits its update (batch_run.h).
  if (run.trigger() == v1::RUN_TRIGGER_FEDERATED &&
      !options_.federated_submit) {
    return RunFederatedCandidate(options_, run, control);
  }
  if (run.config().strategy() == v1::TRAINING_STRATEGY_ONLINE) {
    return RunOnline(options_, run, control);
  }
  return RunBatch(options_, run, control);
}

}  // namespace continuum::trainer
