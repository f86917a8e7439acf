#include "services/trainer/federated_trust.h"

#include "absl/strings/str_cat.h"

namespace continuum::trainer {
namespace {

google::protobuf::Struct TrustState(const v1::Site& site) {
  google::protobuf::Struct s;
  auto& f = *s.mutable_fields();
  f["trust"].set_string_value(v1::SiteTrust_Name(site.trust()));
  f["trust_reason"].set_string_value(site.trust_reason());
  f["consecutive_outliers"].set_number_value(site.consecutive_outliers());
  f["rounds_joined"].set_number_value(static_cast<double>(site.rounds_joined()));
  f["rounds_aggregated"].set_number_value(
      static_cast<double>(site.rounds_aggregated()));
  return s;
}

// The reason field of RecordAuditEventRequest holds at most 1024 bytes.
std::string AuditReason(const std::string& reason) {
  constexpr size_t kMax = 1024;
  if (reason.size() <= kMax) return reason;
  // Cut on a UTF-8 boundary.
  size_t end = kMax - 3;
  while (end > 0 && (static_cast<unsigned char>(reason[end]) & 0xC0) == 0x80) {
    --end;
  }
  return absl::StrCat(reason.substr(0, end), "...");
}

}  // namespace

std::optional<v1::RecordAuditEventRequest> SiteTrustAuditEvent(
    const v1::Site& before, const v1::Site& after,
    const google::protobuf::Struct& evidence) {
  const bool was = before.trust() == v1::SITE_TRUST_EXCLUDED;
  const bool is = after.trust() == v1::SITE_TRUST_EXCLUDED;
  if (was == is) return std::nullopt;
  v1::RecordAuditEventRequest event;
  event.set_action(is ? "federated.site.exclude" : "federated.site.readmit");
  event.set_object(after.name());
  *event.mutable_before() = TrustState(before);
  *event.mutable_after() = TrustState(after);
  for (const auto& [key, value] : evidence.fields()) {
    (*event.mutable_after()->mutable_fields())[key] = value;
  }
  event.set_reason(AuditReason(after.trust_reason()));
  return event;
}

TrustOutcome ApplyRoundTrust(
    v1::Round& round, const std::map<std::string, double>& outlier_scores,
    const std::map<std::string, std::string>& flagged, bool aggregated,
    std::map<std::string, v1::Site>& sites) {
  TrustOutcome outcome;
  const v1::OutlierExclusionConfig& rule = round.config().outlier_exclusion();
  for (v1::Participant& p : *round.mutable_participants()) {
    if (auto score = outlier_scores.find(p.site_id());
        score != outlier_scores.end()) {
      p.set_outlier_score(score->second);
    }
    if (p.state() != v1::PARTICIPANT_STATE_SUBMITTED) continue;
    v1::Site& site = sites[p.site_id()];
    if (site.name().empty()) {  // a participant always joined; be safe
      site.set_name(absl::StrCat("sites/", p.site_id()));
      site.set_trust(v1::SITE_TRUST_TRUSTED);
    }
    const v1::Site before = site;
    auto it = flagged.find(p.site_id());
    if (it != flagged.end()) {
      p.set_state(v1::PARTICIPANT_STATE_EXCLUDED);
      p.set_reason(it->second);
      site.set_consecutive_outliers(site.consecutive_outliers() + 1);
      if (site.consecutive_outliers() >= rule.exclude_after()) {
        site.set_trust(v1::SITE_TRUST_EXCLUDED);
        site.set_trust_reason(absl::StrCat(
            "outlier in ", site.consecutive_outliers(),
            " rounds in a row, the last ", round.name(), ": ", it->second));
      } else {
        site.set_trust(v1::SITE_TRUST_PROBATION);
        site.set_trust_reason(
            absl::StrCat("outlier in ", round.name(), ": ", it->second));
      }
    } else if (aggregated) {
      site.set_consecutive_outliers(0);
      site.set_rounds_aggregated(site.rounds_aggregated() + 1);
      if (site.trust() == v1::SITE_TRUST_PROBATION) {
        site.set_trust(v1::SITE_TRUST_TRUSTED);
        site.set_trust_reason(
            absl::StrCat("back to trusted after ", round.name()));
      }
    }
    outcome.changed.push_back(p.site_id());
    google::protobuf::Struct evidence;
    auto& f = *evidence.mutable_fields();
    f["round"].set_string_value(round.name());
    if (p.has_outlier_score()) {
      f["outlier_score"].set_number_value(p.outlier_score());
    }
    if (p.has_update_norm()) f["update_norm"].set_number_value(p.update_norm());
    f["norm_threshold"].set_number_value(rule.norm_threshold());
    f["exclude_after"].set_number_value(rule.exclude_after());
    if (std::optional<v1::RecordAuditEventRequest> event =
            SiteTrustAuditEvent(before, site, evidence)) {
      outcome.audit_events.push_back(*std::move(event));
    }
  }
  return outcome;
}

}  // namespace continuum::trainer
