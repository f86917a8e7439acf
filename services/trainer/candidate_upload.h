// The last phases of every run: a trained candidate's validation report,
// its bundle with lineage (RUN_PHASE_FINALIZING), and its upload to the
// registry (RUN_PHASE_UPLOADING), whose decision ends a batch run and
// settles each candidate of an online run.
//
// - RecordReport completes the report (run, evaluate time, notes) and
//   records it in the run with the candidate's and production's held-out
//   metrics (its first evaluation, when it has one: a federated
//   coordinator without evaluation data has none).
// - FinalizeCandidate writes the lineage into the manifest (model, parent,
//   run, data window, code version, tags `trigger`, `cold_start`,
//   `online_updates`), validates and serializes the bundle.
// - UploadCandidate calls RunControl::BeginUpload, then UploadVersion with
//   the lineage, the counts and the report in the metadata. The registry's
//   decision makes the outcome SUCCEEDED (approved) or REJECTED; an upload
//   of bytes uploaded before is decided by that version's state. The run's
//   record gets candidate_version and decision.
//
// Thread safety: the run's thread.
#ifndef CONTINUUM_SERVICES_TRAINER_CANDIDATE_UPLOAD_H_
#define CONTINUUM_SERVICES_TRAINER_CANDIDATE_UPLOAD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/registry.pb.h"
#include "lib/model/dataset.h"
#include "services/trainer/run_context.h"

namespace continuum::trainer {

// A candidate a run trained, and what its upload says about it.
struct Candidate {
  internal::v1::ModelBundle bundle;
  v1::Metrics holdout_metrics;
  v1::ValidationReport report;
  // The event-time window it trained on.
  v1::TimeWindow data_window;
  // The version it descends from (0: none, a cold start).
  int64_t parent_version = 0;
  bool cold_start = false;
  int64_t train_records = 0;
  int64_t replay_records = 0;
  int64_t holdout_records = 0;
  // Online runs: the updates applied so far (tag `online_updates`).
  std::optional<int64_t> online_updates;
};

// A finalized candidate's bytes.
struct SerializedCandidate {
  std::string bytes;
  std::string sha256;
};

// How an upload ended: the outcome (SUCCEEDED, REJECTED; FAILED or
// CANCELLED as RunContext::Ended says for a failed upload) and the version
// the registry gave the candidate (0 if none).
struct UploadResult {
  RunOutcome outcome;
  int64_t version = 0;
};

// Evaluates `bundle` on `data`. Errors keep their code, with the message
// "evaluating <who> on <set>: ...".
absl::StatusOr<v1::Metrics> EvaluateOn(const internal::v1::ModelBundle& bundle,
                                       const model::Dataset& data,
                                       absl::string_view who,
                                       absl::string_view set);

// Completes `report` with `notes` and records it in the run (see above).
void RecordReport(RunContext& context, const std::vector<std::string>& notes,
                  v1::ValidationReport* report);

// RUN_PHASE_FINALIZING: writes the lineage into candidate->bundle and
// serializes it. INTERNAL for an invalid bundle; CANCELLED when the run
// stopped.
absl::StatusOr<SerializedCandidate> FinalizeCandidate(RunContext& context,
                                                      Candidate* candidate);

// RUN_PHASE_UPLOADING (see above).
UploadResult UploadCandidate(RunContext& context, const Candidate& candidate,
                             const SerializedCandidate& serialized);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_CANDIDATE_UPLOAD_H_
