// TransitionVersion through the Registry facade: each move that changes
// what is served has the effect of its rollout command; the moves it
// refuses say why.
#include "services/registry/transitions.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

TEST(CheckTransitionTargetTest, StatesOfValidationAndUndefinedOnesAreRefused) {
  EXPECT_TRUE(CheckTransitionTarget(v1::VERSION_STATE_ARCHIVED).ok());
  EXPECT_TRUE(CheckTransitionTarget(v1::VERSION_STATE_CANARY).ok());
  EXPECT_TRUE(CheckTransitionTarget(v1::VERSION_STATE_PRODUCTION).ok());
  for (v1::VersionState s :
       {v1::VERSION_STATE_VALIDATING, v1::VERSION_STATE_VALIDATED,
        v1::VERSION_STATE_REJECTED}) {
    absl::Status status = CheckTransitionTarget(s);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(status.message(),
              absl::StrCat("to_state: ", v1::VersionState_Name(s),
                           " is reached only through SubmitValidation, which "
                           "applies the model's validation gates"));
  }
  EXPECT_EQ(CheckTransitionTarget(static_cast<v1::VersionState>(99)).message(),
            "to_state: 99 is not a value of continuum.v1.VersionState");
  EXPECT_EQ(CheckTransitionTarget(v1::VERSION_STATE_UNSPECIFIED).code(),
            absl::StatusCode::kInvalidArgument);
}

class TransitionTest : public RegistryTest {
 protected:
  // A model whose validated versions wait for a hand-made move.
  void SetUp() override {
    RegistryTest::SetUp();
    v1::RolloutPlan plan;
    plan.set_manual_start(true);
    Register("fraud", plan);
  }

  // Uploads and validates version `n` (it stays VALIDATED).
  void Validated(int n) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("v", n)).ok());
    ASSERT_TRUE(Validate(Name(n), GoodReport()).ok());
    ASSERT_EQ(StateOf(Name(n)), S::VERSION_STATE_VALIDATED);
  }

  static std::string Name(int n) {
    return absl::StrCat("models/fraud/versions/", n);
  }

  absl::StatusOr<v1::TransitionVersionResponse> Move(int n, S to) {
    v1::TransitionVersionRequest request;
    request.set_name(Name(n));
    request.set_to_state(to);
    request.set_reason(absl::StrCat("move to ", v1::VersionState_Name(to)));
    return registry_->TransitionVersion(caller_, request);
  }
};

