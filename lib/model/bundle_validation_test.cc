// ValidateBundle, section by section.
#include "lib/model/bundle_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <limits>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "lib/model/bundle.h"
#include "lib/model/bundle_test_util.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::HasSubstr;
using bundle_testing::TinyBundle;

// Expects ValidateBundle to fail with `code` and a message containing each
// of `parts`.
void ExpectInvalid(const ModelBundle& bundle,
                   std::initializer_list<absl::string_view> parts,
                   absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
  absl::Status s = ValidateBundle(bundle);
  EXPECT_EQ(s.code(), code) << s;
  for (absl::string_view p : parts) {
    EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(p)));
  }
}

TEST(ValidateBundleTest, WrongTensorSize) {
  ModelBundle b = TinyBundle();
  b.mutable_weights(0)->mutable_tensor()->mutable_data()->RemoveLast();
  ExpectInvalid(b, {"layers.0.weight", "needs 12 values", "holds 11"});
}

TEST(ValidateBundleTest, FirstLayerShapeDisagreesWithManifest) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_input_dim(5);
  b.mutable_manifest()->clear_parameters();
  ExpectInvalid(b, {"layers.0.weight", "[3, 4]", "[3, 5]"});
}

TEST(ValidateBundleTest, LastLayerShapeDisagreesWithClasses) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_output_dim(3);
  ExpectInvalid(b, {"layers.1.weight", "[2, 3]", "[3, 3]"});
}

TEST(ValidateBundleTest, ManifestParametersDisagree) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_parameters(2)->set_shape(0, 7);
  ExpectInvalid(b, {"manifest.parameters[2]", "layers.1.weight"});
}

TEST(ValidateBundleTest, MissingAndExtraTensors) {
  ModelBundle b = TinyBundle();
  b.mutable_weights()->RemoveLast();
  ExpectInvalid(b, {"layers.1.bias", "missing"});
  b = TinyBundle();
  *b.add_weights() = b.weights(0);
  ExpectInvalid(b, {"unexpected tensor"});
  b = TinyBundle();
  b.mutable_weights(1)->set_name("layers.0.bais");
  ExpectInvalid(b, {"layers.0.bais", "layers.0.bias"});
}

TEST(ValidateBundleTest, NanAndInfWeights) {
  ModelBundle b = TinyBundle();
  b.mutable_weights(2)->mutable_tensor()->set_data(
      4, std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(b, {"layers.1.weight", "element 4 is NaN"});
  b = TinyBundle();
  b.mutable_weights(1)->mutable_tensor()->set_data(
      0, std::numeric_limits<float>::infinity());
  ExpectInvalid(b, {"layers.0.bias", "infinite"});
}

TEST(ValidateBundleTest, Family) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_family(
      static_cast<v1::ModelFamily>(99));
  ExpectInvalid(b, {"family 99 is unknown"});
  b.mutable_manifest()->mutable_spec()->set_family(
      v1::MODEL_FAMILY_UNSPECIFIED);
  ExpectInvalid(b, {"family is not set"});
  // An MLP's weights under the forecaster's family: the GRU's are missing.
  b.mutable_manifest()->mutable_spec()->set_family(
      v1::MODEL_FAMILY_GRU_FORECASTER);
  ExpectInvalid(b, {"the spec expects gru.weight_ih_l0"});
}

TEST(ValidateBundleTest, FormatVersion) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->set_format_version(2);
  ExpectInvalid(b, {"format_version is 2"});
}

TEST(ValidateBundleTest, Normalisation) {
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_normalization()->add_mean(0);
  ExpectInvalid(b, {"manifest.normalization", "mean has 5", "must have 4"});
  b = TinyBundle();
  b.mutable_manifest()->mutable_normalization()->set_std(2, 0);
  ExpectInvalid(b, {"manifest.normalization.std[2]"});
  b = TinyBundle();
  b.mutable_target_normalization()->add_mean(1);
  b.mutable_target_normalization()->add_std(1);
  ExpectInvalid(b, {"only regressors"});
}

TEST(ValidateBundleTest, WarmupInputs) {
  ModelBundle b = TinyBundle();
  b.mutable_warmup_inputs()->set_shape(1, 5);
  ExpectInvalid(b, {"warmup_inputs", "[8, 5]", "[n, 4]"});
  b = TinyBundle();
  b.mutable_warmup_inputs()->mutable_data()->RemoveLast();
  ExpectInvalid(b, {"warmup_inputs", "needs 32 values"});
  b = TinyBundle();
  b.mutable_manifest()->set_warmup_rows(3);
  ExpectInvalid(b, {"warmup_rows is 3", "holds 8 rows"});
  b = TinyBundle();
  b.clear_warmup_inputs();
  b.mutable_manifest()->set_warmup_rows(0);
  EXPECT_TRUE(ValidateBundle(b).ok());
}

TEST(ValidateBundleTest, FisherThresholdsSchemaReference) {
  ModelBundle b = TinyBundle();
  b.mutable_fisher(0)->set_name("layers.9.weight");
  ExpectInvalid(b, {"fisher", "layers.9.weight", "names no parameter"});
  b = TinyBundle();
  b.mutable_fisher(1)->mutable_tensor()->set_data(0, -1);
  ExpectInvalid(b, {"fisher: tensor layers.0.bias", "negative"});
  b = TinyBundle();
  b.mutable_manifest()->mutable_thresholds()->set_anomaly_threshold(
      std::numeric_limits<float>::quiet_NaN());
  ExpectInvalid(b, {"anomaly_threshold"});
  b = TinyBundle();
  b.mutable_manifest()->mutable_output_schema()->set_shape(0, 3);
  ExpectInvalid(b, {"manifest.output_schema", "expected [2]"});
  b = TinyBundle();
  b.mutable_reference()->mutable_features()->RemoveLast();
  ExpectInvalid(b, {"reference", "3 feature statistics"});
}

TEST(ValidateBundleTest, ReportsTheFirstFailingSectionInOrder) {
  EXPECT_TRUE(ValidateBundle(TinyBundle()).ok());
  // Thresholds are checked before the Fisher diagonal and the reference.
  ModelBundle b = TinyBundle();
  b.mutable_manifest()->mutable_thresholds()->set_decision_threshold(2);
  b.mutable_fisher(0)->set_name("layers.9.weight");
  b.mutable_reference()->mutable_features()->RemoveLast();
  ExpectInvalid(b, {"manifest.thresholds.decision_threshold is 2"});
  // The spec before the weights.
  b = TinyBundle();
  b.mutable_manifest()->mutable_spec()->set_dropout(1);
  b.mutable_weights()->RemoveLast();
  ExpectInvalid(b, {"manifest.spec.dropout"});
  EXPECT_EQ(ValidateSpec(b.manifest().spec()).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::model
