// Registry: model versions, their artifacts, validation, rollouts and the
// deployment revisions inference pods follow, with every write audited in a
// hash chain. Domain code: no gRPC (registry_service.h adapts it).
//
// Metadata lives in a RegistryStore (SQLite in the service) and artifacts
// in a content-addressed BlobStore; every write and its audit entry commit
// in one transaction. The Registry is the facade: it checks each request's
// fields (INVALID_ARGUMENT), then runs the operation in one transaction
// through the concept that owns it:
//   models.h           RegisterModel, ListModels, UpdateModel, aliases
//   versions.h         uploads, version names, ListVersions, tags,
//                      SubmitValidation
//   transitions.h      TransitionVersion (with the rollout commands'
//                      effects)
//   list_filters.h     the filters of ListModels and ListVersions
//   rollout_commands.h Promote, SetTraffic, Pause/Resume/AbortRollout,
//                      Rollback
//   rollouts.h         starting, stepping and finishing rollouts; Tick
//   pod_reports.h      what the pods serve (in memory)
//   retention.h        deleting retired versions and their blobs
//   audit_chain.h      the audit entries' hash chain
// Deployment revisions are published on revisions() after they commit.
//
// Thread-safe: the store serializes transactions.
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "lib/core/clock.h"
#include "lib/core/sequence_notifier.h"
#include "lib/store/blob_store.h"
#include "services/registry/audit_chain.h"
#include "services/registry/pod_reports.h"
#include "services/registry/registry_store.h"
#include "services/registry/registry_writer.h"

namespace continuum::registry {

// The audit actions another service may record (RecordAuditEvent).
const std::vector<std::string>& RecordableAuditActions();

struct RegistryOptions {
  core::Clock* clock = core::Clock::Real();
  // Uploads must be model bundles that fit their model (artifact_check.h);
  // others are refused with INVALID_ARGUMENT and not stored. Off only in
  // tests about metadata, which upload arbitrary bytes.
  bool check_artifacts = true;
  // Largest artifact an upload may carry (RegistryConfig).
  int64_t max_artifact_bytes = int64_t{2} << 30;
};

// An upload in progress: UploadVersion's metadata was accepted; bytes are
// appended chunk by chunk and FinishUpload commits. With the artifact
// checks on (RegistryOptions) the bytes are also kept in memory, for the
// check after the digest is verified (a pod holds the whole bundle in
// memory too); reading them back from the blob store cost 7x the upload's
// time in bench/registry_bench.
class Upload {
 public:
  absl::Status Append(absl::string_view chunk) {
    if (static_cast<int64_t>(writer_->size() + chunk.size()) > max_bytes_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the artifact is larger than the registry's max_artifact_bytes (",
          max_bytes_, "); nothing was stored"));
    }
    if (keep_bytes_) bytes_.append(chunk.data(), chunk.size());
    return writer_->Append(chunk);
  }
  uint64_t size() const { return writer_->size(); }
  const v1::UploadVersionMetadata& metadata() const { return metadata_; }

 private:
  friend class Registry;
  Upload(v1::UploadVersionMetadata metadata,
         std::unique_ptr<store::BlobWriter> w, bool keep_bytes,
         int64_t max_bytes)
      : metadata_(std::move(metadata)),
        writer_(std::move(w)),
        keep_bytes_(keep_bytes),
        max_bytes_(max_bytes) {
    if (keep_bytes_ && metadata_.size_bytes() > 0) {
      bytes_.reserve(static_cast<size_t>(metadata_.size_bytes()));
    }
  }
  v1::UploadVersionMetadata metadata_;
  std::unique_ptr<store::BlobWriter> writer_;
  const bool keep_bytes_;
  const int64_t max_bytes_;
  std::string bytes_;
};

// An artifact being downloaded: its facts, then its bytes (re-verified).
struct Download {
  v1::ArtifactInfo info;
  std::unique_ptr<store::BlobReader> reader;
};

