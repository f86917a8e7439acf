#include "services/registry/deployment_feed.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

class DeploymentFeedTest : public RegistryTest {
 protected:
  // Deploys the next version of model "a" (immediate plan): a new revision.
  int64_t Deploy() {
    if (uploads_ == 0) {
      v1::RolloutPlan immediate;
      immediate.mutable_immediate();
      Register("a", immediate);
    }
    auto uploaded = UploadBytes("a", absl::StrCat("a", ++uploads_));
    EXPECT_TRUE(uploaded.ok()) << uploaded.status();
    if (!uploaded.ok()) return 0;
    EXPECT_TRUE(Validate(uploaded->version().name(), GoodReport()).ok());
    return registry_->latest_revision();
  }

  static std::vector<int64_t> Revisions(
      const std::shared_ptr<const std::vector<v1::Deployment>>& deployments) {
    std::vector<int64_t> out;
    for (const v1::Deployment& d : *deployments) out.push_back(d.revision());
    return out;
  }

  int uploads_ = 0;
};

TEST_F(DeploymentFeedTest, TheSameQueryAtTheSameRevisionIsReadOnce) {
  const int64_t r1 = Deploy();
  const int64_t r2 = Deploy();
  DeploymentFeed feed(registry_.get());
  auto first = feed.Since(r1, {"a"}, 1000, r2);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(Revisions(*first), (std::vector<int64_t>{r2}));
  auto again = feed.Since(r1, {"a"}, 1000, r2);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);  // The same answer, not a copy.
  EXPECT_EQ(feed.reads(), 1);
  // Another question is read.
  EXPECT_EQ(Revisions(*feed.Since(0, {"a"}, 1000, r2)),
            (std::vector<int64_t>{r1, r2}));
  EXPECT_EQ(Revisions(*feed.Since(r1, {}, 1000, r2)),
            (std::vector<int64_t>{r2}));
  EXPECT_EQ(feed.reads(), 3);
}

TEST_F(DeploymentFeedTest, ANewerRevisionIsNeverAnsweredFromAnOldRead) {
  const int64_t r1 = Deploy();
  DeploymentFeed feed(registry_.get());
  EXPECT_TRUE(Revisions(*feed.Since(r1, {"a"}, 1000, r1)).empty());
  const int64_t r2 = Deploy();
  EXPECT_EQ(Revisions(*feed.Since(r1, {"a"}, 1000, r2)),
            (std::vector<int64_t>{r2}));
  EXPECT_EQ(feed.reads(), 2);
}

}  // namespace
}  // namespace continuum::registry
