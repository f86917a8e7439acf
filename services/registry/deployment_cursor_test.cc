// What a WatchDeployments stream sends, poll by poll, against a real
// registry (the gRPC stream around it: registry_service_test.cc).
#include "services/registry/deployment_cursor.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

class DeploymentCursorTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    feed_ = std::make_unique<DeploymentFeed>(registry_.get());
  }

  // Registers `model` with the immediate plan.
  void RegisterImmediate(const std::string& model) {
    v1::RolloutPlan immediate;
    immediate.mutable_immediate();
    Register(model, immediate);
  }

  // Uploads and validates the next version of `model`: one new revision.
  int64_t Deploy(const std::string& model) {
    const std::string bytes = absl::StrCat(model, " ", ++uploads_);
    auto uploaded = UploadBytes(model, bytes);
    EXPECT_TRUE(uploaded.ok()) << uploaded.status();
    if (!uploaded.ok()) return 0;
    EXPECT_TRUE(Validate(uploaded->version().name(), GoodReport()).ok());
    return registry_->latest_revision();
  }

  static v1::WatchDeploymentsRequest Watch(std::vector<std::string> models,
                                           int64_t since = 0) {
    v1::WatchDeploymentsRequest request;
    for (const std::string& m : models) request.add_models(m);
    request.set_since_revision(since);
    return request;
  }

  std::vector<v1::WatchDeploymentsResponse> Poll(DeploymentCursor& cursor) {
    std::vector<v1::WatchDeploymentsResponse> out;
    absl::Status s = cursor.Poll(&out);
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  // The revisions of the deployment messages in `messages`.
  static std::vector<int64_t> Revisions(
      const std::vector<v1::WatchDeploymentsResponse>& messages) {
    std::vector<int64_t> out;
    for (const auto& m : messages) {
      if (m.has_deployment()) out.push_back(m.deployment().revision());
    }
    return out;
  }

  int uploads_ = 0;
  std::unique_ptr<DeploymentFeed> feed_;
};

TEST_F(DeploymentCursorTest, FromZeroSendsTheCurrentDeploymentsThenCaughtUp) {
  RegisterImmediate("a");
  RegisterImmediate("b");
  Deploy("a");
  const int64_t b1 = Deploy("b");
  const int64_t a2 = Deploy("a");
  DeploymentCursor cursor(feed_.get(), Watch({}));
  std::vector<v1::WatchDeploymentsResponse> out = Poll(cursor);
  // The current deployment of each model, by revision; not a's first.
  EXPECT_EQ(Revisions(out), (std::vector<int64_t>{b1, a2}));
  ASSERT_FALSE(out.empty());
  EXPECT_TRUE(out.back().caught_up());
  EXPECT_FALSE(out.back().has_deployment());
  EXPECT_EQ(out.back().latest_revision(), a2);
  EXPECT_EQ(out.front().latest_revision(), a2);
  EXPECT_EQ(cursor.cursor(), a2);
  // Nothing new: nothing sent.
  EXPECT_TRUE(Poll(cursor).empty());
  const int64_t b2 = Deploy("b");
  out = Poll(cursor);
  EXPECT_EQ(Revisions(out), (std::vector<int64_t>{b2}));
  EXPECT_FALSE(out.back().caught_up());
}

TEST_F(DeploymentCursorTest, ResumesAfterItsRevisionAndFiltersModels) {
  RegisterImmediate("a");
  RegisterImmediate("b");
  const int64_t a1 = Deploy("a");
  Deploy("b");
  const int64_t a2 = Deploy("a");
  const int64_t b2 = Deploy("b");
  DeploymentCursor cursor(feed_.get(), Watch({"a"}, a1));
  std::vector<v1::WatchDeploymentsResponse> out = Poll(cursor);
  EXPECT_EQ(Revisions(out), (std::vector<int64_t>{a2}));
  EXPECT_TRUE(out.back().caught_up());
  // The cursor passes the unwatched revisions too.
  EXPECT_EQ(out.back().latest_revision(), b2);
  Deploy("b");
  EXPECT_TRUE(Revisions(Poll(cursor)).empty());
  const int64_t a3 = Deploy("a");
  EXPECT_EQ(Revisions(Poll(cursor)), (std::vector<int64_t>{a3}));
}

TEST_F(DeploymentCursorTest, ARevisionAheadOfTheRegistryStartsOver) {
  RegisterImmediate("a");
  const int64_t a1 = Deploy("a");
  DeploymentCursor cursor(feed_.get(), Watch({"a"}, a1 + 100));
  std::vector<v1::WatchDeploymentsResponse> out = Poll(cursor);
  EXPECT_EQ(Revisions(out), (std::vector<int64_t>{a1}));
  EXPECT_TRUE(out.back().caught_up());
}

TEST_F(DeploymentCursorTest, AModelDeployedLaterIsSentOnceDeployed) {
  DeploymentCursor cursor(feed_.get(), Watch({"late"}));
  std::vector<v1::WatchDeploymentsResponse> out = Poll(cursor);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].caught_up());
  EXPECT_EQ(out[0].latest_revision(), 0);
  RegisterImmediate("late");
  const int64_t late1 = Deploy("late");
  EXPECT_EQ(Revisions(Poll(cursor)), (std::vector<int64_t>{late1}));
}

TEST_F(DeploymentCursorTest, WatchersAtTheSameRevisionShareOneRead) {
  RegisterImmediate("a");
  Deploy("a");
  std::vector<std::unique_ptr<DeploymentCursor>> cursors;
  for (int i = 0; i < 50; ++i) {
    cursors.push_back(
        std::make_unique<DeploymentCursor>(feed_.get(), Watch({"a"})));
    Poll(*cursors.back());
  }
  const int64_t reads = feed_->reads();
  const int64_t a2 = Deploy("a");
  for (auto& cursor : cursors) {
    EXPECT_EQ(Revisions(Poll(*cursor)), (std::vector<int64_t>{a2}));
  }
  EXPECT_EQ(feed_->reads(), reads + 1);
}

TEST_F(DeploymentCursorTest, ANegativeRevisionIsInvalid) {
  DeploymentCursor cursor(feed_.get(), Watch({}, -1));
  std::vector<v1::WatchDeploymentsResponse> out;
  absl::Status s = cursor.Poll(&out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "since_revision must not be negative");
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace continuum::registry
