#include "services/registry/version_state.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "absl/strings/match.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

TEST(VersionStateTest, EveryLegalAndIllegalTransition) {
  const std::set<std::pair<S, S>> legal = {
      {S::VERSION_STATE_REGISTERED, S::VERSION_STATE_VALIDATING},
      {S::VERSION_STATE_VALIDATING, S::VERSION_STATE_VALIDATED},
      {S::VERSION_STATE_VALIDATING, S::VERSION_STATE_REJECTED},
      {S::VERSION_STATE_VALIDATED, S::VERSION_STATE_CANARY},
      {S::VERSION_STATE_VALIDATED, S::VERSION_STATE_SHADOW},
      {S::VERSION_STATE_VALIDATED, S::VERSION_STATE_PRODUCTION},
      {S::VERSION_STATE_VALIDATED, S::VERSION_STATE_ARCHIVED},
      {S::VERSION_STATE_SHADOW, S::VERSION_STATE_CANARY},
      {S::VERSION_STATE_SHADOW, S::VERSION_STATE_PRODUCTION},
      {S::VERSION_STATE_SHADOW, S::VERSION_STATE_ROLLED_BACK},
      {S::VERSION_STATE_CANARY, S::VERSION_STATE_PRODUCTION},
      {S::VERSION_STATE_CANARY, S::VERSION_STATE_ROLLED_BACK},
      {S::VERSION_STATE_PRODUCTION, S::VERSION_STATE_ARCHIVED},
      {S::VERSION_STATE_PRODUCTION, S::VERSION_STATE_ROLLED_BACK},
  };
  int checked = 0;
  for (int f = S::VERSION_STATE_UNSPECIFIED; f <= S::VERSION_STATE_ROLLED_BACK;
       ++f) {
    for (int t = S::VERSION_STATE_UNSPECIFIED;
         t <= S::VERSION_STATE_ROLLED_BACK; ++t) {
      S from = static_cast<S>(f);
      S to = static_cast<S>(t);
      bool expected = legal.contains({from, to});
      EXPECT_EQ(IsLegalTransition(from, to), expected)
          << v1::VersionState_Name(from) << " -> " << v1::VersionState_Name(to);
      absl::Status s = CheckTransition("models/m/versions/1", from, to);
      EXPECT_EQ(s.ok(), expected);
      if (!expected) {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
        EXPECT_TRUE(absl::StrContains(s.message(), v1::VersionState_Name(from)))
            << s;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 100);
}

TEST(VersionStateTest, ArchivedReturnsToProductionOnlyByRollback) {
  EXPECT_FALSE(IsLegalTransition(S::VERSION_STATE_ARCHIVED,
                                 S::VERSION_STATE_PRODUCTION));
  EXPECT_TRUE(IsLegalTransition(S::VERSION_STATE_ARCHIVED,
                                S::VERSION_STATE_PRODUCTION,
                                /*rollback=*/true));
  EXPECT_FALSE(IsLegalTransition(S::VERSION_STATE_REJECTED,
                                 S::VERSION_STATE_PRODUCTION,
                                 /*rollback=*/true));
}

TEST(VersionStateTest, MessagesNameFinalStatesAndTheWayOn) {
  absl::Status s =
      CheckTransition("models/fraud/versions/3", S::VERSION_STATE_REJECTED,
                      S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(
      s.message(),
      "models/fraud/versions/3 is VERSION_STATE_REJECTED (final): it cannot "
      "become VERSION_STATE_PRODUCTION");
  s = CheckTransition("models/fraud/versions/3", S::VERSION_STATE_REGISTERED,
                      S::VERSION_STATE_PRODUCTION);
  EXPECT_TRUE(
      absl::StrContains(s.message(), "allowed next: VERSION_STATE_VALIDATING"))
      << s;
}

}  // namespace
}  // namespace continuum::registry
