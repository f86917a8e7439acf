// Registry: model versions, their artifacts, validation, rollouts and the
// deployment revisions inference pods follow, with every write audited in a
// hash chain. Domain code: no gRPC (registry_service.h adapts it).
//
// Metadata lives in a RegistryStore (SQLite by default) and artifacts in a
// content-addressed BlobStore; every write and its audit entry commit in one
// transaction.
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_H_

#include <google/protobuf/field_mask.pb.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "lib/core/clock.h"
#include "lib/store/blob_store.h"
#include "services/registry/registry_store.h"

namespace continuum::registry {

class RegistryWriter;  // registry.cc: a transaction, the time and the caller.

// Who is calling, for the audit log.
struct Caller {
  // From the request's credentials; "anonymous" until auth exists;
  // "registry" for automatic steps.
  std::string actor = "anonymous";
};

struct RegistryOptions {
  core::Clock* clock = core::Clock::Real();
};

// An upload in progress: UploadVersion's metadata was accepted; bytes are
// appended chunk by chunk (never buffered whole) and Finish commits.
class Upload {
 public:
  absl::Status Append(absl::string_view chunk) {
    return writer_->Append(chunk);
  }
  uint64_t size() const { return writer_->size(); }
  const v1::UploadVersionMetadata& metadata() const { return metadata_; }

 private:
  friend class Registry;
  Upload(v1::UploadVersionMetadata metadata,
         std::unique_ptr<store::BlobWriter> w)
      : metadata_(std::move(metadata)), writer_(std::move(w)) {}
  v1::UploadVersionMetadata metadata_;
  std::unique_ptr<store::BlobWriter> writer_;
};

// An artifact being downloaded: its facts, then its bytes (re-verified).
struct Download {
  v1::ArtifactInfo info;
  std::unique_ptr<store::BlobReader> reader;
};

class Registry {
 public:
  Registry(std::unique_ptr<RegistryStore> store,
           std::unique_ptr<store::BlobStore> blobs, RegistryOptions options);

  // --- Models. Errors: INVALID_ARGUMENT (id, family, policy, plan),
  // ALREADY_EXISTS, NOT_FOUND naming the model.
  absl::StatusOr<v1::Model> RegisterModel(
      const Caller& caller, const v1::RegisterModelRequest& request);
  absl::StatusOr<v1::Model> GetModel(absl::string_view name);
  absl::StatusOr<v1::ListModelsResponse> ListModels(
      const v1::ListModelsRequest& request);
  absl::StatusOr<v1::Model> UpdateModel(const Caller& caller,
                                        const v1::UpdateModelRequest& request);

  // --- Versions.
  // Checks the metadata (model exists, a well-formed claimed SHA-256) and
  // starts writing the bytes to a temporary blob.
  absl::StatusOr<std::unique_ptr<Upload>> BeginUpload(
      const v1::UploadVersionMetadata& metadata);
  // Verifies the bytes against the claimed digest and size (DATA_LOSS and
  // nothing stored on a mismatch; INVALID_ARGUMENT for no bytes), then
  // registers the next version number, or returns the version that already
  // has these bytes (created = false). A report in the metadata is
  // submitted in the same step.
  absl::StatusOr<v1::UploadVersionResponse> FinishUpload(const Caller& caller,
                                                         Upload& upload);
  // `name` is models/{model}/versions/{n | latest | alias}.
  absl::StatusOr<v1::Version> GetVersion(absl::string_view name);
  // Filter: `state = VERSION_STATE_X` (OR-able); paging by version number.
  absl::StatusOr<v1::ListVersionsResponse> ListVersions(
      const v1::ListVersionsRequest& request);
  absl::StatusOr<Download> OpenArtifact(absl::string_view name);
  absl::StatusOr<v1::Version> SetTags(const Caller& caller,
                                      const v1::SetTagsRequest& request);
  absl::StatusOr<v1::Model> SetAlias(const Caller& caller,
                                     const v1::SetAliasRequest& request);
  absl::StatusOr<v1::Model> DeleteAlias(const Caller& caller,
                                        const v1::DeleteAliasRequest& request);

  // --- Life cycle. Illegal transitions are FAILED_PRECONDITION naming the
  // current state.
  absl::StatusOr<v1::TransitionVersionResponse> TransitionVersion(
      const Caller& caller, const v1::TransitionVersionRequest& request);
  // Applies the model's gates to the report: VALIDATED or REJECTED, the
  // decision stored with the version; a validated version then starts the
  // model's rollout plan unless it says manual_start.
  absl::StatusOr<v1::SubmitValidationResponse> SubmitValidation(
      const Caller& caller, const v1::SubmitValidationRequest& request);

