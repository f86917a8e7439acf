#include "services/trainer/federated_trust.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

v1::Site MakeSite(const std::string& id, v1::SiteTrust trust) {
  v1::Site site;
  site.set_name("sites/" + id);
  site.set_trust(trust);
  return site;
}

TEST(SiteTrustAuditEventTest, OnlyExclusionsAndReadmissionsAreAudited) {
  const v1::Site trusted = MakeSite("a", v1::SITE_TRUST_TRUSTED);
  const v1::Site probation = MakeSite("a", v1::SITE_TRUST_PROBATION);
  v1::Site excluded = MakeSite("a", v1::SITE_TRUST_EXCLUDED);
  excluded.set_trust_reason("outlier in 3 rounds in a row");
  EXPECT_FALSE(SiteTrustAuditEvent(trusted, probation).has_value());
  EXPECT_FALSE(SiteTrustAuditEvent(probation, trusted).has_value());
  EXPECT_FALSE(SiteTrustAuditEvent(excluded, excluded).has_value());
  auto exclude = SiteTrustAuditEvent(probation, excluded);
  ASSERT_TRUE(exclude.has_value());
  EXPECT_EQ(exclude->action(), "federated.site.exclude");
  EXPECT_EQ(exclude->object(), "sites/a");
  EXPECT_EQ(exclude->reason(), "outlier in 3 rounds in a row");
  EXPECT_EQ(exclude->before().fields().at("trust").string_value(),
            "SITE_TRUST_PROBATION");
  auto readmit = SiteTrustAuditEvent(excluded, probation);
  ASSERT_TRUE(readmit.has_value());
  EXPECT_EQ(readmit->action(), "federated.site.readmit");
}

TEST(SiteTrustAuditEventTest, LongReasonsAreCutToTheRegistrysLimit) {
  v1::Site excluded = MakeSite("a", v1::SITE_TRUST_EXCLUDED);
  // 'é' is two bytes: the cut must not split one.
  std::string reason;
  for (int i = 0; i < 700; ++i) reason += "\xc3\xa9";
  excluded.set_trust_reason(reason);
  auto event =
      SiteTrustAuditEvent(MakeSite("a", v1::SITE_TRUST_TRUSTED), excluded);
  ASSERT_TRUE(event.has_value());
  EXPECT_LE(event->reason().size(), 1024u);
  EXPECT_THAT(event->reason(), ::testing::EndsWith("\xc3\xa9..."));
}

TEST(ApplyRoundTrustTest, StreaksProbationExclusionAndRecovery) {
  v1::Round round;
  round.set_name("models/m/rounds/4");
  round.mutable_config()->mutable_outlier_exclusion()->set_exclude_after(2);
  round.mutable_config()->mutable_outlier_exclusion()->set_norm_threshold(3);
  std::map<std::string, v1::Site> sites;
  for (const char* id : {"good", "bad", "late"}) {
    v1::Participant* p = round.add_participants();
    p->set_site_id(id);
    p->set_state(std::string(id) == "late" ? v1::PARTICIPANT_STATE_DROPPED
                                           : v1::PARTICIPANT_STATE_SUBMITTED);
    sites[id] = MakeSite(id, v1::SITE_TRUST_TRUSTED);
  }
  sites["good"].set_trust(v1::SITE_TRUST_PROBATION);
  sites["bad"].set_consecutive_outliers(1);
  TrustOutcome outcome =
      ApplyRoundTrust(round, {{"good", 0.5}, {"bad", 9.0}},
                      {{"bad", "9 MADs from the median norm"}},
                      /*aggregated=*/true, sites);
  EXPECT_EQ(outcome.changed, (std::vector<std::string>{"good", "bad"}));
  EXPECT_EQ(sites["good"].trust(), v1::SITE_TRUST_TRUSTED);
  EXPECT_EQ(sites["good"].rounds_aggregated(), 1);
  EXPECT_EQ(sites["bad"].trust(), v1::SITE_TRUST_EXCLUDED);
  EXPECT_EQ(sites["bad"].consecutive_outliers(), 2);
  EXPECT_EQ(sites["late"].trust(), v1::SITE_TRUST_TRUSTED);  // untouched
  EXPECT_EQ(round.participants(1).state(), v1::PARTICIPANT_STATE_EXCLUDED);
  EXPECT_EQ(round.participants(1).outlier_score(), 9.0);
  ASSERT_EQ(outcome.audit_events.size(), 1u);
  EXPECT_EQ(outcome.audit_events[0].object(), "sites/bad");
  EXPECT_EQ(
      outcome.audit_events[0].after().fields().at("outlier_score").number_value(),
      9.0);
  EXPECT_THAT(outcome.audit_events[0].reason(),
              HasSubstr("outlier in 2 rounds in a row, the last "
                        "models/m/rounds/4"));
}

TEST(ApplyRoundTrustTest, AFailedAggregationClearsNoStreak) {
  v1::Round round;
  round.set_name("models/m/rounds/1");
  round.mutable_config()->mutable_outlier_exclusion()->set_exclude_after(3);
  v1::Participant* p = round.add_participants();
  p->set_site_id("a");
  p->set_state(v1::PARTICIPANT_STATE_SUBMITTED);
  std::map<std::string, v1::Site> sites{
      {"a", MakeSite("a", v1::SITE_TRUST_PROBATION)}};
  sites["a"].set_consecutive_outliers(2);
  TrustOutcome outcome = ApplyRoundTrust(round, {}, {}, false, sites);
  EXPECT_EQ(sites["a"].consecutive_outliers(), 2);
  EXPECT_EQ(sites["a"].trust(), v1::SITE_TRUST_PROBATION);
  EXPECT_TRUE(outcome.audit_events.empty());
}

}  // namespace
}  // namespace continuum::trainer
