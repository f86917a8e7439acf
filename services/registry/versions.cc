#include "services/registry/versions.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/core/page_token.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "lib/store/blob_store.h"
#include "services/registry/rollouts.h"
#include "services/registry/validation_gates.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

// The largest UploadVersionMetadata accepted.
constexpr size_t kMaxMetadataBytes = 1u << 20;

// The version's facts an audit entry of its upload records.
v1::Version UploadBrief(const v1::Version& version) {
  v1::Version brief;
  brief.set_name(version.name());
  brief.set_sha256(version.sha256());
  brief.set_size_bytes(version.size_bytes());
  brief.set_state(version.state());
  return brief;
}

}  // namespace

std::string VersionName(absl::string_view model, int64_t version) {
  return absl::StrCat("models/", model, "/versions/", version);
}

absl::StatusOr<VersionRef> ParseVersionName(absl::string_view name) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, "models/{model}/versions/{version}");
  if (!parts.ok()) return parts.status();
  VersionRef ref{(*parts)[0], (*parts)[1]};
  const std::string& token = ref.token;
  const bool number = absl::ascii_isdigit(token[0]);
  bool ok = number ? token[0] != '0' && absl::SimpleAtoi(token, &ref.number)
                   : token == "latest" || absl::ascii_islower(token[0]);
  for (char c : token) {
    ok = ok && (number ? absl::ascii_isdigit(c)
                       : absl::ascii_islower(c) || absl::ascii_isdigit(c) ||
                             c == '_' || c == '-');
  }
  if (!ok || token.size() > 63) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name \"", name,
        "\": the version must be a number from 1 without sign or leading zero "
        "(e.g. 7), \"latest\" or an alias"));
  }
  return ref;
}

absl::StatusOr<VersionNumber> ParseVersionNumber(absl::string_view name,
                                                 absl::string_view method) {
  absl::StatusOr<VersionRef> ref = ParseVersionName(name);
  if (!ref.ok()) return ref.status();
  if (ref->number == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(method, " needs a version number"));
  }
  return VersionNumber{ref->model, ref->number};
}

absl::Status CheckUploadMetadata(const v1::UploadVersionMetadata& metadata) {
  if (absl::Status s = core::ValidateResourceId("model", metadata.model());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = store::ValidateSha256Hex(metadata.sha256()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.sha256: ", s.message(),
        " (the lowercase hex SHA-256 of the artifact is required)"));
  }
  if (metadata.size_bytes() < 0) {
    return absl::InvalidArgumentError(
        "metadata.size_bytes must not be negative");
  }
  if (!metadata.parent().model().empty() &&
      metadata.parent().model() != metadata.model()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.parent.model \"", metadata.parent().model(),
                     "\" differs from metadata.model \"", metadata.model(),
                     "\": a version's parent is a version of the same model"));
  }
  if (metadata.ByteSizeLong() > kMaxMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata is ", metadata.ByteSizeLong(), " bytes; at most 1 MiB"));
  }
  if (metadata.has_validation_report()) {
    return ValidateReport(metadata.validation_report());
  }
  return absl::OkStatus();
}

v1::Version NewVersion(const v1::UploadVersionMetadata& m, int64_t number,
                       const std::string& sha256, int64_t size_bytes,
                       absl::Time now, const std::string& actor) {
  v1::Version version;
  version.set_version(number);
  version.set_name(VersionName(m.model(), number));
  version.set_state(S::VERSION_STATE_REGISTERED);
  version.set_sha256(sha256);
  version.set_size_bytes(size_bytes);
  *version.mutable_parent() = m.parent();
  *version.mutable_metrics() = m.metrics();
  *version.mutable_data_window() = m.data_window();
  *version.mutable_hyperparameters() = m.hyperparameters();
  version.set_code_version(m.code_version());
  *version.mutable_tags() = m.tags();
  version.set_description(m.description());
  *version.mutable_manifest() = m.manifest();
  version.set_run(m.run());
  *version.mutable_create_time() = core::ToProto(now);
  version.set_creator(actor);
  v1::StateChange* change = version.add_state_history();
  change->set_to_state(S::VERSION_STATE_REGISTERED);
  *change->mutable_change_time() = core::ToProto(now);
  change->set_actor(actor);
  change->set_reason("uploaded");
  return version;
}

absl::StatusOr<v1::UploadVersionResponse> CreateVersion(
    RegistryWriter& w, const v1::UploadVersionMetadata& metadata,
    const std::string& sha256, int64_t size_bytes) {
  RegistryTx& tx = w.tx();
  absl::StatusOr<v1::Model> model = w.Model(metadata.model());
  if (!model.ok()) return model.status();
  v1::UploadVersionResponse response;
  absl::StatusOr<std::optional<v1::Version>> same =
      tx.FindVersionBySha256(metadata.model(), sha256);
  if (!same.ok()) return same.status();
  if (same->has_value()) {
    *response.mutable_version() = **same;
    response.set_created(false);
    return response;
  }
  v1::Version version = NewVersion(metadata, model->latest_version() + 1,
                                   sha256, size_bytes, w.now(), w.actor());
  model->set_latest_version(version.version());
  if (absl::Status s = tx.PutVersion(metadata.model(), version); !s.ok()) {
    return s;
  }
  if (absl::Status s = tx.PutModel(*model); !s.ok()) return s;
  v1::Version brief = UploadBrief(version);
  if (absl::Status s =
          w.Audit("version.upload", version.name(), nullptr, &brief, "");
      !s.ok()) {
    return s;
  }
  *response.mutable_version() = std::move(version);
  response.set_created(true);
  return response;
}

