// The trainer's own Prometheus metrics (besides the per-RPC ones every
// service has). The `model` label takes registered model ids only: a run
// is created only for a model the registry knows.
//
//   continuum_trainer_runs_total{model,outcome}     counter; outcome =
//       succeeded, rejected, failed, cancelled
//   continuum_trainer_run_duration_seconds{model}    histogram, start to end
//   continuum_trainer_samples_per_second{model}      gauge, the latest run's
//       training throughput (rows per second)
//   continuum_trainer_last_success_timestamp_seconds{model}  gauge
//   continuum_trainer_candidate_loss{model}          gauge, the latest
//       uploaded candidate's held-out loss
//   continuum_trainer_candidate_accuracy{model}      gauge, its accuracy
//   continuum_trainer_circuit_open{model}            gauge, 1 while the
//       circuit breaker holds the model's schedule
//   continuum_trainer_scheduled_skips_total{model}   counter, scheduled
//       runs skipped for want of new records
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINER_METRICS_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINER_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

class TrainerMetrics {
 public:
  explicit TrainerMetrics(prometheus::Registry& registry);

  // A run reached a final state.
  void RunFinished(const v1::Run& run);
  void SetSamplesPerSecond(const std::string& model, double rows_per_second);
  void SetCircuitOpen(const std::string& model, bool open);
  void ScheduledSkip(const std::string& model);

 private:
  prometheus::Family<prometheus::Counter>& runs_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& samples_per_second_;
  prometheus::Family<prometheus::Gauge>& last_success_;
  prometheus::Family<prometheus::Gauge>& candidate_loss_;
  prometheus::Family<prometheus::Gauge>& candidate_accuracy_;
  prometheus::Family<prometheus::Gauge>& circuit_open_;
  prometheus::Family<prometheus::Counter>& skips_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TRAINER_METRICS_H_
