// What the registry checks of an uploaded artifact before a version may
// refer to it: that it is a model bundle an inference pod of this build can
// serve, and that it fits the model it is uploaded to. The checks are the
// pod's own (lib/model's ParseBundle and ValidateBundle: the format and its
// CRC, a known family, every weight present with its shape and finite, the
// manifest, normalisation, warm-up rows...) except the two that need
// LibTorch (loading a TorchScript module, the warm-up forward), which stay
// the pod's; then the model: the bundle's family is the model's, and its
// input and output widths are those the model's spec sets (a spec that
// leaves one at 0 takes it from the data; an autoencoder's output width is
// its input width).
//
// Pure; thread-safe.
#ifndef CONTINUUM_SERVICES_REGISTRY_ARTIFACT_CHECK_H_
#define CONTINUUM_SERVICES_REGISTRY_ARTIFACT_CHECK_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// OK, or INVALID_ARGUMENT beginning "the artifact ..." and naming what
// differs, e.g. "the artifact's input_dim is 5; model fraud's spec says 4".
absl::Status CheckArtifact(const v1::Model& model, absl::string_view bytes);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_ARTIFACT_CHECK_H_
