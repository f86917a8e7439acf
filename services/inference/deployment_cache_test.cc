#include "services/inference/deployment_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "lib/store/file_system.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

v1::Deployment Deployment(const std::string& model, int64_t revision) {
  v1::Deployment d;
  d.set_model(model);
  d.set_revision(revision);
  d.set_stable_version(revision);
  v1::DeployedArtifact* a = d.add_artifacts();
  a->set_version(revision);
  a->set_sha256(std::string(64, 'a'));
  return d;
}

class DeploymentCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("deployment_cache_"); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DeploymentCacheTest, AMissingDirectoryIsAnEmptyCache) {
  DeploymentCache cache(dir_ + "/deployments");
  EXPECT_TRUE(cache.LoadAll().empty());
}

TEST_F(DeploymentCacheTest, KeepsTheLastDeploymentOfEachModel) {
  DeploymentCache cache(dir_ + "/deployments");
  ASSERT_TRUE(cache.Save(Deployment("fraud", 1)).ok());
  ASSERT_TRUE(cache.Save(Deployment("churn", 4)).ok());
  ASSERT_TRUE(cache.Save(Deployment("fraud", 2)).ok());

  // A new cache over the same directory (a restarted pod) reads them back.
  std::vector<v1::Deployment> all =
      DeploymentCache(dir_ + "/deployments").LoadAll();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].model(), "churn");
  EXPECT_EQ(all[0].revision(), 4);
  EXPECT_EQ(all[1].model(), "fraud");
  EXPECT_EQ(all[1].revision(), 2);
  EXPECT_EQ(all[1].artifacts(0).sha256(), std::string(64, 'a'));
}

TEST_F(DeploymentCacheTest, SkipsUnreadableAndForeignFiles) {
  DeploymentCache cache(dir_);
  ASSERT_TRUE(cache.Save(Deployment("fraud", 1)).ok());
  store::FileSystem* fs = store::DefaultFileSystem();
  ASSERT_TRUE(
      fs->WriteFileAtomically(dir_ + "/bad.deployment.pb", "\xff\xff").ok());
  ASSERT_TRUE(fs->WriteFileAtomically(dir_ + "/notes.txt", "hello").ok());
  // Parses, but names no model.
  ASSERT_TRUE(fs->WriteFileAtomically(dir_ + "/empty.deployment.pb", "").ok());
  std::vector<v1::Deployment> all = cache.LoadAll();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].model(), "fraud");
}

}  // namespace
}  // namespace continuum::inference
