#include "services/trainer/trainer_metrics.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

std::string Outcome(v1::RunState state) {
  std::string name = v1::RunState_Name(state);
  absl::string_view view = name;
  absl::ConsumePrefix(&view, "RUN_STATE_");
  return absl::AsciiStrToLower(view);
}

}  // namespace

TrainerMetrics::TrainerMetrics(prometheus::Registry& registry)
    : runs_(prometheus::BuildCounter()
                .Name("continuum_trainer_runs_total")
                .Help("Training runs that reached a final state, by outcome.")
                .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("continuum_trainer_run_duration_seconds")
                    .Help("Wall time of finished runs, start to end.")
                    .Register(registry)),
      samples_per_second_(
          prometheus::BuildGauge()
              .Name("continuum_trainer_samples_per_second")
              .Help("Training throughput of the latest run, rows per second.")
              .Register(registry)),
      last_success_(
          prometheus::BuildGauge()
              .Name("continuum_trainer_last_success_timestamp_seconds")
              .Help("When the latest SUCCEEDED run ended (Unix time).")
              .Register(registry)),
      candidate_loss_(prometheus::BuildGauge()
                          .Name("continuum_trainer_candidate_loss")
                          .Help("Held-out loss of the latest uploaded "
                                "candidate.")
                          .Register(registry)),
      candidate_accuracy_(prometheus::BuildGauge()
                              .Name("continuum_trainer_candidate_accuracy")
                              .Help("Held-out accuracy of the latest uploaded "
                                    "candidate (classifiers).")
                              .Register(registry)),
      circuit_open_(prometheus::BuildGauge()
                        .Name("continuum_trainer_circuit_open")
                        .Help("1 while the circuit breaker pauses the model's "
                              "schedule.")
                        .Register(registry)),
      skips_(prometheus::BuildCounter()
                 .Name("continuum_trainer_scheduled_skips_total")
                 .Help("Scheduled runs skipped for want of new records.")
                 .Register(registry)) {}

void TrainerMetrics::RunFinished(const v1::Run& run) {
  runs_.Add({{"model", run.model()}, {"outcome", Outcome(run.state())}})
      .Increment();
  if (run.has_start_time() && run.has_end_time()) {
    static const prometheus::Histogram::BucketBoundaries kBuckets = {
        1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400};
    duration_.Add({{"model", run.model()}}, kBuckets)
        .Observe(absl::ToDoubleSeconds(core::FromProto(run.end_time()) -
                                       core::FromProto(run.start_time())));
  }
  if (run.state() == v1::RUN_STATE_SUCCEEDED && run.has_end_time()) {
    last_success_.Add({{"model", run.model()}})
        .Set(absl::ToDoubleSeconds(core::FromProto(run.end_time()) -
                                   absl::UnixEpoch()));
  }
  if (run.candidate_version().version() > 0) {
    const v1::Metrics& m = run.candidate_metrics();
    if (m.has_loss())
      candidate_loss_.Add({{"model", run.model()}}).Set(m.loss());
    if (m.has_accuracy()) {
      candidate_accuracy_.Add({{"model", run.model()}}).Set(m.accuracy());
    }
  }
}

void TrainerMetrics::SetSamplesPerSecond(const std::string& model,
                                         double rows_per_second) {
  samples_per_second_.Add({{"model", model}}).Set(rows_per_second);
}

void TrainerMetrics::SetCircuitOpen(const std::string& model, bool open) {
  circuit_open_.Add({{"model", model}}).Set(open ? 1 : 0);
}

void TrainerMetrics::ScheduledSkip(const std::string& model) {
  skips_.Add({{"model", model}}).Increment();
}

}  // namespace continuum::trainer
