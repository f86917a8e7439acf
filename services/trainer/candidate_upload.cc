#include "services/trainer/candidate_upload.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "lib/model/evaluation.h"
#include "lib/store/blob_store.h"

namespace continuum::trainer {
namespace {

using internal::v1::ModelBundle;

v1::UploadVersionMetadata UploadMetadata(const RunContext& context,
                                         const Candidate& candidate,
                                         const SerializedCandidate& bytes) {
  const v1::Run& run = context.run();
  const ModelBundle& c = candidate.bundle;
  v1::UploadVersionMetadata meta;
  meta.set_model(run.model());
  meta.set_sha256(bytes.sha256);
  meta.set_size_bytes(static_cast<int64_t>(bytes.bytes.size()));
  *meta.mutable_parent() = c.manifest().parent();
  *meta.mutable_metrics() = candidate.holdout_metrics;
  *meta.mutable_data_window() = candidate.data_window;
  *meta.mutable_hyperparameters() = c.manifest().hyperparameters();
  meta.set_code_version(context.options().code_version);
  auto& tags = *meta.mutable_tags();
  tags["trigger"] = v1::RunTrigger_Name(run.trigger());
  tags["train_records"] = absl::StrCat(candidate.train_records);
  tags["replay_records"] = absl::StrCat(candidate.replay_records);
  tags["holdout_records"] = absl::StrCat(candidate.holdout_records);
  meta.set_description(absl::StrCat(
      "trained by ", run.name(), " (", v1::RunTrigger_Name(run.trigger()),
      run.reason().empty() ? "" : absl::StrCat(": ", run.reason()), ")"));
  *meta.mutable_manifest() = c.manifest();
  meta.set_run(run.name());
  *meta.mutable_validation_report() = candidate.report;
  return meta;
}

// The outcome of an upload the registry answered.
RunOutcome Decision(const v1::UploadVersionResponse& response) {
  const v1::Version& version = response.version();
  if (response.has_decision()) {
    if (response.decision().approved()) return {v1::RUN_STATE_SUCCEEDED, {}};
    return {v1::RUN_STATE_REJECTED, absl::FailedPreconditionError(absl::StrCat(
                                        "version ", version.version(), " ",
                                        response.decision().summary()))};
  }
  // The same bytes were uploaded before: that version's fate decides.
  switch (version.state()) {
    case v1::VERSION_STATE_VALIDATED:
    case v1::VERSION_STATE_CANARY:
    case v1::VERSION_STATE_SHADOW:
    case v1::VERSION_STATE_PRODUCTION:
    case v1::VERSION_STATE_ARCHIVED:
      return {v1::RUN_STATE_SUCCEEDED, {}};
    case v1::VERSION_STATE_REJECTED:
      return {v1::RUN_STATE_REJECTED,
              absl::FailedPreconditionError(
                  absl::StrCat("the candidate is identical to version ",
                               version.version(), ", which was rejected"))};
    default:
      return {v1::RUN_STATE_FAILED,
              absl::FailedPreconditionError(absl::StrCat(
                  "the candidate is identical to version ", version.version(),
                  ", which is ", v1::VersionState_Name(version.state())))};
  }
}

}  // namespace

absl::StatusOr<v1::Metrics> EvaluateOn(const ModelBundle& bundle,
                                       const model::Dataset& data,
                                       absl::string_view who,
                                       absl::string_view set) {
  absl::StatusOr<v1::Metrics> metrics = model::Evaluate(bundle, data);
  if (!metrics.ok()) {
    return absl::Status(metrics.status().code(),
                        absl::StrCat("evaluating ", who, " on ", set, ": ",
                                     metrics.status().message()));
  }
  return metrics;
}

void RecordReport(RunContext& context, const std::vector<std::string>& notes,
                  v1::ValidationReport* report) {
  report->set_run(context.run().name());
  *report->mutable_evaluate_time() = core::ToProto(context.Now());
  report->set_notes(absl::StrJoin(notes, "; "));
  const v1::ValidationReport copy = *report;
  context.control().Update([&](v1::Run* run) {
    // A federated coordinator without evaluation data has none.
    if (copy.evaluations_size() > 0) {
      *run->mutable_candidate_metrics() = copy.evaluations(0).candidate();
      if (copy.evaluations(0).has_baseline()) {
        *run->mutable_production_metrics() = copy.evaluations(0).baseline();
      }
    }
    *run->mutable_report() = copy;
  });
}

absl::StatusOr<SerializedCandidate> FinalizeCandidate(RunContext& context,
                                                      Candidate* candidate) {
  context.control().SetPhase(v1::RUN_PHASE_FINALIZING,
                             "writing the candidate bundle");
  const v1::Run& run = context.run();
  ModelBundle& c = candidate->bundle;
  v1::ArtifactManifest* m = c.mutable_manifest();
  m->set_model(run.model());
  m->mutable_parent()->set_model(run.model());
  m->mutable_parent()->set_version(candidate->parent_version);
  m->set_run(run.name());
  *m->mutable_data_window() = candidate->data_window;
  if (candidate->online_updates.has_value()) {
    (*m->mutable_tags())["online_updates"] =
        absl::StrCat(*candidate->online_updates);
  }
  m->set_code_version(context.options().code_version);
  (*m->mutable_tags())["trigger"] = v1::RunTrigger_Name(run.trigger());
  if (candidate->cold_start) (*m->mutable_tags())["cold_start"] = "true";
  if (absl::Status s = model::ValidateBundle(c); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("the candidate bundle is invalid: ", s.message()));
  }
  absl::StatusOr<std::string> bytes = model::SerializeBundle(c);
  if (!bytes.ok()) return bytes.status();
  SerializedCandidate out;
  out.bytes = *std::move(bytes);
  out.sha256 = store::Sha256Hex(out.bytes);
  if (absl::Status s = context.CheckStop(); !s.ok()) return s;
  return out;
}

UploadResult UploadCandidate(RunContext& context, const Candidate& candidate,
                             const SerializedCandidate& serialized) {
  if (absl::Status s = context.control().BeginUpload(); !s.ok()) {
    return {context.Ended(s), 0};
  }
  absl::StatusOr<v1::UploadVersionResponse> response =
      context.registry().UploadVersion(
          UploadMetadata(context, candidate, serialized), serialized.bytes,
          context.deadline());
  if (!response.ok()) {
    return {
        context.Ended(absl::Status(
            response.status().code(),
            absl::StrCat("registry: upload: ", response.status().message()))),
        0};
  }
  const v1::Version& version = response->version();
  const std::string& model = context.run().model();
  context.control().Update([&](v1::Run* run) {
    run->mutable_candidate_version()->set_model(model);
    run->mutable_candidate_version()->set_version(version.version());
    if (response->has_decision()) {
      *run->mutable_decision() = response->decision();
    } else if (version.has_validation()) {
      *run->mutable_decision() = version.validation();
    }
  });
  return {Decision(*response), version.version()};
}

}  // namespace continuum::trainer
