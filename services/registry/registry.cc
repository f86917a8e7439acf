#include "services/registry/registry.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/core/logging.h"
#include "lib/core/page_token.h"
#include "lib/core/resource_names.h"
#include "services/registry/artifact_check.h"
#include "services/registry/models.h"
#include "services/registry/retention.h"
#include "services/registry/rollout_commands.h"
#include "services/registry/rollout_plan.h"
#include "services/registry/rollouts.h"
#include "services/registry/transitions.h"
#include "services/registry/validation_gates.h"
#include "services/registry/versions.h"
#include "spdlog/spdlog.h"

namespace continuum::registry {
namespace {

// The caller of the registry's own automatic steps.
const Caller& RegistryCaller() {
  static const Caller* const caller = new Caller{"registry"};
  return *caller;
}

// A List call's page size: 0 = 100, at most 1000; INVALID_ARGUMENT if
// negative.
absl::StatusOr<int> PageSize(int requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  return requested == 0 ? 100 : std::min(requested, 1000);
}

// The model id of a request's `models/{model}` name.
absl::StatusOr<std::string> ModelId(absl::string_view name) {
  return core::ParseResourceName(name, "models", "model");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Registry>> Registry::Create(
    std::unique_ptr<RegistryStore> store,
    std::unique_ptr<store::BlobStore> blobs, RegistryOptions options) {
  int64_t latest = 0;
  absl::Status s = store->Transact([&](RegistryTx& tx) {
    absl::StatusOr<int64_t> r = tx.LatestRevision();
    if (!r.ok()) return r.status();
    latest = *r;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return std::unique_ptr<Registry>(
      new Registry(std::move(store), std::move(blobs), options, latest));
}

Registry::Registry(std::unique_ptr<RegistryStore> store,
                   std::unique_ptr<store::BlobStore> blobs,
                   RegistryOptions options, int64_t latest_revision)
    : store_(std::move(store)),
      blobs_(std::move(blobs)),
      options_(options),
      start_time_(options_.clock->Now()),
      revisions_(latest_revision) {}

absl::Status Registry::Mutate(
    const Caller& caller,
    const std::function<absl::Status(RegistryWriter&)>& fn) {
  int64_t revision = 0;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), caller);
    absl::Status st = fn(w);
    revision = w.new_revision();
    return st;
  });
  // Watchers learn of a revision only once it is committed.
  if (s.ok() && revision != 0) revisions_.Publish(revision);
  return s;
}

template <typename T>
absl::StatusOr<T> Registry::Write(
    const Caller& caller,
    const std::function<absl::StatusOr<T>(RegistryWriter&)>& fn) {
  std::optional<T> out;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) -> absl::Status {
    absl::StatusOr<T> result = fn(w);
    if (!result.ok()) return result.status();
    out = *std::move(result);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return *std::move(out);
}

template <typename Response, typename Request>
absl::StatusOr<Response> Registry::WriteModel(
    const Caller& caller, const Request& request,
    absl::StatusOr<Response> (*apply)(RegistryWriter&, const std::string&,
                                      const Request&)) {
  absl::StatusOr<std::string> id = ModelId(request.name());
  if (!id.ok()) return id.status();
  return Write<Response>(
      caller, [&](RegistryWriter& w) { return apply(w, *id, request); });
}

template <typename T>
absl::StatusOr<T> Registry::Read(
    const std::function<absl::StatusOr<T>(RegistryWriter&)>& fn) {
  std::optional<T> out;
  absl::Status s = store_->Transact([&](RegistryTx& tx) -> absl::Status {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    absl::StatusOr<T> result = fn(w);
    if (!result.ok()) return result.status();
    out = *std::move(result);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return *std::move(out);
}

// ---------------------------------------------------------------------------
// Models

absl::StatusOr<v1::Model> Registry::RegisterModel(
    const Caller& caller, const v1::RegisterModelRequest& request) {
  if (absl::Status s = CheckNewModel(request); !s.ok()) return s;
  return Write<v1::Model>(
      caller, [&](RegistryWriter& w) { return CreateModel(w, request); });
}

absl::StatusOr<v1::Model> Registry::GetModel(absl::string_view name) {
  absl::StatusOr<std::string> id = ModelId(name);
  if (!id.ok()) return id.status();
  return Read<v1::Model>([&](RegistryWriter& w) { return w.Model(*id); });
}

absl::StatusOr<v1::ListModelsResponse> Registry::ListModels(
    const v1::ListModelsRequest& request) {
  absl::StatusOr<int> page_size = PageSize(request.page_size());
  if (!page_size.ok()) return page_size.status();
  absl::StatusOr<ModelFilter> filter = ModelFilter::Parse(request.filter());
  if (!filter.ok()) return filter.status();
  const std::string query = absl::StrCat("ListModels\n", request.filter());
  absl::StatusOr<std::string> after =
      core::DecodePageToken(request.page_token(), query);
  if (!after.ok()) return after.status();
  return Read<v1::ListModelsResponse>([&](RegistryWriter& w) {
    return ListModelsPage(w.tx(), *filter, *after, *page_size, query);
  });
}

absl::StatusOr<v1::Model> Registry::UpdateModel(
    const Caller& caller, const v1::UpdateModelRequest& request) {
  absl::StatusOr<std::string> id = ModelId(request.model().name());
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.name: ", id.status().message()));
  }
  if (absl::Status s = CheckUpdateMask(request.update_mask()); !s.ok()) {
    return s;
  }
  return Write<v1::Model>(caller, [&](RegistryWriter& w) {
    return ApplyModelUpdate(w, *id, request);
  });
}

absl::StatusOr<v1::Model> Registry::SetAlias(
    const Caller& caller, const v1::SetAliasRequest& request) {
  return WriteModel(caller, request, ApplySetAlias);
}

absl::StatusOr<v1::Model> Registry::DeleteAlias(
    const Caller& caller, const v1::DeleteAliasRequest& request) {
  return WriteModel(caller, request, ApplyDeleteAlias);
}

// ---------------------------------------------------------------------------
// Versions

absl::StatusOr<std::unique_ptr<Upload>> Registry::BeginUpload(
    const v1::UploadVersionMetadata& metadata) {
  if (absl::Status s = CheckUploadMetadata(metadata); !s.ok()) return s;
  if (metadata.size_bytes() > options_.max_artifact_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.size_bytes: ", metadata.size_bytes(),
        " is larger than the registry's max_artifact_bytes (",
        options_.max_artifact_bytes, ")"));
  }
  absl::Status exists = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    return w.Model(metadata.model()).status();
  });
  if (!exists.ok()) return exists;
  absl::StatusOr<std::unique_ptr<store::BlobWriter>> writer =
      blobs_->NewWriter();
  if (!writer.ok()) return writer.status();
  return std::unique_ptr<Upload>(
      new Upload(metadata, *std::move(writer), options_.check_artifacts,
                 options_.max_artifact_bytes));
}

