#include "services/registry/models.h"

#include <google/protobuf/util/field_mask_util.h>

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/core/page_token.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/registry/rollout_plan.h"
#include "services/registry/validation_gates.h"

namespace continuum::registry {
namespace {

// The fields UpdateModel may change (and their subfields).
constexpr absl::string_view kMutableFields[] = {
    "description",  "spec",      "validation_policy",
    "rollout_plan", "retention", "labels"};

bool Mutable(absl::string_view path) {
  for (absl::string_view field : kMutableFields) {
    if (path == field || absl::StartsWith(path, absl::StrCat(field, "."))) {
      return true;
    }
  }
  return false;
}

// The aliases the registry maintains, and the word for the newest version.
bool KeptAlias(absl::string_view alias) {
  return alias == "production" || alias == "canary" || alias == "shadow" ||
         alias == "latest";
}

absl::Status CheckUserAlias(absl::string_view alias) {
  if (KeptAlias(alias)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "alias \"", alias,
        "\" is kept by the registry; use Promote, SetTraffic or Rollback"));
  }
  int64_t n = 0;
  if (absl::SimpleAtoi(alias, &n)) {
    return absl::InvalidArgumentError("an alias cannot be a number");
  }
  bool ok =
      !alias.empty() && alias.size() <= 63 && absl::ascii_islower(alias[0]);
  for (char c : alias) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_' ||
                c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("alias \"", alias, "\" must match [a-z][a-z0-9_-]{0,62}"));
  }
  return absl::OkStatus();
}

std::string AliasName(const v1::Model& model, absl::string_view alias) {
  return absl::StrCat(model.name(), "/aliases/", alias);
}

}  // namespace

absl::Status CheckNewModel(const v1::RegisterModelRequest& request) {
  if (absl::Status s = core::ValidateResourceId("model", request.model_id());
      !s.ok()) {
    return s;
  }
  const v1::Model& model = request.model();
  if (model.family() == v1::MODEL_FAMILY_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "model.family is required (e.g. MODEL_FAMILY_MLP_CLASSIFIER)");
  }
  if (!v1::ModelFamily_IsValid(model.family())) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.family: ", model.family(),
                     " is not a value of continuum.v1.ModelFamily"));
  }
  if (model.spec().family() != v1::MODEL_FAMILY_UNSPECIFIED &&
      model.spec().family() != model.family()) {
    return absl::InvalidArgumentError(
        "model.spec.family differs from model.family");
  }
  if (absl::Status s = ValidatePolicy(model.validation_policy()); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidatePlan(model.rollout_plan()); !s.ok()) return s;
  if (model.retention().keep_last_archived() < 0) {
    return absl::InvalidArgumentError(
        "model.retention.keep_last_archived must be >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Model> CreateModel(RegistryWriter& w,
                                      const v1::RegisterModelRequest& request) {
  absl::StatusOr<std::optional<v1::Model>> existing =
      w.tx().GetModel(request.model_id());
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError(absl::StrCat("model \"", request.model_id(),
                                                 "\" is already registered"));
  }
  v1::Model model = request.model();
  model.set_name(core::ModelName(request.model_id()));
  model.clear_aliases();
  model.set_latest_version(0);
  model.set_production_version(0);
  model.set_deployment_revision(0);
  *model.mutable_create_time() = core::ToProto(w.now());
  *model.mutable_update_time() = core::ToProto(w.now());
  if (absl::Status s = w.tx().PutModel(model); !s.ok()) return s;
  if (absl::Status s =
          w.Audit("model.register", model.name(), nullptr, &model, "");
      !s.ok()) {
    return s;
  }
  return model;
}

absl::StatusOr<v1::ListModelsResponse> ListModelsPage(RegistryTx& tx,
                                                      const ModelFilter& filter,
                                                      const std::string& after,
                                                      int page_size,
                                                      absl::string_view query) {
  v1::ListModelsResponse response;
  std::string cursor = after;
  while (response.models_size() < page_size) {
    absl::StatusOr<std::vector<v1::Model>> page = tx.ListModels(cursor, 256);
    if (!page.ok()) return page.status();
    if (page->empty()) return response;
    for (const v1::Model& m : *page) {
      cursor = std::string(core::ModelIdOf(m.name()));
      if (!filter.Matches(m)) continue;
      *response.add_models() = m;
      if (response.models_size() == page_size) {
        response.set_next_page_token(core::EncodePageToken(cursor, query));
        return response;
      }
    }
  }
  return response;
}

