#include "services/trainer/federated_run.h"

#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "lib/model/bundle_validation.h"
#include "services/trainer/candidate_upload.h"
#include "services/trainer/data_scan.h"
#include "services/trainer/run_context.h"
#include "services/trainer/training_rows.h"

namespace continuum::trainer {
namespace {

using internal::v1::ModelBundle;

int64_t Elements(const v1::ParameterInfo& p) {
  int64_t n = 1;
  for (int64_t d : p.shape()) n *= d;
  return n;
}

// The tensor of `weights` (a bundle's, const or not) for each parameter of
// `manifest`, in order.
template <typename Weights>
absl::StatusOr<std::vector<decltype(&*std::declval<Weights&>().begin())>>
ParameterTensors(const v1::ArtifactManifest& manifest, Weights& weights) {
  std::vector<decltype(&*std::declval<Weights&>().begin())> tensors;
  for (const v1::ParameterInfo& p : model::ManifestParameters(manifest)) {
    decltype(&*weights.begin()) found = nullptr;
    for (auto& t : weights) {
      if (t.name() == p.name()) found = &t;
    }
    if (found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("the bundle has no weights for parameter ", p.name()));
    }
    if (found->tensor().data_size() != Elements(p)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter ", p.name(), " holds ", found->tensor().data_size(),
          " values; its shape needs ", Elements(p)));
    }
    tensors.push_back(found);
  }
  return tensors;
}

class FederatedCandidateRun {
 public:
  FederatedCandidateRun(const TrainingExecutorOptions& options,
                        const v1::Run& run, RunControl& control)
      : options_(options), context_(options, run, control) {}

  RunOutcome Execute() {
    const v1::Run& run = context_.run();
    RunControl& control = context_.control();
    if (!options_.federated_aggregate) {
      return context_.Ended(absl::FailedPreconditionError(
          "this trainer is not a federated coordinator; only the "
          "coordinator runs RUN_TRIGGER_FEDERATED"));
    }
    if (options_.registry == nullptr) {
      return context_.Ended(absl::FailedPreconditionError(
          "no registry is configured (registry_address)"));
    }
    absl::StatusOr<FederatedAggregate> aggregate =
        options_.federated_aggregate(run.round());
    if (!aggregate.ok()) return context_.Ended(aggregate.status());
    const int64_t version = aggregate->base_version.version();
    control.SetPhase(v1::RUN_PHASE_FETCHING_MODEL,
                     absl::StrCat("downloading version ", version,
                                  ", the base of ", run.round()));
    absl::StatusOr<Artifact> artifact = options_.registry->DownloadArtifact(
        run.model(), version, context_.deadline());
    if (!artifact.ok()) {
      return context_.Ended(absl::Status(
          artifact.status().code(),
          absl::StrCat("registry: downloading version ", version, ": ",
                       artifact.status().message())));
    }
    absl::StatusOr<ModelBundle> base = model::ParseBundle(artifact->bytes);
    if (!base.ok()) {
      return context_.Ended(absl::DataLossError(absl::StrCat(
          "version ", version, ": ", base.status().message())));
    }
    if (absl::Status s = model::ValidateBundle(*base); !s.ok()) {
      return context_.Ended(absl::FailedPreconditionError(absl::StrCat(
          "version ", version, " is not a bundle this trainer can apply an "
          "update to: ", s.message())));
    }
    control.Update([&](v1::Run* r) {
      r->mutable_parent_version()->set_model(r->model());
      r->mutable_parent_version()->set_version(version);
      r->set_train_records(aggregate->total_samples);
    });
    candidate_.bundle = *base;
    if (absl::Status s = AddToParameters(aggregate->step, &candidate_.bundle);
        !s.ok()) {
      return context_.Ended(absl::Status(
          s.code(), absl::StrCat("applying ", run.round(), "'s aggregate: ",
                                 s.message())));
    }
    if (absl::Status s = model::ValidateBundle(candidate_.bundle); !s.ok()) {
      return context_.Ended(absl::InvalidArgumentError(absl::StrCat(
          "the aggregate made an invalid candidate: ", s.message())));
    }
    if (absl::Status s = Evaluate(*base, version); !s.ok()) {
      return context_.Ended(s);
    }
    candidate_.data_window = run.data_window();
    candidate_.parent_version = version;
    candidate_.train_records = aggregate->total_samples;
    absl::StatusOr<SerializedCandidate> bytes =
        FinalizeCandidate(context_, &candidate_);
    if (!bytes.ok()) return context_.Ended(bytes.status());
    return UploadCandidate(context_, candidate_, *bytes).outcome;
  }

