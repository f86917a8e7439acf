#include "services/trainer/model_fetch.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/model/normalization.h"

namespace continuum::trainer {
namespace {

using internal::v1::ModelBundle;

// The production version `version`, downloaded and checked.
absl::StatusOr<ModelBundle> DownloadProduction(RunContext& context,
                                               int64_t version) {
  absl::StatusOr<Artifact> artifact = context.registry().DownloadArtifact(
      context.run().model(), version, context.deadline());
  if (!artifact.ok()) {
    return absl::Status(artifact.status().code(),
                        absl::StrCat("registry: downloading version ", version,
                                     ": ", artifact.status().message()));
  }
  absl::StatusOr<ModelBundle> bundle = model::ParseBundle(artifact->bytes);
  if (!bundle.ok()) {
    return absl::DataLossError(absl::StrCat("production version ", version,
                                            ": ", bundle.status().message()));
  }
  if (absl::Status s = model::ValidateBundle(*bundle); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("production version ", version,
                     " is not a bundle this trainer can train: ", s.message()));
  }
  return bundle;
}

// The spec of a cold start: the registry's, completed from the data set.
v1::ModelSpec ColdStartSpec(const v1::Model& model,
                            const v1::DatasetSchema& schema) {
  v1::ModelSpec spec = model.spec();
  if (spec.family() == v1::MODEL_FAMILY_UNSPECIFIED) {
    spec.set_family(model.family());
  }
  if (spec.input_dim() == 0) spec.set_input_dim(schema.feature_dim());
  if (spec.output_dim() == 0) {
    if (spec.family() == v1::MODEL_FAMILY_MLP_CLASSIFIER) {
      spec.set_output_dim(schema.num_classes());
    } else if (spec.family() == v1::MODEL_FAMILY_MLP_REGRESSOR) {
      spec.set_output_dim(schema.label_kind() == v1::LABEL_KIND_VECTOR
                              ? schema.target_dim()
                              : 1);
    } else if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
      // One series forecast: the first feature of each step.
      spec.set_output_dim(1);
    }
  }
  return spec;
}

// Fresh weights for a model without a production version.
absl::StatusOr<ModelBundle> ColdStartBundle(const RunContext& context,
                                            const v1::Model& model,
                                            const v1::DatasetSchema& schema) {
  const v1::ModelSpec spec = ColdStartSpec(model, schema);
  if (spec.family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cold start: model ", context.run().model(),
        " is a torchscript model without a production version; a user's "
        "module has no fresh weights: import it (continuumctl model import "
        "--torchscript=FILE.pt ...), upload and promote it, then train"));
  }
  if (absl::Status s = model::ValidateSpec(spec); !s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cold start: model ", context.run().model(),
        " has no production version and its spec (from the registry's "
        "Model.spec and data set ",
        context.config().dataset(), "'s schema) is not usable: ", s.message()));
  }
  v1::ArtifactManifest manifest;
  manifest.set_model(context.run().model());
  *manifest.mutable_spec() = spec;
  return model::Model::InitBundle(manifest, context.config().seed());
}

// Whether the data set fits the model.
absl::Status CheckDataFits(const RunContext& context,
                           const StartingModel& start) {
  const v1::DatasetSchema& schema = start.schema;
  const v1::ModelSpec& spec = start.spec;
  const std::string& dataset = context.config().dataset();
  const std::string& model = context.run().model();
  if (schema.feature_dim() != spec.input_dim()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data set ", dataset, " has feature_dim ", schema.feature_dim(),
        " but model ", model, " takes input_dim ", spec.input_dim()));
  }
  switch (model::TaskFamily(spec)) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      if (schema.label_kind() != v1::LABEL_KIND_CLASS ||
          schema.num_classes() > spec.output_dim()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data set ", dataset, " (", v1::LabelKind_Name(schema.label_kind()),
            ", ", schema.num_classes(), " classes) does not fit classifier ",
            model, " with ", spec.output_dim(), " classes"));
      }
      break;
    case v1::MODEL_FAMILY_MLP_REGRESSOR: {
      const int width = schema.label_kind() == v1::LABEL_KIND_VALUE ? 1
                        : schema.label_kind() == v1::LABEL_KIND_VECTOR
                            ? schema.target_dim()
                            : -1;
      if (width != spec.output_dim()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "data set ", dataset, " (", v1::LabelKind_Name(schema.label_kind()),
            ") does not fit regressor ", model, " with ", spec.output_dim(),
            " targets"));
      }
      break;
    }
    default:
      break;
  }
  return absl::OkStatus();
}

// The data set's schema; an unknown data set is FAILED_PRECONDITION.
absl::StatusOr<v1::DatasetSchema> FetchSchema(RunContext& context) {
  const std::string& dataset = context.config().dataset();
  absl::StatusOr<v1::Dataset> got = context.collector().GetDataset(dataset);
  if (!got.ok()) {
    return absl::Status(absl::IsNotFound(got.status())
                            ? absl::StatusCode::kFailedPrecondition
                            : got.status().code(),
                        absl::StrCat("collector: data set ", dataset, ": ",
                                     got.status().message()));
  }
  return got->schema();
}

}  // namespace

absl::StatusOr<StartingModel> FetchModel(RunContext& context) {
  RunControl& control = context.control();
  control.SetPhase(v1::RUN_PHASE_FETCHING_MODEL,
                   "fetching the production version from the registry");
  if (absl::Status s = context.CheckClients(); !s.ok()) return s;
  const std::string& model_id = context.run().model();
  absl::StatusOr<v1::Model> model = context.registry().GetModel(model_id);
  if (!model.ok()) {
    return absl::Status(model.status().code(),
                        absl::StrCat("registry: ", model.status().message()));
  }
  StartingModel start;
  absl::StatusOr<v1::DatasetSchema> schema = FetchSchema(context);
  if (!schema.ok()) return schema.status();
  start.schema = *std::move(schema);
  if (absl::Status s = context.CheckStop(); !s.ok()) return s;

  const int64_t production = model->production_version();
  absl::StatusOr<ModelBundle> bundle =
      production > 0 ? DownloadProduction(context, production)
                     : ColdStartBundle(context, *model, start.schema);
  if (!bundle.ok()) return bundle.status();
  start.bundle = *std::move(bundle);
  start.version = production > 0 ? production : 0;
  start.cold_start = production <= 0;
  start.spec = model::ResolveSpec(start.bundle.manifest().spec());
  control.Update([&](v1::Run* run) {
    run->mutable_parent_version()->set_model(model_id);
    run->mutable_parent_version()->set_version(start.version);
    run->set_cold_start(start.cold_start);
  });
  if (absl::Status s = CheckDataFits(context, start); !s.ok()) return s;
  return start;
}

void FitColdStartNormalization(const model::Dataset& rows,
                               StartingModel* model) {
  // Floored deviations and bounded values (lib/model/normalization.h).
  *model->bundle.mutable_manifest()->mutable_normalization() =
      model::FitNormalization(model->spec.input_dim(), rows.features);
  if (model->spec.family() == v1::MODEL_FAMILY_MLP_REGRESSOR) {
    *model->bundle.mutable_target_normalization() =
        model::FitTargetNormalization(model->spec.output_dim(), rows.targets);
  }
}

}  // namespace continuum::trainer