absl::StatusOr<std::vector<std::string>> AllModelIds(RegistryTx& tx) {
  std::vector<std::string> ids;
  std::string cursor;
  while (true) {
    absl::StatusOr<std::vector<v1::Model>> page = tx.ListModels(cursor, 256);
    if (!page.ok()) return page.status();
    if (page->empty()) return ids;
    for (const v1::Model& m : *page) {
      ids.push_back(cursor = std::string(core::ModelIdOf(m.name())));
    }
  }
}

absl::Status CheckUpdateMask(const google::protobuf::FieldMask& mask) {
  if (mask.paths().empty()) {
    return absl::InvalidArgumentError(
        "update_mask is empty: name the fields to change");
  }
  for (const std::string& path : mask.paths()) {
    if (!Mutable(path)) {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: \"", path,
                       "\" cannot be changed (family is immutable; "
                       "aliases, versions and times are output only)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Model> ApplyModelUpdate(
    RegistryWriter& w, const std::string& id,
    const v1::UpdateModelRequest& request) {
  absl::StatusOr<v1::Model> model = w.Model(id);
  if (!model.ok()) return model.status();
  v1::Model updated = *model;
  google::protobuf::util::FieldMaskUtil::MergeOptions merge;
  merge.set_replace_message_fields(true);
  merge.set_replace_repeated_fields(true);
  google::protobuf::util::FieldMaskUtil::MergeMessageTo(
      request.model(), request.update_mask(), merge, &updated);
  if (absl::Status s = ValidatePolicy(updated.validation_policy()); !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidatePlan(updated.rollout_plan()); !s.ok()) return s;
  if (updated.spec().family() != v1::MODEL_FAMILY_UNSPECIFIED &&
      updated.spec().family() != updated.family()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.spec.family ", v1::ModelFamily_Name(updated.spec().family()),
        " differs from the model's family ",
        v1::ModelFamily_Name(updated.family())));
  }
  *updated.mutable_update_time() = core::ToProto(w.now());
  if (absl::Status s = w.tx().PutModel(updated); !s.ok()) return s;
  if (absl::Status s = w.Audit("model.update", updated.name(), &*model,
                               &updated, request.reason());
      !s.ok()) {
    return s;
  }
  return updated;
}

absl::StatusOr<v1::Model> ApplySetAlias(RegistryWriter& w,
                                        const std::string& id,
                                        const v1::SetAliasRequest& request) {
  if (absl::Status s = CheckUserAlias(request.alias()); !s.ok()) return s;
  absl::StatusOr<v1::Model> model = w.Model(id);
  if (!model.ok()) return model.status();
  if (absl::Status s = w.Version(id, request.version()).status(); !s.ok()) {
    return s;
  }
  v1::Model updated = *std::move(model);
  (*updated.mutable_aliases())[request.alias()] = request.version();
  if (absl::Status s = w.tx().PutModel(updated); !s.ok()) return s;
  if (absl::Status s = w.Audit(
          "alias.set", AliasName(updated, request.alias()), nullptr, nullptr,
          absl::StrCat(request.alias(), " -> ", request.version(),
                       request.reason().empty() ? "" : ": ", request.reason()));
      !s.ok()) {
    return s;
  }
  return updated;
}

absl::StatusOr<v1::Model> ApplyDeleteAlias(
    RegistryWriter& w, const std::string& id,
    const v1::DeleteAliasRequest& request) {
  if (KeptAlias(request.alias())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "alias \"", request.alias(), "\" is kept by the registry"));
  }
  absl::StatusOr<v1::Model> model = w.Model(id);
  if (!model.ok()) return model.status();
  if (!model->aliases().contains(request.alias())) {
    return absl::NotFoundError(
        absl::StrCat("model ", id, " has no alias \"", request.alias(), "\""));
  }
  v1::Model updated = *std::move(model);
  updated.mutable_aliases()->erase(request.alias());
  if (absl::Status s = w.tx().PutModel(updated); !s.ok()) return s;
  if (absl::Status s =
          w.Audit("alias.delete", AliasName(updated, request.alias()), nullptr,
                  nullptr, request.reason());
      !s.ok()) {
    return s;
  }
  return updated;
}

}  // namespace continuum::registry
