#include "services/inference/model_manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "services/inference/memory_artifact_source.h"
#include "services/inference/test_bundles.h"

namespace continuum::inference {
namespace {

using ::testing::HasSubstr;

class ModelManagerTest : public ::testing::Test {
 protected:
  ModelManagerTest() {
    ModelManagerOptions options;
    options.batching.workers = 1;
    options.source = &source_;
    options.on_change = [this] { ++changes_; };
    manager_ = std::make_unique<ModelManager>(options);
  }

  // Adds version `version` (weights from `seed`) to the source and returns
  // its artifact entry.
  v1::DeployedArtifact Version(int64_t version, v1::ServingRole role) {
    v1::DeployedArtifact a;
    a.set_version(version);
    a.set_role(role);
    a.set_sha256(source_.Add(SerializedBundle(ClassifierBundle(version))));
    return a;
  }

  v1::Deployment Stable(int64_t revision, int64_t version) {
    v1::Deployment d;
    d.set_model("m");
    d.set_revision(revision);
    d.set_stable_version(version);
    *d.add_artifacts() = Version(version, v1::SERVING_ROLE_STABLE);
    return d;
  }

  std::vector<v1::VersionServingStatus> Versions() {
    auto status = manager_->Status("m");
    EXPECT_TRUE(status.ok()) << status.status();
    if (!status.ok() || status->empty()) return {};
    return {(*status)[0].versions().begin(), (*status)[0].versions().end()};
  }

  MemoryArtifactSource source_;
  int changes_ = 0;
  std::unique_ptr<ModelManager> manager_;
};

TEST_F(ModelManagerTest, ServesNothingBeforeTheFirstDeployment) {
  EXPECT_FALSE(manager_->ready());
  EXPECT_EQ(manager_->RouteRequest("m", 0, "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(manager_->Status("m").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ModelManagerTest, AppliesAndRoutesToTheStableVersion) {
  ASSERT_TRUE(manager_->Apply(Stable(5, 1)).ok());
  EXPECT_TRUE(manager_->ready());
  EXPECT_GT(changes_, 0);
  absl::StatusOr<Route> route = manager_->RouteRequest("m", 0, "");
  ASSERT_TRUE(route.ok()) << route.status();
  EXPECT_EQ(route->servable->version, 1);
  EXPECT_EQ(route->role, v1::SERVING_ROLE_STABLE);
  EXPECT_EQ(route->revision, 5);
  EXPECT_NE(route->scheduler, nullptr);
  EXPECT_EQ(route->shadow, nullptr);
  auto versions = Versions();
  ASSERT_EQ(versions.size(), 1u);
  EXPECT_EQ(versions[0].state(), v1::SERVING_STATE_AVAILABLE);
  EXPECT_EQ(versions[0].role(), v1::SERVING_ROLE_STABLE);
}

TEST_F(ModelManagerTest, SwapKeepsHeldVersionsUntilReleased) {
  ASSERT_TRUE(manager_->Apply(Stable(1, 1)).ok());
  ServableHandle held = manager_->RouteRequest("m", 0, "")->servable;
  std::weak_ptr<const Servable> weak = held;
  ASSERT_TRUE(manager_->Apply(Stable(2, 2)).ok());
  EXPECT_EQ(manager_->RouteRequest("m", 0, "")->servable->version, 2);
  // The request holding version 1 still runs on it; it shows as
  // UNLOADING until released, then it is freed.
  EXPECT_EQ(held->version, 1);
  auto versions = Versions();
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[1].version(), 1);
  EXPECT_EQ(versions[1].state(), v1::SERVING_STATE_UNLOADING);
  held.reset();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(Versions().size(), 1u);
}

TEST_F(ModelManagerTest, ReappliedRevisionIsANoOp) {
  v1::Deployment d = Stable(3, 1);
  ASSERT_TRUE(manager_->Apply(d).ok());
  int fetches = source_.fetches();
  ASSERT_TRUE(manager_->Apply(d).ok());
  EXPECT_EQ(source_.fetches(), fetches);
  // A new revision naming the same version reuses the loaded one.
  d.set_revision(4);
  ASSERT_TRUE(manager_->Apply(d).ok());
  EXPECT_EQ(source_.fetches(), fetches);
  EXPECT_EQ(manager_->RouteRequest("m", 0, "")->revision, 4);
}

// Each bad artifact is refused with its reason; the stable version keeps
// serving and the failure is not retried for the same artifact.
TEST_F(ModelManagerTest, BadArtifactsAreRefusedAndTheCurrentVersionServes) {
  ASSERT_TRUE(manager_->Apply(Stable(1, 1)).ok());

  std::string corrupt = SerializedBundle(ClassifierBundle(7));
  corrupt[corrupt.size() / 2] ^= 0x5a;
  internal::v1::ModelBundle wrong_shape = ClassifierBundle(8);
  wrong_shape.mutable_weights(0)->mutable_tensor()->set_shape(1, 5);
  internal::v1::ModelBundle nan_weights = ClassifierBundle(9);
  nan_weights.mutable_weights(0)->mutable_tensor()->set_data(0, NAN);
  struct Case {
    std::string bytes;
    absl::StatusCode code;
    std::string reason;
  };
  std::vector<Case> cases = {
      {corrupt, absl::StatusCode::kDataLoss, "parse failed"},
      {SerializedBundle(wrong_shape), absl::StatusCode::kInvalidArgument,
       "layers.0"},
      {SerializedBundle(nan_weights), absl::StatusCode::kInvalidArgument,
       "layers.0"},
  };
  int64_t revision = 2, version = 2;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.reason);
    v1::Deployment d;
    d.set_model("m");
    d.set_revision(revision++);
    d.set_stable_version(version);
    v1::DeployedArtifact* a = d.add_artifacts();
    a->set_version(version++);
    a->set_sha256(source_.Add(c.bytes));
    absl::Status s = manager_->Apply(d);
    EXPECT_EQ(s.code(), c.code) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.reason));
    absl::StatusOr<Route> route = manager_->RouteRequest("m", 0, "");
    ASSERT_TRUE(route.ok());
    EXPECT_EQ(route->servable->version, 1);
    EXPECT_EQ(route->revision, 1);  // The failed revision is not applied.
    auto versions = Versions();
    ASSERT_EQ(versions.size(), 2u);
    EXPECT_EQ(versions[1].state(), v1::SERVING_STATE_FAILED);
    EXPECT_THAT(versions[1].reason(), HasSubstr(c.reason));
    // Not retried: the same artifact again fails without a fetch.
    int fetches = source_.fetches();
    d.set_revision(revision++);
    EXPECT_FALSE(manager_->Apply(d).ok());
    EXPECT_EQ(source_.fetches(), fetches);
  }
}