absl::StatusOr<v1::UploadVersionResponse> Registry::FinishUpload(
    const Caller& caller, Upload& upload) {
  const v1::UploadVersionMetadata& m = upload.metadata();
  absl::StatusOr<v1::UploadVersionResponse> response;
  {
    // Held until the version referring to the blob has committed, so that
    // retention cannot delete the blob in between (see ApplyRetention).
    absl::MutexLock blob_lock(&blob_mu_);
    absl::StatusOr<std::string> digest = upload.writer_->Finish(
        m.sha256(), m.size_bytes() > 0 ? m.size_bytes() : -1);
    if (!digest.ok()) return digest.status();
    if (options_.check_artifacts) {
      absl::Status s = CheckUploadedArtifact(m.model(), upload.bytes_);
      upload.bytes_.clear();
      upload.bytes_.shrink_to_fit();
      if (!s.ok()) {
        // Refused bytes stay only if a version of any model refers to them.
        DeleteBlobIfUnreferenced(*digest);
        return s;
      }
    }
    response = Write<v1::UploadVersionResponse>(caller, [&](RegistryWriter& w) {
      return CreateVersion(w, m, *digest, static_cast<int64_t>(upload.size()));
    });
  }
  if (!response.ok() || !response->created() || !m.has_validation_report()) {
    return response;
  }
  v1::SubmitValidationRequest submit;
  submit.set_name(response->version().name());
  *submit.mutable_report() = m.validation_report();
  absl::StatusOr<v1::SubmitValidationResponse> validated =
      SubmitValidation(caller, submit);
  if (!validated.ok()) return validated.status();
  *response->mutable_version() = validated->version();
  *response->mutable_decision() = validated->decision();
  return response;
}

absl::Status Registry::CheckUploadedArtifact(const std::string& model,
                                             absl::string_view bytes) {
  absl::StatusOr<v1::Model> found =
      Read<v1::Model>([&](RegistryWriter& w) { return w.Model(model); });
  if (!found.ok()) return found.status();
  return CheckArtifact(*found, bytes);
}

absl::StatusOr<v1::Version> Registry::GetVersion(absl::string_view name) {
  absl::StatusOr<VersionRef> ref = ParseVersionName(name);
  if (!ref.ok()) return ref.status();
  return Read<v1::Version>(
      [&](RegistryWriter& w) { return ResolveVersion(w, *ref); });
}