TEST_F(TransitionTest, MovesThatChangeServingHaveTheRolloutCommandsEffect) {
  Validated(1);
  // VALIDATED -> PRODUCTION: Promote with `complete`.
  auto moved = Move(1, S::VERSION_STATE_PRODUCTION);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->version().state(), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(moved->deployment().stable_version(), 1);
  int64_t revision = moved->deployment().revision();
  EXPECT_EQ(registry_->latest_revision(), revision);

  // VALIDATED -> CANARY: the model's (default canary) plan.
  Validated(2);
  moved = Move(2, S::VERSION_STATE_CANARY);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->version().state(), S::VERSION_STATE_CANARY);
  EXPECT_EQ(moved->deployment().canary_version(), 2);
  EXPECT_EQ(moved->deployment().canary_percent(), 10);
  EXPECT_GT(moved->deployment().revision(), revision);
  revision = moved->deployment().revision();
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")->rollout().state(),
            v1::ROLLOUT_STATE_IN_PROGRESS);

  // CANARY -> PRODUCTION: the old production version is archived.
  moved = Move(2, S::VERSION_STATE_PRODUCTION);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->deployment().stable_version(), 2);
  EXPECT_EQ(moved->deployment().canary_version(), 0);
  EXPECT_EQ(StateOf(Name(1)), S::VERSION_STATE_ARCHIVED);

  // ARCHIVED -> PRODUCTION: Rollback to this version.
  moved = Move(1, S::VERSION_STATE_PRODUCTION);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->version().state(), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(moved->deployment().stable_version(), 1);
  EXPECT_EQ(StateOf(Name(2)), S::VERSION_STATE_ROLLED_BACK);

  // PRODUCTION -> ROLLED_BACK: Rollback to the previous production version.
  Validated(3);
  ASSERT_TRUE(Move(3, S::VERSION_STATE_PRODUCTION).ok());
  EXPECT_EQ(StateOf(Name(1)), S::VERSION_STATE_ARCHIVED);
  moved = Move(3, S::VERSION_STATE_ROLLED_BACK);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->version().state(), S::VERSION_STATE_ROLLED_BACK);
  EXPECT_EQ(moved->deployment().stable_version(), 1);
  EXPECT_EQ(StateOf(Name(1)), S::VERSION_STATE_PRODUCTION);

  // VALIDATED -> SHADOW (the default shadow phase), SHADOW -> CANARY (the
  // default steps), CANARY -> ROLLED_BACK (AbortRollout).
  Validated(4);
  moved = Move(4, S::VERSION_STATE_SHADOW);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->deployment().shadow_version(), 4);
  EXPECT_EQ(moved->deployment().stable_version(), 1);
  moved = Move(4, S::VERSION_STATE_CANARY);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->version().state(), S::VERSION_STATE_CANARY);
  EXPECT_EQ(moved->deployment().canary_version(), 4);
  EXPECT_EQ(moved->deployment().canary_percent(), 10);
  EXPECT_EQ(moved->deployment().shadow_version(), 0);
  moved = Move(4, S::VERSION_STATE_ROLLED_BACK);
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->deployment().canary_version(), 0);
  EXPECT_EQ(moved->deployment().stable_version(), 1);
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")->rollout().state(),
            v1::ROLLOUT_STATE_ABORTED);

  // Every move is audited with the request's reason.
  int rollbacks = 0;
  for (const v1::AuditEntry& e : Audit()) {
    if (e.action() == "model.rollback") ++rollbacks;
  }
  EXPECT_EQ(rollbacks, 2);
}

TEST_F(TransitionTest, RefusedMovesSayWhy) {
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  // Moved from versions_test (IllegalTransitionsNameTheCurrentState).
  auto result = Move(1, S::VERSION_STATE_ARCHIVED);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "VERSION_STATE_REGISTERED"))
      << result.status();
  // REGISTERED -> PRODUCTION is an illegal transition (it was
  // INVALID_ARGUMENT "reached through ... Promote" before).
  result = Move(1, S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "VERSION_STATE_REGISTERED"))
      << result.status();
  result = Move(1, S::VERSION_STATE_VALIDATED);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "SubmitValidation"));
  result = Move(1, static_cast<S>(99));
  EXPECT_EQ(result.status().message(),
            "to_state: 99 is not a value of continuum.v1.VersionState");

  ASSERT_TRUE(Validate(Name(1), GoodReport()).ok());
  // No production version for a canary to run beside.
  result = Move(1, S::VERSION_STATE_CANARY);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "no production version"))
      << result.status();
  // Not in the expected state.
  v1::TransitionVersionRequest request;
  request.set_name(Name(1));
  request.set_to_state(S::VERSION_STATE_PRODUCTION);
  request.set_reason("go");
  request.set_expected_state(S::VERSION_STATE_CANARY);
  EXPECT_EQ(registry_->TransitionVersion(caller_, request).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Production is archived only when replaced.
  ASSERT_TRUE(Move(1, S::VERSION_STATE_PRODUCTION).ok());
  result = Move(1, S::VERSION_STATE_ARCHIVED);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "replaces"))
      << result.status();
  // VALIDATED -> ARCHIVED: retired unserved, no deployment.
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate(Name(2), GoodReport()).ok());
  const int64_t revision = registry_->latest_revision();
  result = Move(2, S::VERSION_STATE_ARCHIVED);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->version().state(), S::VERSION_STATE_ARCHIVED);
  EXPECT_FALSE(result->has_deployment());
  EXPECT_EQ(registry_->latest_revision(), revision);
}

}  // namespace
}  // namespace continuum::registry