  // --- Rollouts and the deployment.
  absl::StatusOr<v1::PromoteResponse> Promote(
      const Caller& caller, const v1::PromoteRequest& request);
  // Pins the canary's share (0..100) and pauses the automatic steps.
  absl::StatusOr<v1::SetTrafficResponse> SetTraffic(
      const Caller& caller, const v1::SetTrafficRequest& request);
  absl::StatusOr<v1::PauseRolloutResponse> PauseRollout(
      const Caller& caller, const v1::PauseRolloutRequest& request);
  // Resumes stepping; the current step's hold starts again.
  absl::StatusOr<v1::ResumeRolloutResponse> ResumeRollout(
      const Caller& caller, const v1::ResumeRolloutRequest& request);
  absl::StatusOr<v1::AbortRolloutResponse> AbortRollout(
      const Caller& caller, const v1::AbortRolloutRequest& request);
  absl::StatusOr<v1::RollbackResponse> Rollback(
      const Caller& caller, const v1::RollbackRequest& request);
  absl::StatusOr<v1::GetRolloutStatusResponse> GetRolloutStatus(
      absl::string_view name);
  // Records what a pod serves; canary steps wait until every ready pod
  // serves the step's revision.
  absl::StatusOr<v1::ReportServingStateResponse> ReportServingState(
      const v1::ReportServingStateRequest& request);
  // Advances canary steps whose hold is over, starts the rollout of a
  // version that was validated while another rollout ran, then (at most
  // once a minute) applies retention:
  // per model, ARCHIVED, REJECTED and ROLLED_BACK versions beyond the newest
  // keep_last_archived (default 10) are deleted (audited), and their blobs
  // once no version refers to them. Run periodically.
  absl::Status Tick();

  // Deployment revisions > `since` of `models` (empty = all), oldest first.
  absl::StatusOr<std::vector<v1::Deployment>> DeploymentsSince(
      int64_t since, const std::vector<std::string>& models, int limit = 1000);
  // The current deployment of each of `models` (empty = all) that has one,
  // by revision.
  absl::StatusOr<std::vector<v1::Deployment>> CurrentDeployments(
      const std::vector<std::string>& models);
  // The highest revision made so far.
  int64_t latest_revision() const;
  // Blocks until a revision > `after` exists, `deadline` passes or
  // `cancelled` returns true (checked every 100 ms); returns the latest
  // revision.
  int64_t WaitForRevision(int64_t after, absl::Time deadline,
                          const std::function<bool()>& cancelled);

  // --- Audit.
  absl::StatusOr<std::vector<v1::AuditEntry>> AuditEntriesAfter(int64_t after,
                                                                int limit);

 private:
  absl::StatusOr<int64_t> LoadLatestRevision();
  // Runs `fn` in one transaction; after it commits, wakes the watchers if it
  // made a deployment revision.
  absl::Status Mutate(const Caller& caller,
                      const std::function<absl::Status(RegistryWriter&)>& fn);
  absl::Status ApplyRetention();
  void Notify(int64_t revision);

  std::unique_ptr<RegistryStore> store_;
  std::unique_ptr<store::BlobStore> blobs_;
  const RegistryOptions options_;

  // Serializes an upload's commit with retention's blob deletion.
  absl::Mutex blob_mu_;

  // State below is protected by mu_.
  mutable absl::Mutex mu_;
  int64_t latest_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // Pod id -> its last report.
  std::map<std::string, v1::ReportServingStateRequest> pods_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> pod_report_times_ ABSL_GUARDED_BY(mu_);
  absl::Time last_retention_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // When this registry started (pod reports are not kept across restarts).
  const absl::Time start_time_;
};

// The SHA-256 an audit entry must carry: lowercase hex of the entry's
// serialization with `hash` cleared.
std::string AuditHash(const v1::AuditEntry& entry);

// Recomputes the chain over `entries` (in sequence order, the first with
// sequence `first_sequence` and prev_hash `first_prev_hash`). Returns the
// sequence of the first entry whose link is broken, or 0 if the chain is
// whole.
int64_t FindBrokenLink(const std::vector<v1::AuditEntry>& entries,
                       const std::string& first_prev_hash = std::string(64,
                                                                        '0'));

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_H_
