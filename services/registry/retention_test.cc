// Retention: which retired versions go (pure), and through the Registry
// facade, deletion at a tick with the blobs no version refers to.
#include "services/registry/retention.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/registry/audit_chain.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

// Versions n..1 (newest first) in the given states.
std::vector<v1::Version> Versions(const std::vector<v1::VersionState>& states) {
  std::vector<v1::Version> out;
  int64_t n = static_cast<int64_t>(states.size());
  for (v1::VersionState state : states) {
    v1::Version v;
    v.set_version(n--);
    v.set_state(state);
    out.push_back(v);
  }
  return out;
}

std::vector<int64_t> Numbers(const std::vector<v1::Version>& versions) {
  std::vector<int64_t> out;
  for (const v1::Version& v : versions) out.push_back(v.version());
  return out;
}

TEST(RetiredVersionsToDeleteTest, KeepsTheNewestRetiredAndEverythingLive) {
  v1::Model model;
  model.mutable_retention()->set_keep_last_archived(2);
  // 6 production, 5 validated, 4 archived, 3 rejected, 2 rolled back,
  // 1 archived: 4 and 3 are kept, 2 and 1 go.
  std::vector<v1::Version> versions =
      Versions({v1::VERSION_STATE_PRODUCTION, v1::VERSION_STATE_VALIDATED,
                v1::VERSION_STATE_ARCHIVED, v1::VERSION_STATE_REJECTED,
                v1::VERSION_STATE_ROLLED_BACK, v1::VERSION_STATE_ARCHIVED});
  EXPECT_EQ(Numbers(RetiredVersionsToDelete(model, versions)),
            (std::vector<int64_t>{2, 1}));
}

TEST(RetiredVersionsToDeleteTest,
     AUserAliasKeepsAVersionAndCountsTowardsTheKeep) {
  v1::Model model;
  model.mutable_retention()->set_keep_last_archived(1);
  (*model.mutable_aliases())["golden"] = 1;
  std::vector<v1::Version> versions =
      Versions({v1::VERSION_STATE_ARCHIVED, v1::VERSION_STATE_ARCHIVED,
                v1::VERSION_STATE_ARCHIVED});
  EXPECT_EQ(Numbers(RetiredVersionsToDelete(model, versions)),
            (std::vector<int64_t>{2}));
}

TEST(RetiredVersionsToDeleteTest, UnsetKeepIsTen) {
  v1::Model model;
  std::vector<v1::VersionState> states(12, v1::VERSION_STATE_REJECTED);
  EXPECT_EQ(Numbers(RetiredVersionsToDelete(model, Versions(states))),
            (std::vector<int64_t>{2, 1}));
  EXPECT_EQ(kDefaultKeepLastArchived, 10);
}

TEST_F(RegistryTest, RetentionKeepsTheLastRetiredVersionsAndCollectsBlobs) {
  v1::RegisterModelRequest request;
  request.set_model_id("fraud");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
  request.mutable_model()->mutable_retention()->set_keep_last_archived(2);
  ASSERT_TRUE(registry_->RegisterModel(caller_, request).ok());
  for (int v = 1; v <= 5; ++v) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("bytes", v)).ok());
    ASSERT_TRUE(
        Validate(absl::StrCat("models/fraud/versions/", v), GoodReport()).ok());
  }
  // 5 is production; 4, 3, 2, 1 archived: keep 4 and 3.
  ASSERT_TRUE(registry_->Tick().ok());
  for (int v : {1, 2}) {
    EXPECT_EQ(registry_->GetVersion(absl::StrCat("models/fraud/versions/", v))
                  .status()
                  .code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(registry_->OpenArtifact(absl::StrCat("models/fraud/versions/", v))
                  .status()
                  .code(),
              absl::StatusCode::kNotFound);
  }
  for (int v : {3, 4, 5}) {
    EXPECT_TRUE(
        registry_->OpenArtifact(absl::StrCat("models/fraud/versions/", v)).ok())
        << v;
  }
  int deletions = 0;
  for (const v1::AuditEntry& e : Audit())
    deletions += e.action() == "version.delete";
  EXPECT_EQ(deletions, 2);
  EXPECT_EQ(FindBrokenLink(Audit()), 0);
}

}  // namespace
}  // namespace continuum::registry
