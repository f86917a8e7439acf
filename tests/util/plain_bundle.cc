#include "tests/util/plain_bundle.h"

#include <cstdlib>
#include <iostream>

#include "lib/model/bundle.h"

namespace continuum::testing {

std::string PlainBundleBytes(const v1::ModelSpec& spec, uint32_t seed) {
  internal::v1::ModelBundle bundle;
  v1::ArtifactManifest* manifest = bundle.mutable_manifest();
  manifest->set_format_version(model::kBundleFormatVersion);
  *manifest->mutable_spec() = spec;
  uint32_t state = seed * 2654435761u + 1;
  for (const v1::ParameterInfo& p :
       model::ExpectedParameters(model::ResolveSpec(spec))) {
    *manifest->add_parameters() = p;
    internal::v1::NamedTensor* w = bundle.add_weights();
    w->set_name(p.name());
    int64_t n = 1;
    for (int64_t d : p.shape()) {
      w->mutable_tensor()->add_shape(d);
      n *= d;
    }
    auto* data = w->mutable_tensor()->mutable_data();
    data->Reserve(static_cast<int>(n));
    for (int64_t i = 0; i < n; ++i) {
      state = state * 1664525u + 1013904223u;
      data->Add(static_cast<float>(state >> 8) / 16777216.0f * 0.2f - 0.1f);
    }
  }
  absl::StatusOr<std::string> bytes = model::SerializeBundle(bundle);
  if (!bytes.ok()) {
    std::cerr << "PlainBundleBytes: " << bytes.status() << "\n";
    std::abort();
  }
  return *std::move(bytes);
}

std::string PlainClassifierBytes(int inputs, int classes, int hidden,
                                 uint32_t seed) {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  spec.set_input_dim(inputs);
  spec.set_output_dim(classes);
  spec.add_hidden_sizes(hidden);
  return PlainBundleBytes(spec, seed);
}

}  // namespace continuum::testing
