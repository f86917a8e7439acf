#include "services/inference/test_bundles.h"

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"

namespace continuum::inference {

internal::v1::ModelBundle ClassifierBundle(uint64_t seed) {
  v1::ArtifactManifest manifest;
  manifest.set_model("m");
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(4);
  manifest.mutable_spec()->set_output_dim(3);
  manifest.mutable_spec()->add_hidden_sizes(8);
  absl::StatusOr<internal::v1::ModelBundle> b =
      model::Model::InitBundle(manifest, seed);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *std::move(b) : internal::v1::ModelBundle();
}

std::string SerializedBundle(const internal::v1::ModelBundle& bundle) {
  absl::StatusOr<std::string> bytes = model::SerializeBundle(bundle);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *std::move(bytes) : std::string();
}

}  // namespace continuum::inference