absl::StatusOr<v1::ListVersionsResponse> Registry::ListVersions(
    const v1::ListVersionsRequest& request) {
  absl::StatusOr<std::string> model = ModelId(request.parent());
  if (!model.ok()) return model.status();
  absl::StatusOr<int> page_size = PageSize(request.page_size());
  if (!page_size.ok()) return page_size.status();
  absl::StatusOr<VersionFilter> filter = VersionFilter::Parse(request.filter());
  if (!filter.ok()) return filter.status();
  const std::string query =
      absl::StrCat("ListVersions\n", request.parent(), "\n", request.filter());
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), query);
  if (!position.ok()) return position.status();
  int64_t before = 0;
  if (!position->empty() &&
      (!absl::SimpleAtoi(*position, &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token: malformed position");
  }
  return Read<v1::ListVersionsResponse>(
      [&](RegistryWriter& w) -> absl::StatusOr<v1::ListVersionsResponse> {
        if (absl::Status s = w.Model(*model).status(); !s.ok()) return s;
        return ListVersionsPage(w.tx(), *model, *filter, before, *page_size,
                                request.brief(), query);
      });
}

absl::StatusOr<Download> Registry::OpenArtifact(absl::string_view name) {
  absl::StatusOr<v1::Version> version = GetVersion(name);
  if (!version.ok()) return version.status();
  absl::StatusOr<std::unique_ptr<store::BlobReader>> reader =
      blobs_->Open(version->sha256());
  if (!reader.ok()) {
    if (absl::IsNotFound(reader.status())) {
      return absl::DataLossError(
          absl::StrCat("the artifact of ", version->name(), " (",
                       version->sha256(), ") is missing from the blob store"));
    }
    return reader.status();
  }
  Download download;
  download.info.mutable_version()->set_model(
      std::string(core::ModelIdOf(version->name())));
  download.info.mutable_version()->set_version(version->version());
  download.info.set_sha256(version->sha256());
  download.info.set_size_bytes(version->size_bytes());
  download.reader = *std::move(reader);
  return download;
}

absl::StatusOr<v1::Version> Registry::SetTags(
    const Caller& caller, const v1::SetTagsRequest& request) {
  absl::StatusOr<v1::Version> current = GetVersion(request.name());
  if (!current.ok()) return current.status();
  const std::string model(core::ModelIdOf(current->name()));
  return Write<v1::Version>(caller, [&](RegistryWriter& w) {
    return ApplySetTags(w, model, current->version(), request);
  });
}

// ---------------------------------------------------------------------------
// Life cycle

absl::StatusOr<v1::TransitionVersionResponse> Registry::TransitionVersion(
    const Caller& caller, const v1::TransitionVersionRequest& request) {
  absl::StatusOr<VersionNumber> version =
      ParseVersionNumber(request.name(), "TransitionVersion");
  if (!version.ok()) return version.status();
  return Write<v1::TransitionVersionResponse>(caller, [&](RegistryWriter& w) {
    return ApplyTransition(w, *version, request);
  });
}

absl::StatusOr<v1::SubmitValidationResponse> Registry::SubmitValidation(
    const Caller& caller, const v1::SubmitValidationRequest& request) {
  absl::StatusOr<VersionNumber> version =
      ParseVersionNumber(request.name(), "SubmitValidation");
  if (!version.ok()) return version.status();
  if (absl::Status s = ValidateReport(request.report()); !s.ok()) return s;
  return Write<v1::SubmitValidationResponse>(caller, [&](RegistryWriter& w) {
    return ApplyValidation(w, *version, request.report());
  });
}

// ---------------------------------------------------------------------------
// Rollouts

absl::StatusOr<v1::PromoteResponse> Registry::Promote(
    const Caller& caller, const v1::PromoteRequest& request) {
  absl::StatusOr<std::string> id = ModelId(request.name());
  if (!id.ok()) return id.status();
  if (request.has_plan()) {
    if (absl::Status s = ValidatePlan(request.plan()); !s.ok()) return s;
  }
  return Write<v1::PromoteResponse>(
      caller, [&](RegistryWriter& w) { return ApplyPromote(w, *id, request); });
}

absl::StatusOr<v1::SetTrafficResponse> Registry::SetTraffic(
    const Caller& caller, const v1::SetTrafficRequest& request) {
  absl::StatusOr<std::string> id = ModelId(request.name());
  if (!id.ok()) return id.status();
  if (request.canary_percent() < 0 || request.canary_percent() > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "canary_percent ", request.canary_percent(), " is outside 0..100"));
  }
  return Write<v1::SetTrafficResponse>(caller, [&](RegistryWriter& w) {
    return ApplySetTraffic(w, *id, request);
  });
}

