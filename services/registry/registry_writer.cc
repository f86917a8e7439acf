#include "services/registry/registry_writer.h"

#include <google/protobuf/util/json_util.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/registry/audit_chain.h"
#include "services/registry/version_state.h"
#include "services/registry/versions.h"

namespace continuum::registry {
namespace {

std::string ToJson(const google::protobuf::Message* message) {
  if (message == nullptr) return "{}";
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*message, &json, options);
  return json;
}

// Sets or removes a registry-kept alias.
void SetAlias(v1::Model* model, const std::string& alias, int64_t version) {
  auto& aliases = *model->mutable_aliases();
  if (version != 0) {
    aliases[alias] = version;
  } else {
    aliases.erase(alias);
  }
}

}  // namespace

absl::Status RegistryWriter::Audit(const std::string& action,
                                   const std::string& object,
                                   const google::protobuf::Message* before,
                                   const google::protobuf::Message* after,
                                   const std::string& reason) {
  absl::StatusOr<std::optional<v1::AuditEntry>> last = tx_.LastAuditEntry();
  if (!last.ok()) return last.status();
  v1::AuditEntry entry;
  *entry.mutable_time() = core::ToProto(now_);
  entry.set_actor(caller_.actor);
  entry.set_action(action);
  entry.set_object(object);
  entry.set_before_json(ToJson(before));
  entry.set_after_json(ToJson(after));
  entry.set_reason(reason);
  LinkAuditEntry(last->has_value() ? &**last : nullptr, entry);
  return tx_.AppendAuditEntry(entry);
}

absl::Status RegistryWriter::SaveRollout(const std::string& model_name,
                                         const v1::Rollout& rollout,
                                         const std::string& action,
                                         const std::string& reason) {
  if (absl::Status s = tx_.PutRollout(rollout); !s.ok()) return s;
  return Audit(action, model_name, nullptr, &rollout, reason);
}

absl::StatusOr<v1::Model> RegistryWriter::Model(const std::string& id) {
  absl::StatusOr<std::optional<v1::Model>> model = tx_.GetModel(id);
  if (!model.ok()) return model.status();
  if (!model->has_value()) {
    return absl::NotFoundError(
        absl::StrCat("model \"", id,
                     "\" is not registered; register it with RegisterModel"));
  }
  return **model;
}

absl::StatusOr<v1::Version> RegistryWriter::Version(const std::string& model,
                                                    int64_t number) {
  absl::StatusOr<std::optional<v1::Version>> version =
      tx_.GetVersion(model, number);
  if (!version.ok()) return version.status();
  if (!version->has_value()) {
    return absl::NotFoundError(
        absl::StrCat(VersionName(model, number), " does not exist"));
  }
  return **version;
}

absl::Status RegistryWriter::Transition(const std::string& model,
                                        v1::Version* version,
                                        v1::VersionState to,
                                        const std::string& reason,
                                        bool rollback) {
  if (absl::Status s =
          CheckTransition(version->name(), version->state(), to, rollback);
      !s.ok()) {
    return s;
  }
  v1::Version brief_before;
  brief_before.set_name(version->name());
  brief_before.set_state(version->state());
  v1::StateChange* change = version->add_state_history();
  change->set_from_state(version->state());
  change->set_to_state(to);
  *change->mutable_change_time() = core::ToProto(now_);
  change->set_actor(caller_.actor);
  change->set_reason(reason);
  version->set_state(to);
  if (absl::Status s = tx_.PutVersion(model, *version); !s.ok()) return s;
  v1::Version brief_after;
  brief_after.set_name(version->name());
  brief_after.set_state(to);
  return Audit("version.transition", version->name(), &brief_before,
               &brief_after, reason);
}

absl::StatusOr<v1::Deployment> RegistryWriter::Deploy(
    v1::Model* model, const Serving& serving, const std::string& reason) {
  const std::string id(core::ModelIdOf(model->name()));
  absl::StatusOr<int64_t> revision = tx_.NextRevision();
  if (!revision.ok()) return revision.status();
  v1::Deployment d;
  d.set_name(absl::StrCat(model->name(), "/deployment"));
  d.set_model(id);
  d.set_revision(*revision);
  d.set_stable_version(serving.stable);
  d.set_canary_version(serving.canary);
  d.set_canary_percent(serving.canary == 0 ? 0 : serving.canary_percent);
  d.set_shadow_version(serving.shadow);
  d.set_shadow_percent(serving.shadow == 0 ? 0 : serving.shadow_percent);
  d.set_routing(serving.routing);
  *d.mutable_update_time() = core::ToProto(now_);
  d.set_reason(reason);
  d.set_actor(caller_.actor);
  for (auto [number, role] :
       {std::pair{serving.stable, v1::SERVING_ROLE_STABLE},
        std::pair{serving.canary, v1::SERVING_ROLE_CANARY},
        std::pair{serving.shadow, v1::SERVING_ROLE_SHADOW}}) {
    if (number == 0) continue;
    absl::StatusOr<v1::Version> v = Version(id, number);
    if (!v.ok()) return v.status();
    v1::DeployedArtifact* a = d.add_artifacts();
    a->set_version(number);
    a->set_role(role);
    a->set_sha256(v->sha256());
    a->set_size_bytes(v->size_bytes());
  }
  if (absl::Status s = tx_.PutDeployment(d); !s.ok()) return s;
  model->set_deployment_revision(*revision);
  model->set_production_version(serving.stable);
  SetAlias(model, "production", serving.stable);
  SetAlias(model, "canary", serving.canary);
  if (absl::Status s = tx_.PutModel(*model); !s.ok()) return s;
  new_revision_ = *revision;
  return d;
}

}  // namespace continuum::registry
