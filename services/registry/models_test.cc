// Models: the checks of RegisterModel and UpdateModel, the ListModels
// filter, and, through the Registry facade, registration and aliases.
#include "services/registry/models.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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
  request = NewModel("fraud");
  request.mutable_model()->set_family(static_cast<v1::ModelFamily>(99));
  EXPECT_EQ(CheckNewModel(request).message(),
            "model.family: 99 is not a value of continuum.v1.ModelFamily");
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
  for (const char* kept : {"production", "canary", "shadow", "latest"}) {
    set.set_alias(kept);
    EXPECT_EQ(registry_->SetAlias(caller_, set).status().code(),
              absl::StatusCode::kInvalidArgument)
        << kept;
  }
  set.set_alias("7");
  EXPECT_EQ(registry_->SetAlias(caller_, set).status().message(),
            "an alias cannot be a number");
  // [a-z][a-z0-9_-]{0,62}: these were accepted as ids.
  const std::string too_long(64, 'a');
  for (const std::string& bad :
       {std::string("1st"), std::string("a.b"), std::string("_x"), too_long}) {
    set.set_alias(bad);
    EXPECT_EQ(
        registry_->SetAlias(caller_, set).status().message(),
        absl::StrCat("alias \"", bad, "\" must match [a-z][a-z0-9_-]{0,62}"));
  }
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
  for (const char* kept : {"production", "canary", "shadow", "latest"}) {
    remove.set_alias(kept);
    EXPECT_EQ(registry_->DeleteAlias(caller_, remove).status().code(),
              absl::StatusCode::kInvalidArgument)
        << kept;
  }
}

TEST_F(RegistryTest, UpdateModelKeepsTheSpecOfTheModelsFamily) {
  Register("fraud");  // An MLP classifier.
  v1::UpdateModelRequest update;
  update.mutable_model()->set_name("models/fraud");
  update.mutable_model()->mutable_spec()->set_family(
      v1::MODEL_FAMILY_AUTOENCODER);
  update.mutable_model()->mutable_spec()->set_input_dim(8);
  update.mutable_update_mask()->add_paths("spec");
  absl::StatusOr<v1::Model> updated = registry_->UpdateModel(caller_, update);
  EXPECT_EQ(updated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(updated.status().message(),
            "model.spec.family MODEL_FAMILY_AUTOENCODER differs from the "
            "model's family MODEL_FAMILY_MLP_CLASSIFIER");
  update.mutable_model()->mutable_spec()->clear_family();
  updated = registry_->UpdateModel(caller_, update);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->spec().input_dim(), 8);
}

}  // namespace
}  // namespace continuum::registry