absl::StatusOr<v1::PauseRolloutResponse> Registry::PauseRollout(
    const Caller& caller, const v1::PauseRolloutRequest& request) {
  return WriteModel(caller, request, ApplyPause);
}

absl::StatusOr<v1::ResumeRolloutResponse> Registry::ResumeRollout(
    const Caller& caller, const v1::ResumeRolloutRequest& request) {
  return WriteModel(caller, request, ApplyResume);
}

absl::StatusOr<v1::AbortRolloutResponse> Registry::AbortRollout(
    const Caller& caller, const v1::AbortRolloutRequest& request) {
  return WriteModel(caller, request, ApplyAbort);
}

absl::StatusOr<v1::RollbackResponse> Registry::Rollback(
    const Caller& caller, const v1::RollbackRequest& request) {
  absl::StatusOr<std::string> id = ModelId(request.name());
  if (!id.ok()) return id.status();
  if (request.reason().empty()) {
    return absl::InvalidArgumentError("reason is required for a rollback");
  }
  return Write<v1::RollbackResponse>(caller, [&](RegistryWriter& w) {
    return ApplyRollback(w, *id, request);
  });
}

absl::StatusOr<v1::GetRolloutStatusResponse> Registry::GetRolloutStatus(
    absl::string_view name) {
  absl::StatusOr<std::string> id = ModelId(name);
  if (!id.ok()) return id.status();
  absl::StatusOr<v1::GetRolloutStatusResponse> response =
      Read<v1::GetRolloutStatusResponse>(
          [&](RegistryWriter& w)
              -> absl::StatusOr<v1::GetRolloutStatusResponse> {
            if (absl::Status s = w.Model(*id).status(); !s.ok()) return s;
            v1::GetRolloutStatusResponse r;
            absl::StatusOr<std::optional<v1::Rollout>> rollout =
                w.tx().GetRollout(*id);
            if (!rollout.ok()) return rollout.status();
            if (rollout->has_value()) *r.mutable_rollout() = **rollout;
            absl::StatusOr<std::optional<v1::Deployment>> d =
                w.tx().GetDeployment(*id);
            if (!d.ok()) return d.status();
            *r.mutable_deployment() = d->has_value() ? **d : v1::Deployment();
            return r;
          });
  if (!response.ok()) return response.status();
  pods_.AddRolloutStatus(*id, &*response);
  return response;
}

absl::StatusOr<v1::ReportServingStateResponse> Registry::ReportServingState(
    const v1::ReportServingStateRequest& request) {
  if (request.pod_id().empty()) {
    return absl::InvalidArgumentError("pod_id is required");
  }
  pods_.Record(request, options_.clock->Now());
  v1::ReportServingStateResponse response;
  response.mutable_report_interval()->set_seconds(
      absl::ToInt64Seconds(kPodReportInterval));
  response.set_latest_revision(revisions_.latest());
  return response;
}

absl::Status Registry::Tick() {
  const absl::Time now = options_.clock->Now();
  // Per model: each ready pod's revision and rows served per version.
  const std::map<std::string, std::vector<PodView>> serving =
      pods_.ReadyPods(now);
  absl::Status s = Mutate(RegistryCaller(), [&](RegistryWriter& w) {
    std::string cursor;
    while (true) {
      absl::StatusOr<std::vector<v1::Model>> models =
          w.tx().ListModels(cursor, 256);
      if (!models.ok()) return models.status();
      if (models->empty()) return absl::OkStatus();
      for (v1::Model& model : *models) {
        cursor = std::string(core::ModelIdOf(model.name()));
        auto pods = serving.find(cursor);
        if (absl::Status st = TickRollout(
                w, &model,
                pods == serving.end() ? std::vector<PodView>() : pods->second,
                now, start_time_);
            !st.ok()) {
          return st;
        }
      }
    }
  });
  if (!s.ok()) return s;
  // Retention reads every version of every model: once a minute is enough.
  {
    absl::MutexLock lock(&retention_mu_);
    if (now - last_retention_ < absl::Minutes(1)) return absl::OkStatus();
    last_retention_ = now;
  }
  return ApplyRetention();
}

absl::Status Registry::ApplyRetention() {
  absl::StatusOr<std::vector<std::string>> orphans =
      Write<std::vector<std::string>>(RegistryCaller(), DeleteRetiredVersions);
  if (!orphans.ok()) return orphans.status();
  DeleteOrphanBlobs(*orphans);
  return absl::OkStatus();
}