TEST_F(ModelManagerTest, UnavailableArtifactIsRetriedLater) {
  v1::Deployment d;
  d.set_model("m");
  d.set_revision(1);
  d.set_stable_version(1);
  v1::DeployedArtifact* a = d.add_artifacts();
  a->set_version(1);
  a->set_sha256(std::string(64, 'a'));  // Not in the source (yet).
  EXPECT_EQ(manager_->Apply(d).code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(manager_->ready());
  EXPECT_EQ(manager_->RouteRequest("m", 0, "").status().code(),
            absl::StatusCode::kUnavailable);
  a->set_sha256(source_.Add(SerializedBundle(ClassifierBundle(1))));
  EXPECT_TRUE(manager_->Apply(d).ok());
  EXPECT_TRUE(manager_->ready());
}

TEST_F(ModelManagerTest, CanarySplitFollowsTheWeight) {
  v1::Deployment d = Stable(1, 1);
  d.set_canary_version(2);
  d.set_canary_percent(30);
  d.set_routing(v1::ROUTING_MODE_RANDOM);
  *d.add_artifacts() = Version(2, v1::SERVING_ROLE_CANARY);
  ASSERT_TRUE(manager_->Apply(d).ok());
  const int n = 20000;
  int canary = 0;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<Route> r = manager_->RouteRequest("m", 0, "");
    ASSERT_TRUE(r.ok());
    if (r->role == v1::SERVING_ROLE_CANARY) {
      ++canary;
      EXPECT_EQ(r->servable->version, 2);
    } else {
      EXPECT_EQ(r->servable->version, 1);
    }
  }
  // Binomial(20000, 0.3): sd 0.32 points; 2 points is over 6 sd.
  EXPECT_NEAR(100.0 * canary / n, 30.0, 2.0);
}

TEST_F(ModelManagerTest, StickyRoutingKeepsAKeyOnOneArm) {
  v1::Deployment d = Stable(1, 1);
  d.set_canary_version(2);
  d.set_canary_percent(25);
  d.set_routing(v1::ROUTING_MODE_STICKY);
  *d.add_artifacts() = Version(2, v1::SERVING_ROLE_CANARY);
  ASSERT_TRUE(manager_->Apply(d).ok());
  int canary_keys = 0;
  const int keys = 4000;
  for (int k = 0; k < keys; ++k) {
    std::string key = absl::StrCat("user-", k);
    v1::ServingRole first = manager_->RouteRequest("m", 0, key)->role;
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(manager_->RouteRequest("m", 0, key)->role, first) << key;
    }
    canary_keys += first == v1::SERVING_ROLE_CANARY;
  }
  EXPECT_NEAR(100.0 * canary_keys / keys, 25.0, 3.0);
}

TEST_F(ModelManagerTest, ShadowGetsACopyAndNeverAnswers) {
  v1::Deployment d = Stable(1, 1);
  d.set_shadow_version(3);
  d.set_shadow_percent(100);
  *d.add_artifacts() = Version(3, v1::SERVING_ROLE_SHADOW);
  ASSERT_TRUE(manager_->Apply(d).ok());
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Route> r = manager_->RouteRequest("m", 0, "");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->servable->version, 1);
    EXPECT_EQ(r->role, v1::SERVING_ROLE_STABLE);
    ASSERT_NE(r->shadow, nullptr);
    EXPECT_EQ(r->shadow->version, 3);
  }
}

TEST_F(ModelManagerTest, PinnedVersions) {
  v1::Deployment d = Stable(1, 1);
  d.set_canary_version(2);
  d.set_canary_percent(0);
  *d.add_artifacts() = Version(2, v1::SERVING_ROLE_CANARY);
  ASSERT_TRUE(manager_->Apply(d).ok());
  absl::StatusOr<Route> r = manager_->RouteRequest("m", 2, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->servable->version, 2);
  EXPECT_EQ(r->role, v1::SERVING_ROLE_PINNED);
  absl::Status missing = manager_->RouteRequest("m", 9, "").status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("[1, 2]"));
}

}  // namespace
}  // namespace continuum::inference
