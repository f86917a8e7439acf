// What a round does to its sites' trust, and the audit events that record
// an exclusion or a readmission in the registry's tamper-evident log
// (RegistryService.RecordAuditEvent). Pure functions over the round and
// the coordinator's sites (federated_coordinator.h calls them under its
// lock); no I/O.
#ifndef CONTINUUM_SERVICES_TRAINER_FEDERATED_TRUST_H_
#define CONTINUUM_SERVICES_TRAINER_FEDERATED_TRUST_H_

#include <google/protobuf/struct.pb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "continuum/v1/federated.pb.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::trainer {

// The sites an aggregation changed, and the audit events of those it
// excluded.
struct TrustOutcome {
  std::vector<std::string> changed;  // site ids
  std::vector<v1::RecordAuditEventRequest> audit_events;
};

// Applies one aggregation's outcome to `round`'s submitted participants
// and their `sites` (by id; every participant's site exists):
// `outlier_scores` are recorded on the participants; the sites in
// `flagged` (id -> why) are EXCLUDED participants of this round, go on
// probation and are excluded after the config's exclude_after flagged
// rounds in a row (an audit event each, with the numbers); when
// `aggregated`, the other submitted sites' streaks are cleared and a site
// on probation is trusted again.
TrustOutcome ApplyRoundTrust(
    v1::Round& round, const std::map<std::string, double>& outlier_scores,
    const std::map<std::string, std::string>& flagged, bool aggregated,
    std::map<std::string, v1::Site>& sites);

// The audit event of a change of a site's trust from `before` to `after`
// when it is an exclusion (to SITE_TRUST_EXCLUDED: action
// `federated.site.exclude`) or a readmission (from it:
// `federated.site.readmit`); nullopt otherwise. The states recorded are
// trust, trust_reason, consecutive_outliers, rounds_joined and
// rounds_aggregated; `evidence`'s fields are added to the after state;
// the reason is the after state's trust_reason.
std::optional<v1::RecordAuditEventRequest> SiteTrustAuditEvent(
    const v1::Site& before, const v1::Site& after,
    const google::protobuf::Struct& evidence = {});

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FEDERATED_TRUST_H_
