#include "services/trainer/federated_metrics.h"

#include "absl/time/time.h"
#include "lib/core/proto_time.h"

namespace continuum::trainer {

FederatedMetrics::FederatedMetrics(prometheus::Registry& registry)
    : rounds_(prometheus::BuildCounter()
                  .Name("continuum_federated_rounds_total")
                  .Help("Federated rounds that reached a final state, by "
                        "outcome.")
                  .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("continuum_federated_round_duration_seconds")
                    .Help("Wall time of finished rounds, open to end.")
                    .Register(registry)),
      active_(prometheus::BuildGauge()
                  .Name("continuum_federated_round_active")
                  .Help("1 while a round of the model is open or in flight.")
                  .Register(registry)),
      updates_(prometheus::BuildCounter()
                   .Name("continuum_federated_updates_total")
                   .Help("Site updates accepted.")
                   .Register(registry)),
      sites_(prometheus::BuildGauge()
                 .Name("continuum_federated_sites")
                 .Help("Sites the coordinator knows, by trust.")
                 .Register(registry)),
      exclusions_(prometheus::BuildCounter()
                      .Name("continuum_federated_site_exclusions_total")
                      .Help("Sites excluded automatically as outliers.")
                      .Register(registry)
                      .Add({})),
      audit_pending_(prometheus::BuildGauge()
                         .Name("continuum_federated_audit_pending")
                         .Help("Site exclusions and readmissions waiting to "
                               "be recorded in the registry's audit log.")
                         .Register(registry)
                         .Add({})),
      epsilon_(prometheus::BuildGauge()
                   .Name("continuum_federated_epsilon")
                   .Help("Differential privacy spent on the model (epsilon "
                         "of the RDP accountant).")
                   .Register(registry)),
      max_epsilon_(prometheus::BuildGauge()
                       .Name("continuum_federated_max_epsilon")
                       .Help("The privacy budget of the model's latest DP "
                             "round; 0 = none.")
                       .Register(registry)) {
  for (const char* trust : {"trusted", "probation", "excluded"}) {
    sites_.Add({{"trust", trust}}).Set(0);
  }
}

void FederatedMetrics::RoundOpened(const v1::Round& round) {
  active_.Add({{"model", round.model()}}).Set(1);
}

void FederatedMetrics::RoundEnded(const v1::Round& round) {
  const bool completed = round.state() == v1::ROUND_STATE_COMPLETED;
  rounds_.Add({{"model", round.model()},
               {"outcome", completed ? "completed" : "failed"}})
      .Increment();
  duration_
      .Add({{"model", round.model()}},
           prometheus::Histogram::BucketBoundaries{
               1, 5, 15, 60, 300, 900, 1800, 3600, 7200})
      .Observe(absl::ToDoubleSeconds(core::FromProto(round.end_time()) -
                                     core::FromProto(round.create_time())));
  active_.Add({{"model", round.model()}}).Set(0);
}

void FederatedMetrics::UpdateAccepted(const std::string& model) {
  updates_.Add({{"model", model}}).Increment();
}

void FederatedMetrics::SiteExcluded() { exclusions_.Increment(); }

void FederatedMetrics::SetSites(const std::map<std::string, v1::Site>& sites) {
  double trusted = 0, probation = 0, excluded = 0;
  for (const auto& [id, site] : sites) {
    switch (site.trust()) {
      case v1::SITE_TRUST_PROBATION:
        ++probation;
        break;
      case v1::SITE_TRUST_EXCLUDED:
        ++excluded;
        break;
      default:
        ++trusted;
    }
  }
  sites_.Add({{"trust", "trusted"}}).Set(trusted);
  sites_.Add({{"trust", "probation"}}).Set(probation);
  sites_.Add({{"trust", "excluded"}}).Set(excluded);
}

void FederatedMetrics::SetPrivacy(const std::string& model, double epsilon,
                                  double max_epsilon) {
  epsilon_.Add({{"model", model}}).Set(epsilon);
  max_epsilon_.Add({{"model", model}}).Set(max_epsilon);
}

void FederatedMetrics::SetAuditPending(int64_t events) {
  audit_pending_.Set(static_cast<double>(events));
}

}  // namespace continuum::trainer
