#include "services/registry/artifact_check.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "lib/model/bundle_validation.h"

namespace continuum::registry {
namespace {

absl::Status Refused(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "the artifact ", what,
      "; nothing was stored (an inference pod could not serve it)"));
}

std::string ModelId(const v1::Model& model) {
  const std::string& name = model.name();
  const size_t slash = name.rfind('/');
  return slash == std::string::npos ? name : name.substr(slash + 1);
}

}  // namespace

absl::Status CheckArtifact(const v1::Model& model, absl::string_view bytes) {
  absl::StatusOr<internal::v1::ModelBundle> bundle = model::ParseBundle(bytes);
  if (!bundle.ok()) {
    return Refused(absl::StrCat(
        "is not a Continuum model bundle (", bundle.status().message(),
        "): upload a bundle written by `continuumctl model init`, "
        "`continuumctl model import` or a trainer"));
  }
  if (absl::Status s = model::ValidateBundle(*bundle); !s.ok()) {
    return Refused(absl::StrCat("is not a bundle this build can serve: ",
                                s.message()));
  }
  const v1::ModelSpec& got = bundle->manifest().spec();
  const std::string id = ModelId(model);
  if (got.family() != model.family()) {
    return Refused(absl::StrCat(
        "is a ", model::FamilyName(got.family()), " bundle; model ", id,
        " is a ", model::FamilyName(model.family())));
  }
  const v1::ModelSpec& want = model.spec();
  if (want.input_dim() > 0 && got.input_dim() != want.input_dim()) {
    return Refused(absl::StrCat("'s input_dim is ", got.input_dim(),
                                "; model ", id, "'s spec says ",
                                want.input_dim()));
  }
  // An autoencoder's output width is its input width (ModelSpec.output_dim
  // is ignored for it).
  if (model.family() != v1::MODEL_FAMILY_AUTOENCODER &&
      want.output_dim() > 0 && got.output_dim() != want.output_dim()) {
    return Refused(absl::StrCat("'s output_dim is ", got.output_dim(),
                                "; model ", id, "'s spec says ",
                                want.output_dim()));
  }
  return absl::OkStatus();
}

}  // namespace continuum::registry
