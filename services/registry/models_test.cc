// Models: the checks of RegisterModel and UpdateModel, the ListModels
// filter, and, through the Registry facade, registration and aliases.
#include "services/registry/models.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

v1::RegisterModelRequest NewModel(const std::string& id) {
  v1::RegisterModelRequest request;
  request.set_model_id(id);
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  return request;
}

TEST(CheckNewModelTest, NamesTheBadField) {
  EXPECT_TRUE(CheckNewModel(NewModel("fraud")).ok());
  v1::RegisterModelRequest request = NewModel("fraud");
  request.mutable_model()->mutable_spec()->set_family(
      v1::MODEL_FAMILY_AUTOENCODER);
  EXPECT_TRUE(
      absl::StrContains(CheckNewModel(request).message(), "model.spec.family"));
  request = NewModel("fraud");
  request.mutable_model()->mutable_retention()->set_keep_last_archived(-1);
  EXPECT_TRUE(absl::StrContains(CheckNewModel(request).message(),
                                "keep_last_archived"));
  request = NewModel("fraud");
  request.mutable_model()
      ->mutable_rollout_plan()
      ->mutable_ab()
      ->set_candidate_percent(100);
  EXPECT_TRUE(absl::StrContains(CheckNewModel(request).message(),
                                "rollout_plan.ab.candidate_percent"));
}

TEST(CheckUpdateMaskTest, OnlyMutableFields) {
  google::protobuf::FieldMask mask;
  EXPECT_TRUE(absl::StrContains(CheckUpdateMask(mask).message(), "empty"));
  mask.add_paths("description");
  mask.add_paths("rollout_plan.canary");
  mask.add_paths("labels");
  EXPECT_TRUE(CheckUpdateMask(mask).ok());
  mask.add_paths("family");
  absl::Status s = CheckUpdateMask(mask);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "\"family\" cannot be changed"))
      << s;
}

TEST(ParseModelFilterTest, KnowsNameFamilyAndLabels) {
  EXPECT_TRUE(ParseModelFilter("labels.team = risk OR family = "
                               "MODEL_FAMILY_AUTOENCODER AND name = x")
                  .ok());
  EXPECT_FALSE(ParseModelFilter("labels. = x").ok());
  EXPECT_FALSE(ParseModelFilter("colour = red").ok());
}

TEST_F(RegistryTest, RegisterValidatesIdsFamiliesAndDuplicates) {
  v1::RegisterModelRequest request;
  request.set_model_id("Bad Name");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  EXPECT_EQ(registry_->RegisterModel(caller_, request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_model_id("fraud");
  request.mutable_model()->clear_family();
  EXPECT_TRUE(absl::StrContains(
      registry_->RegisterModel(caller_, request).status().message(), "family"));
  Register("fraud");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_AUTOENCODER);
  EXPECT_EQ(registry_->RegisterModel(caller_, request).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_->GetModel("models/nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, UserAliasesNameVersionsAndKeptAliasesAreRefused) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  v1::SetAliasRequest set;
  set.set_name("models/fraud");
  set.set_alias("golden");
  set.set_version(1);
  auto model = registry_->SetAlias(caller_, set);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->aliases().at("golden"), 1);
  EXPECT_EQ(registry_->GetVersion("models/fraud/versions/golden")->version(),
            1);
  for (const char* kept : {"production", "canary", "latest"}) {
    set.set_alias(kept);
    EXPECT_EQ(registry_->SetAlias(caller_, set).status().code(),
              absl::StatusCode::kInvalidArgument)
        << kept;
  }
  set.set_alias("7");
  EXPECT_EQ(registry_->SetAlias(caller_, set).status().message(),
            "an alias cannot be a number");
  set.set_alias("other");
  set.set_version(9);
  EXPECT_EQ(registry_->SetAlias(caller_, set).status().code(),
            absl::StatusCode::kNotFound);
  v1::DeleteAliasRequest remove;
  remove.set_name("models/fraud");
  remove.set_alias("golden");
  ASSERT_TRUE(registry_->DeleteAlias(caller_, remove).ok());
  EXPECT_EQ(registry_->DeleteAlias(caller_, remove).status().code(),
            absl::StatusCode::kNotFound);
  remove.set_alias("production");
  EXPECT_EQ(registry_->DeleteAlias(caller_, remove).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::registry