class Registry {
 public:
  // Builds a registry over `store` and `blobs`, reading the latest
  // deployment revision; the store's error if it cannot be read.
  static absl::StatusOr<std::unique_ptr<Registry>> Create(
      std::unique_ptr<RegistryStore> store,
      std::unique_ptr<store::BlobStore> blobs, RegistryOptions options = {});

  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

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
  // Filter: list_filters.h; paging by version number in opaque tokens
  // (lib/core/page_token.h).
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
  // current state; TransitionVersion has the effects of transitions.h.
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
  // once a minute) applies retention (retention.h). Run periodically.
  absl::Status Tick();

  // Deployment revisions > `since` of `models` (empty = all), oldest first.
  absl::StatusOr<std::vector<v1::Deployment>> DeploymentsSince(
      int64_t since, const std::vector<std::string>& models, int limit = 1000);
  // The current deployment of each of `models` (empty = all) that has one,
  // by revision.
  absl::StatusOr<std::vector<v1::Deployment>> CurrentDeployments(
      const std::vector<std::string>& models);
  // The highest deployment revision committed so far, published after each
  // commit that makes one (never while a lock of the registry is held).
  // Watchers wait on it (WaitAbove) or subscribe to it.
  core::SequenceNotifier& revisions() { return revisions_; }
  int64_t latest_revision() const { return revisions_.latest(); }

  // --- Audit.
  absl::StatusOr<std::vector<v1::AuditEntry>> AuditEntriesAfter(int64_t after,
                                                                int limit);
  // Appends another service's decision (RecordAuditEventRequest's actions,
  // RecordableAuditActions) as `caller`; returns the entry.
  // INVALID_ARGUMENT for another action or a before/after state over
  // 16 KiB serialized.
  absl::StatusOr<v1::AuditEntry> RecordAuditEvent(
      const Caller& caller, const v1::RecordAuditEventRequest& request);

 private:
  Registry(std::unique_ptr<RegistryStore> store,
           std::unique_ptr<store::BlobStore> blobs, RegistryOptions options,
           int64_t latest_revision);

  // CheckArtifact of `bytes` against `model` (bare id).
  absl::Status CheckUploadedArtifact(const std::string& model,
                                     absl::string_view bytes);
  // Runs `fn` in one transaction as `caller`; after it commits, publishes
  // the deployment revision it made, if any.
  absl::Status Mutate(const Caller& caller,
                      const std::function<absl::Status(RegistryWriter&)>& fn);
  // Mutate for an operation with a result.
  template <typename T>
  absl::StatusOr<T> Write(
      const Caller& caller,
      const std::function<absl::StatusOr<T>(RegistryWriter&)>& fn);
  // Write of apply(w, id, request), `id` the model of request.name().
  template <typename Response, typename Request>
  absl::StatusOr<Response> WriteModel(
      const Caller& caller, const Request& request,
      absl::StatusOr<Response> (*apply)(RegistryWriter&, const std::string&,
                                        const Request&));
  // Runs `fn` in one transaction that makes no revision.
  template <typename T>
  absl::StatusOr<T> Read(
      const std::function<absl::StatusOr<T>(RegistryWriter&)>& fn);
  absl::Status ApplyRetention();
  // Deletes the blobs of `orphans` that no version refers to now.
  void DeleteOrphanBlobs(const std::vector<std::string>& orphans)
      ABSL_LOCKS_EXCLUDED(blob_mu_);
  // Deletes the blob `sha256` if no version of any model refers to it
  // (retention's orphans, an upload the artifact check refused).
  void DeleteBlobIfUnreferenced(const std::string& sha256)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(blob_mu_);

  std::unique_ptr<RegistryStore> store_;
  std::unique_ptr<store::BlobStore> blobs_;
  const RegistryOptions options_;
  // When this registry started (pod reports are not kept across restarts).
  const absl::Time start_time_;
  core::SequenceNotifier revisions_;
  PodReports pods_;

  // Serializes an upload's commit with retention's blob deletion.
  absl::Mutex blob_mu_;

  absl::Mutex retention_mu_;
  absl::Time last_retention_ ABSL_GUARDED_BY(retention_mu_) =
      absl::InfinitePast();
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_H_