 private:
  // The candidate and the base on the coordinator's own data, when it has
  // some.
  absl::Status Evaluate(const ModelBundle& base, int64_t version) {
    context_.control().SetPhase(
        v1::RUN_PHASE_EVALUATING,
        "evaluating the candidate and its base on the coordinator's data");
    std::vector<std::string> notes = {absl::StrCat(
        "federated: the aggregate of ", context_.run().round(),
        " applied to version ", version)};
    const std::string& dataset = context_.config().dataset();
    if (options_.collector == nullptr) {
      return absl::FailedPreconditionError(
          "the coordinator has no collector (collector_address): it "
          "evaluates each round's candidate on its own data, and the "
          "registry requires a held_out evaluation");
    }
    absl::StatusOr<v1::Dataset> got = options_.collector->GetDataset(dataset);
    if (!got.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the coordinator's collector has no data set ", dataset, " (",
          got.status().message(), "): it evaluates each round's candidate "
          "on it"));
    }
    const v1::ModelSpec spec = model::ResolveSpec(base.manifest().spec());
    const RowFormat format =
        RowFormat::For(spec, got->schema(), /*anomaly_labels=*/false);
    v1::ScanRequest scan;
    scan.set_dataset(dataset);
    *scan.mutable_window() = context_.run().data_window();
    scan.set_only_labeled(format.OnlyLabeled());
    scan.set_batch_size(options_.scan_batch_rows);
    Rows rows;
    bool cut = false;
    ScanOptions scan_options;
    scan_options.cap = format.RowsInBudget(
        context_.config().resources().memory_budget_bytes());
    scan_options.what = "the evaluation set";
    if (absl::Status s =
            ScanRows(context_, scan, format, scan_options, &rows, &cut);
        !s.ok()) {
      return s;
    }
    if (rows.size() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data set ", dataset, " of the coordinator's collector has no "
          "usable rows in the run's window: the candidate cannot be "
          "evaluated"));
    }
    const model::Dataset data = rows.All();
    context_.control().Update(
        [&](v1::Run* r) { r->set_holdout_records(rows.size()); });
    v1::Evaluation* evaluation = candidate_.report.add_evaluations();
    evaluation->set_evaluation_set("held_out");
    absl::StatusOr<v1::Metrics> candidate =
        EvaluateOn(candidate_.bundle, data, "the candidate", "held_out");
    if (!candidate.ok()) return candidate.status();
    absl::StatusOr<v1::Metrics> baseline =
        EvaluateOn(base, data, "the base version", "held_out");
    if (!baseline.ok()) return baseline.status();
    *evaluation->mutable_candidate() = *candidate;
    *evaluation->mutable_baseline() = *baseline;
    evaluation->mutable_baseline_version()->set_model(context_.run().model());
    evaluation->mutable_baseline_version()->set_version(version);
    candidate_.holdout_metrics = *candidate;
    candidate_.holdout_records = rows.size();
    RecordReport(context_, notes, &candidate_.report);
    return context_.CheckStop();
  }

  const TrainingExecutorOptions& options_;
  RunContext context_;
  Candidate candidate_;
};

}  // namespace

int64_t ParameterCount(const v1::ArtifactManifest& manifest) {
  int64_t n = 0;
  for (const v1::ParameterInfo& p : model::ManifestParameters(manifest)) {
    n += Elements(p);
  }
  return n;
}

absl::StatusOr<std::vector<float>> FlattenParameters(const ModelBundle& bundle) {
  auto tensors = ParameterTensors(bundle.manifest(), bundle.weights());
  if (!tensors.ok()) return tensors.status();
  std::vector<float> flat;
  for (const internal::v1::NamedTensor* t : *tensors) {
    flat.insert(flat.end(), t->tensor().data().begin(), t->tensor().data().end());
  }
  return flat;
}

absl::Status AddToParameters(absl::Span<const float> step, ModelBundle* bundle) {
  auto tensors = ParameterTensors(bundle->manifest(), *bundle->mutable_weights());
  if (!tensors.ok()) return tensors.status();
  int64_t total = 0;
  for (const internal::v1::NamedTensor* t : *tensors) {
    total += t->tensor().data_size();
  }
  if (total != static_cast<int64_t>(step.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the update has ", step.size(),
                     " values; the model has ", total, " parameters"));
  }
  size_t offset = 0;
  for (internal::v1::NamedTensor* t : *tensors) {
    auto* data = t->mutable_tensor()->mutable_data();
    for (int i = 0; i < data->size(); ++i) {
      data->Set(i, data->Get(i) + step[offset + i]);
    }
    offset += data->size();
  }
  return absl::OkStatus();
}

RunOutcome RunFederatedCandidate(const TrainingExecutorOptions& options,
                                 const v1::Run& run, RunControl& control) {
  FederatedCandidateRun federated(options, run, control);
  return federated.Execute();
}

}  // namespace continuum::trainer