absl::StatusOr<v1::Version> ResolveVersion(RegistryWriter& w,
                                           const VersionRef& ref) {
  absl::StatusOr<v1::Model> model = w.Model(ref.model);
  if (!model.ok()) return model.status();
  int64_t number = ref.number;
  if (ref.token == "latest") {
    number = model->latest_version();
  } else if (number == 0) {
    auto alias = model->aliases().find(ref.token);
    if (alias == model->aliases().end()) {
      return absl::NotFoundError(absl::StrCat(
          "model ", ref.model, " has no version or alias \"", ref.token, "\""));
    }
    number = alias->second;
  }
  if (number <= 0) {
    return absl::NotFoundError(
        absl::StrCat("model ", ref.model, " has no versions"));
  }
  absl::StatusOr<v1::Version> version = w.Version(ref.model, number);
  if (!version.ok()) return version.status();
  for (const auto& [alias, target] : model->aliases()) {
    if (target == number) version->add_aliases(alias);
  }
  return version;
}

absl::StatusOr<v1::ListVersionsResponse> ListVersionsPage(
    RegistryTx& tx, const std::string& model, const VersionFilter& filter,
    int64_t before, int page_size, bool brief, absl::string_view query) {
  v1::ListVersionsResponse response;
  int64_t cursor = before;
  while (response.versions_size() < page_size) {
    absl::StatusOr<std::vector<v1::Version>> page =
        tx.ListVersions(model, S::VERSION_STATE_UNSPECIFIED, cursor, 256);
    if (!page.ok()) return page.status();
    if (page->empty()) return response;
    for (v1::Version& v : *page) {
      cursor = v.version();
      if (!filter.Matches(v)) continue;
      if (brief) {
        v.clear_state_history();
        v.clear_manifest();
        v.mutable_validation()->clear_report();
      }
      *response.add_versions() = std::move(v);
      if (response.versions_size() == page_size) {
        if (cursor > 1) {
          response.set_next_page_token(
              core::EncodePageToken(absl::StrCat(cursor), query));
        }
        return response;
      }
    }
    if (cursor <= 1) return response;
  }
  return response;
}

absl::StatusOr<v1::Version> ApplySetTags(RegistryWriter& w,
                                         const std::string& model,
                                         int64_t number,
                                         const v1::SetTagsRequest& request) {
  absl::StatusOr<v1::Version> version = w.Version(model, number);
  if (!version.ok()) return version.status();
  v1::Version updated = *version;
  for (const auto& [key, value] : request.tags()) {
    (*updated.mutable_tags())[key] = value;
  }
  for (const std::string& key : request.remove_keys()) {
    updated.mutable_tags()->erase(key);
  }
  if (absl::Status s = w.tx().PutVersion(model, updated); !s.ok()) return s;
  v1::Version before;
  *before.mutable_tags() = version->tags();
  v1::Version after;
  *after.mutable_tags() = updated.tags();
  if (absl::Status s =
          w.Audit("version.tags", updated.name(), &before, &after, "");
      !s.ok()) {
    return s;
  }
  return updated;
}

absl::StatusOr<v1::SubmitValidationResponse> ApplyValidation(
    RegistryWriter& w, const VersionNumber& ref,
    const v1::ValidationReport& report) {
  absl::StatusOr<v1::Model> model = w.Model(ref.model);
  if (!model.ok()) return model.status();
  absl::StatusOr<v1::Version> version = w.Version(ref.model, ref.number);
  if (!version.ok()) return version.status();
  if (absl::Status s =
          w.Transition(ref.model, &*version, S::VERSION_STATE_VALIDATING,
                       "validation report submitted");
      !s.ok()) {
    return s;
  }
  v1::ValidationDecision decision =
      ApplyGates(model->validation_policy(), report);
  decision.mutable_version()->set_model(ref.model);
  decision.mutable_version()->set_version(ref.number);
  *decision.mutable_decide_time() = core::ToProto(w.now());
  *decision.mutable_report() = report;
  *version->mutable_validation() = decision;
  if (absl::Status s =
          w.Transition(ref.model, &*version,
                       decision.approved() ? S::VERSION_STATE_VALIDATED
                                           : S::VERSION_STATE_REJECTED,
                       decision.summary());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = w.Audit("version.validate", version->name(), nullptr,
                               &decision, decision.summary());
      !s.ok()) {
    return s;
  }
  if (decision.approved() && !model->rollout_plan().manual_start()) {
    // A version validated while another rolls out waits in VALIDATED.
    absl::StatusOr<std::optional<v1::Rollout>> active =
        FindActiveRollout(w.tx(), ref.model);
    if (!active.ok()) return active.status();
    if (!active->has_value()) {
      absl::StatusOr<StartedRollout> started = StartRollout(
          w, &*model, &*version, model->rollout_plan(), "validated");
      if (!started.ok()) return started.status();
    }
  }
  v1::SubmitValidationResponse response;
  *response.mutable_decision() = std::move(decision);
  *response.mutable_version() = *std::move(version);
  return response;
}

}  // namespace continuum::registry