void Registry::DeleteOrphanBlobs(const std::vector<std::string>& orphans) {
  // Blobs go after the metadata committed: a crash in between leaves an
  // unreferenced blob (harmless), never a version without its blob.
  // An upload of the same bytes may have committed a new version since:
  // count again, under the lock uploads hold until they commit.
  absl::MutexLock blob_lock(&blob_mu_);
  for (const std::string& sha : orphans) DeleteBlobIfUnreferenced(sha);
}

void Registry::DeleteBlobIfUnreferenced(const std::string& sha256) {
  absl::StatusOr<int64_t> references = Read<int64_t>(
      [&](RegistryWriter& w) { return w.tx().CountBlobReferences(sha256); });
  if (!references.ok() || *references > 0) return;
  if (absl::Status s = blobs_->Delete(sha256);
      !s.ok() && !absl::IsNotFound(s)) {
    spdlog::warn("registry: cannot delete unreferenced blob {}: {}", sha256,
                 s.message());
  }
}

// ---------------------------------------------------------------------------
// Deployments and audit

absl::StatusOr<std::vector<v1::Deployment>> Registry::DeploymentsSince(
    int64_t since, const std::vector<std::string>& models, int limit) {
  return Read<std::vector<v1::Deployment>>([&](RegistryWriter& w) {
    return w.tx().DeploymentsSince(since, models, limit);
  });
}

absl::StatusOr<std::vector<v1::Deployment>> Registry::CurrentDeployments(
    const std::vector<std::string>& models) {
  absl::StatusOr<std::vector<v1::Deployment>> out =
      Read<std::vector<v1::Deployment>>(
          [&](RegistryWriter& w)
              -> absl::StatusOr<std::vector<v1::Deployment>> {
            std::vector<std::string> ids = models;
            if (ids.empty()) {
              absl::StatusOr<std::vector<std::string>> all =
                  AllModelIds(w.tx());
              if (!all.ok()) return all.status();
              ids = *std::move(all);
            }
            std::vector<v1::Deployment> current;
            for (const std::string& id : ids) {
              absl::StatusOr<std::optional<v1::Deployment>> d =
                  w.tx().GetDeployment(id);
              if (!d.ok()) return d.status();
              if (d->has_value()) current.push_back(**d);
            }
            return current;
          });
  if (!out.ok()) return out.status();
  std::sort(out->begin(), out->end(),
            [](const v1::Deployment& a, const v1::Deployment& b) {
              return a.revision() < b.revision();
            });
  return out;
}

absl::StatusOr<std::vector<v1::AuditEntry>> Registry::AuditEntriesAfter(
    int64_t after, int limit) {
  return Read<std::vector<v1::AuditEntry>>([&](RegistryWriter& w) {
    return w.tx().AuditEntriesAfter(after, limit);
  });
}

const std::vector<std::string>& RecordableAuditActions() {
  static const auto* actions = new std::vector<std::string>{
      "federated.site.exclude", "federated.site.readmit"};
  return *actions;
}

absl::StatusOr<v1::AuditEntry> Registry::RecordAuditEvent(
    const Caller& caller, const v1::RecordAuditEventRequest& request) {
  const std::vector<std::string>& actions = RecordableAuditActions();
  if (std::find(actions.begin(), actions.end(), request.action()) ==
      actions.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "action: \"", request.action(),
        "\" cannot be recorded by another service (the registry writes its "
        "own actions); RecordAuditEvent accepts ",
        absl::StrJoin(actions, ", ")));
  }
  constexpr size_t kMaxStateBytes = 16 << 10;
  for (const auto& [field, state] :
       {std::pair{"before", &request.before()},
        std::pair{"after", &request.after()}}) {
    if (state->ByteSizeLong() > kMaxStateBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", state->ByteSizeLong(),
                       " bytes serialized; at most ", kMaxStateBytes));
    }
  }
  return Write<v1::AuditEntry>(
      caller, [&](RegistryWriter& w) -> absl::StatusOr<v1::AuditEntry> {
        if (absl::Status s = w.Audit(
                request.action(), request.object(),
                request.has_before() ? &request.before() : nullptr,
                request.has_after() ? &request.after() : nullptr,
                request.reason());
            !s.ok()) {
          return s;
        }
        absl::StatusOr<std::optional<v1::AuditEntry>> entry =
            w.tx().LastAuditEntry();
        if (!entry.ok()) return entry.status();
        if (!entry->has_value()) {
          return absl::InternalError("the appended audit entry is missing");
        }
        return **entry;
      });
}

}  // namespace continuum::registry
