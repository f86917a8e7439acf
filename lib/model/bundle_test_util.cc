#include "lib/model/bundle_test_util.h"

#include <gtest/gtest.h>

#include "absl/status/statusor.h"
#include "lib/model/model.h"

namespace continuum::model::bundle_testing {

internal::v1::ModelBundle TinyBundle() {
  v1::ArtifactManifest manifest;
  manifest.set_model("tiny");
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(4);
  manifest.mutable_spec()->set_output_dim(2);
  manifest.mutable_spec()->add_hidden_sizes(3);
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      Model::InitBundle(manifest, 7);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  for (const auto& w : bundle->weights()) {
    internal::v1::NamedTensor* f = bundle->add_fisher();
    f->set_name(w.name());
    *f->mutable_tensor()->mutable_shape() = w.tensor().shape();
    for (int i = 0; i < w.tensor().data_size(); ++i) {
      f->mutable_tensor()->add_data(0.5f);
    }
  }
  bundle->mutable_reference()->set_sample_count(100);
  for (int i = 0; i < 4; ++i) {
    v1::FeatureReference* f = bundle->mutable_reference()->add_features();
    f->set_index(i);
    f->set_mean(i);
    f->add_bin_edges(0);
    f->add_bin_edges(1);
    f->add_bin_counts(100);
  }
  bundle->mutable_manifest()->mutable_thresholds()->set_decision_threshold(
      0.5f);
  (*bundle->mutable_manifest()->mutable_hyperparameters())["epochs"] = "2";
  (*bundle->mutable_manifest()->mutable_hyperparameters())["lr"] = "0.001";
  return *bundle;
}

}  // namespace continuum::model::bundle_testing
