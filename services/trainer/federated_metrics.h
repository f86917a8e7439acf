// The federated coordinator's Prometheus metrics (docs/federated.md). The
// `model` label takes registered model ids only (a round opens only on a
// model with a production version); `site` is not a label (sites are
// counted by trust, so a federation of many sites adds no series).
//
//   continuum_federated_rounds_total{model,outcome}   counter; outcome =
//       completed, failed
//   continuum_federated_round_duration_seconds{model}  histogram, open to
//       end
//   continuum_federated_round_active{model}            gauge, 1 while a
//       round of the model is open or in flight
//   continuum_federated_updates_total{model}           counter, updates
//       accepted
//   continuum_federated_sites{trust}                   gauge, sites by trust
//       (trusted, probation, excluded)
//   continuum_federated_site_exclusions_total          counter, automatic
//       exclusions of outlier sites
//   continuum_federated_audit_pending                  gauge, exclusions
//       and readmissions the registry's audit log has not yet recorded
//   continuum_federated_epsilon{model}                 gauge, privacy spent
//   continuum_federated_max_epsilon{model}             gauge, the budget of
//       the latest DP round (0: none)
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_METRICS_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <string>

#include "continuum/v1/federated.pb.h"

namespace continuum::trainer {

class FederatedMetrics {
 public:
  explicit FederatedMetrics(prometheus::Registry& registry);

  // A round opened, or reached a final state.
  void RoundOpened(const v1::Round& round);
  void RoundEnded(const v1::Round& round);
  void UpdateAccepted(const std::string& model);
  void SiteExcluded();
  // Every site's trust, recounted.
  void SetSites(const std::map<std::string, v1::Site>& sites);
  void SetPrivacy(const std::string& model, double epsilon,
                  double max_epsilon);
  void SetAuditPending(int64_t events);

 private:
  prometheus::Family<prometheus::Counter>& rounds_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Gauge>& active_;
  prometheus::Family<prometheus::Counter>& updates_;
  prometheus::Family<prometheus::Gauge>& sites_;
  prometheus::Counter& exclusions_;
  prometheus::Gauge& audit_pending_;
  prometheus::Family<prometheus::Gauge>& epsilon_;
  prometheus::Family<prometheus::Gauge>& max_epsilon_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_METRICS_H_
