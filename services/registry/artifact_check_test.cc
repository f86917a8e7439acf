// The registry refuses an artifact an inference pod could not serve:
// CheckArtifact alone, then uploads through the Registry facade with the
// checks on (nothing stored on a refusal: no version, no blob).
#include "services/registry/artifact_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <string>

#include "lib/model/bundle.h"
#include "services/registry/registry_test_fixture.h"
#include "tests/util/plain_bundle.h"

namespace continuum::registry {
namespace {

using ::testing::HasSubstr;

v1::Model MakeModel(v1::ModelFamily family, int inputs, int outputs) {
  v1::Model model;
  model.set_name("models/fraud");
  model.set_family(family);
  model.mutable_spec()->set_input_dim(inputs);
  model.mutable_spec()->set_output_dim(outputs);
  return model;
}

TEST(CheckArtifactTest, AcceptsABundleThatFitsTheModel) {
  const std::string bytes = testing::PlainClassifierBytes(4, 3);
  EXPECT_TRUE(
      CheckArtifact(MakeModel(v1::MODEL_FAMILY_MLP_CLASSIFIER, 4, 3), bytes)
          .ok());
  // A spec that leaves the widths to the data accepts any.
  EXPECT_TRUE(
      CheckArtifact(MakeModel(v1::MODEL_FAMILY_MLP_CLASSIFIER, 0, 0), bytes)
          .ok());
}

TEST(CheckArtifactTest, RefusalsNameWhatDiffers) {
  const v1::Model model = MakeModel(v1::MODEL_FAMILY_MLP_CLASSIFIER, 4, 3);
  auto refused = [&](const std::string& bytes) {
    absl::Status s = CheckArtifact(model, bytes);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  };
  EXPECT_THAT(refused("id,label,f0\n1,0,0.5\n"),
              HasSubstr("is not a Continuum model bundle (not a model "
                        "bundle: the file does not start with"));
  EXPECT_THAT(refused(testing::PlainClassifierBytes(5, 3)),
              HasSubstr("input_dim is 5; model fraud's spec says 4"));
  EXPECT_THAT(refused(testing::PlainClassifierBytes(4, 2)),
              HasSubstr("output_dim is 2; model fraud's spec says 3"));
  v1::ModelSpec regressor;
  regressor.set_family(v1::MODEL_FAMILY_MLP_REGRESSOR);
  regressor.set_input_dim(4);
  regressor.set_output_dim(3);
  EXPECT_THAT(refused(testing::PlainBundleBytes(regressor)),
              HasSubstr("is a mlp_regressor bundle; model fraud is a "
                        "mlp_classifier"));
  // A weight that is not finite: the pod's own check.
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::ParseBundle(testing::PlainClassifierBytes(4, 3));
  ASSERT_TRUE(bundle.ok());
  bundle->mutable_weights(0)->mutable_tensor()->set_data(
      0, std::numeric_limits<float>::quiet_NaN());
  EXPECT_THAT(refused(*model::SerializeBundle(*bundle)),
              HasSubstr("is not a bundle this build can serve: weights"));
  // A truncated bundle fails its CRC.
  std::string cut = testing::PlainClassifierBytes(4, 3);
  cut.resize(cut.size() - 9);
  EXPECT_THAT(refused(cut), HasSubstr("is not a Continuum model bundle"));
}

class ArtifactUploadTest : public RegistryTest {
 protected:
  void SetUp() override {
    check_artifacts_ = true;
    RegistryTest::SetUp();
  }
};

TEST_F(ArtifactUploadTest, RefusedUploadsStoreNothing) {
  v1::RegisterModelRequest request;
  request.set_model_id("fraud");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  request.mutable_model()->mutable_spec()->set_input_dim(4);
  request.mutable_model()->mutable_spec()->set_output_dim(3);
  ASSERT_TRUE(registry_->RegisterModel(caller_, request).ok());

  for (const std::string& bad :
       {std::string("id,label\n1,0\n"), testing::PlainClassifierBytes(5, 3)}) {
    absl::StatusOr<v1::UploadVersionResponse> refused =
        UploadBytes("fraud", bad);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
        << refused.status();
    EXPECT_THAT(refused.status().message(), HasSubstr("nothing was stored"));
    for (const auto& entry :
         std::filesystem::recursive_directory_iterator(dir_ + "/blobs")) {
      EXPECT_EQ(entry.path().filename().string().find(store::Sha256Hex(bad)),
                std::string::npos)
          << "a refused blob was kept: " << entry.path();
    }
  }
  EXPECT_EQ(registry_->ListVersions([] {
                v1::ListVersionsRequest r;
                r.set_parent("models/fraud");
                return r;
              }())->versions_size(),
            0);
  // A bundle that fits becomes version 1.
  absl::StatusOr<v1::UploadVersionResponse> ok =
      UploadBytes("fraud", testing::PlainClassifierBytes(4, 3));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version().version(), 1);
}

TEST_F(ArtifactUploadTest, ArtifactsOverTheMaximumAreRefused) {
  max_artifact_bytes_ = 4096;
  Open();
  Register("fraud");
  const std::string big = testing::PlainClassifierBytes(64, 3, 128);
  ASSERT_GT(big.size(), 4096u);
  absl::StatusOr<v1::UploadVersionResponse> refused = UploadBytes("fraud", big);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("larger than the registry's max_artifact_bytes (4096)"));
  // Declared up front: refused before any byte.
  v1::UploadVersionMetadata metadata;
  metadata.set_model("fraud");
  metadata.set_sha256(store::Sha256Hex(big));
  metadata.set_size_bytes(static_cast<int64_t>(big.size()));
  EXPECT_THAT(registry_->BeginUpload(metadata).status().message(),
              HasSubstr("metadata.size_bytes: "));
  EXPECT_TRUE(UploadBytes("fraud", testing::PlainClassifierBytes(4, 3)).ok());
}

}  // namespace
}  // namespace continuum::registry
