#include "services/registry/registry.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/field_mask_util.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "lib/core/filter.h"
#include "lib/core/logging.h"
#include "lib/core/resource_names.h"
#include "services/registry/validation_gates.h"
#include "services/registry/version_state.h"
#include "spdlog/spdlog.h"

namespace continuum::registry {
namespace {

using google::protobuf::util::TimeUtil;
using S = v1::VersionState;

// Pods report every 10 s; one silent for three intervals is not counted as
// serving anything and is forgotten.
constexpr absl::Duration kPodSilence = absl::Seconds(30);
// How often pods are asked to report (ReportServingStateResponse).
constexpr absl::Duration kPodReportInterval = absl::Seconds(10);
// Pod reports live in memory: after a start, the registry knows no pod
// until each reports again, so for this long (the report interval and a
// margin) it does not judge that "every ready pod serves the revision"
// (which would hold for zero pods).
constexpr absl::Duration kPodGraceAfterStart = absl::Seconds(12);

constexpr char kZeroHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

std::string ModelName(absl::string_view id) {
  return absl::StrCat("models/", id);
}

std::string VersionName(absl::string_view model, int64_t version) {
  return absl::StrCat("models/", model, "/versions/", version);
}

std::string ToJson(const google::protobuf::Message* message) {
  if (message == nullptr) return "{}";
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(*message, &json, options);
  return json;
}

// "models/{model}/versions/{token}" -> {model, token}.
absl::StatusOr<std::pair<std::string, std::string>> ParseVersionName(
    absl::string_view name) {
  std::vector<std::string> parts = absl::StrSplit(name, '/');
  if (parts.size() != 4 || parts[0] != "models" || parts[2] != "versions" ||
      parts[3].empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name \"", name,
        "\" must have the form models/{model}/versions/{version}, the version "
        "a number, latest or an alias"));
  }
  if (absl::Status s = core::ValidateResourceId("model", parts[1]); !s.ok()) {
    return s;
  }
  return std::make_pair(parts[1], parts[3]);
}

// The effective plan: an unset strategy is a canary with the default steps.
v1::RolloutPlan EffectivePlan(const v1::RolloutPlan& plan) {
  v1::RolloutPlan p = plan;
  if (p.strategy_case() == v1::RolloutPlan::STRATEGY_NOT_SET) {
    p.mutable_canary();
  }
  if (p.has_canary() && p.canary().steps().empty()) {
    for (int percent : {10, 25, 50, 100}) {
      v1::CanaryStep* step = p.mutable_canary()->add_steps();
      step->set_percent(percent);
      step->mutable_hold_duration()->set_seconds(percent == 100 ? 0 : 300);
    }
  }
  if (p.has_shadow() && p.shadow().has_then_canary() &&
      p.shadow().then_canary().steps().empty()) {
    v1::RolloutPlan canary;
    canary.mutable_canary();
    *p.mutable_shadow()->mutable_then_canary() = EffectivePlan(canary).canary();
  }
  if (p.routing() == v1::ROUTING_MODE_UNSPECIFIED) {
    p.set_routing(v1::ROUTING_MODE_STICKY);
  }
  return p;
}

absl::Status ValidateSteps(const v1::CanaryRollout& canary,
                           absl::string_view field) {
  int previous = 0;
  for (int i = 0; i < canary.steps_size(); ++i) {
    int percent = canary.steps(i).percent();
    if (percent < 1 || percent > 100 || percent <= previous) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".steps[", i, "].percent ", percent,
                       ": steps must rise strictly within 1..100"));
    }
    previous = percent;
  }
  return absl::OkStatus();
}

absl::Status ValidatePlan(const v1::RolloutPlan& plan) {
  if (plan.has_canary()) {
    if (absl::Status s = ValidateSteps(plan.canary(), "rollout_plan.canary");
        !s.ok()) {
      return s;
    }
  }
  if (plan.has_shadow() && plan.shadow().has_then_canary()) {
    if (absl::Status s = ValidateSteps(plan.shadow().then_canary(),
                                       "rollout_plan.shadow.then_canary");
        !s.ok()) {
      return s;
    }
  }
  if (plan.has_ab() && (plan.ab().candidate_percent() < 0 ||
                        plan.ab().candidate_percent() > 99)) {
    return absl::InvalidArgumentError(
        "rollout_plan.ab.candidate_percent must be within 1..99 (0 = 50)");
  }
  if (plan.has_shadow() && (plan.shadow().sample_percent() < 0 ||
                            plan.shadow().sample_percent() > 100)) {
    return absl::InvalidArgumentError(
        "rollout_plan.shadow.sample_percent must be within 0..100");
  }
  return absl::OkStatus();
}

}  // namespace

// The write context of one operation: a transaction, the time, the caller.
class RegistryWriter {
 public:
  RegistryWriter(RegistryTx& tx, absl::Time now, const Caller& caller)
      : tx_(tx), now_(now), caller_(caller) {}

  RegistryTx& tx() { return tx_; }
  absl::Time now() const { return now_; }
  const std::string& actor() const { return caller_.actor; }
  int64_t new_revision() const { return new_revision_; }

  absl::Status Audit(const std::string& action, const std::string& object,
                     const google::protobuf::Message* before,
                     const google::protobuf::Message* after,
                     const std::string& reason) {
    absl::StatusOr<std::optional<v1::AuditEntry>> last = tx_.LastAuditEntry();
    if (!last.ok()) return last.status();
    v1::AuditEntry entry;
    entry.set_sequence(last->has_value() ? (*last)->sequence() + 1 : 1);
    *entry.mutable_time() = ToProto(now_);
    entry.set_actor(caller_.actor);
    entry.set_action(action);
    entry.set_object(object);
    entry.set_before_json(ToJson(before));
    entry.set_after_json(ToJson(after));
    entry.set_reason(reason);
    entry.set_prev_hash(last->has_value() ? (*last)->hash() : kZeroHash);
    entry.set_hash(AuditHash(entry));
    return tx_.AppendAuditEntry(entry);
  }

  absl::StatusOr<v1::Model> Model(const std::string& id) {
    absl::StatusOr<std::optional<v1::Model>> model = tx_.GetModel(id);
    if (!model.ok()) return model.status();
    if (!model->has_value()) {
      return absl::NotFoundError(
          absl::StrCat("model \"", id,
                       "\" is not registered; register it with RegisterModel"));
    }
    return **model;
  }

  absl::StatusOr<v1::Version> Version(const std::string& model,
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

  // Moves `version` to `to` (checked), records the change and stores it.
  absl::Status Transition(const std::string& model, v1::Version* version, S to,
                          const std::string& reason, bool rollback = false) {
    if (absl::Status s =
            CheckTransition(version->name(), version->state(), to, rollback);
        !s.ok()) {
      return s;
    }
    v1::Version before = *version;
    v1::StateChange* change = version->add_state_history();
    change->set_from_state(version->state());
    change->set_to_state(to);
    *change->mutable_change_time() = ToProto(now_);
    change->set_actor(caller_.actor);
    change->set_reason(reason);
    version->set_state(to);
    if (absl::Status s = tx_.PutVersion(model, *version); !s.ok()) return s;
    v1::Version brief_before;
    brief_before.set_name(before.name());
    brief_before.set_state(before.state());
    v1::Version brief_after;
    brief_after.set_name(version->name());
    brief_after.set_state(to);
    return Audit("version.transition", version->name(), &brief_before,
                 &brief_after, reason);
  }

  // Makes a new deployment revision for `model`.
  absl::StatusOr<v1::Deployment> Deploy(v1::Model* model, int64_t stable,
                                        int64_t canary, int32_t canary_percent,
                                        int64_t shadow, int32_t shadow_percent,
                                        v1::RoutingMode routing,
                                        const std::string& reason) {
    const std::string id = model->name().substr(7);
    absl::StatusOr<int64_t> revision = tx_.NextRevision();
    if (!revision.ok()) return revision.status();
    v1::Deployment d;
    d.set_name(absl::StrCat(model->name(), "/deployment"));
    d.set_model(id);
    d.set_revision(*revision);
    d.set_stable_version(stable);
    d.set_canary_version(canary);
    d.set_canary_percent(canary == 0 ? 0 : canary_percent);
    d.set_shadow_version(shadow);
    d.set_shadow_percent(shadow == 0 ? 0 : shadow_percent);
    d.set_routing(routing);
    *d.mutable_update_time() = ToProto(now_);
    d.set_reason(reason);
    d.set_actor(caller_.actor);
    for (auto [number, role] : {std::pair{stable, v1::SERVING_ROLE_STABLE},
                                std::pair{canary, v1::SERVING_ROLE_CANARY},
                                std::pair{shadow, v1::SERVING_ROLE_SHADOW}}) {
      if (number == 0) continue;
      absl::StatusOr<v1::Version> v = Version(id, number);
      if (!v.ok()) return v.status();
      v1::DeployedArtifact* a = d.add_artifacts();
      a->set_version(number);
      a->set_role(role);
      a->set_sha256(v->sha256());
      a->set_size_bytes(v->size_bytes());
    }
    absl::StatusOr<std::optional<v1::Deployment>> before =
        tx_.GetDeployment(id);
    if (!before.ok()) return before.status();
    if (absl::Status s = tx_.PutDeployment(d); !s.ok()) return s;
    model->set_deployment_revision(*revision);
    model->set_production_version(stable);
    auto& aliases = *model->mutable_aliases();
    if (stable != 0)
      aliases["production"] = stable;
    else
      aliases.erase("production");
    if (canary != 0)
      aliases["canary"] = canary;
    else
      aliases.erase("canary");
    if (absl::Status s = tx_.PutModel(*model); !s.ok()) return s;
    new_revision_ = *revision;
    return d;
  }

 private:
  RegistryTx& tx_;
  absl::Time now_;
  const Caller& caller_;
  int64_t new_revision_ = 0;
};

namespace {

// The current deployment of a model, or an empty one.
absl::StatusOr<v1::Deployment> CurrentDeployment(RegistryTx& tx,
                                                 const std::string& model) {
  absl::StatusOr<std::optional<v1::Deployment>> d = tx.GetDeployment(model);
  if (!d.ok()) return d.status();
  return d->has_value() ? **d : v1::Deployment();
}

bool RolloutActive(const v1::Rollout& r) {
  return r.state() != v1::ROLLOUT_STATE_UNSPECIFIED &&
         r.state() != v1::ROLLOUT_STATE_SUCCEEDED &&
         r.state() != v1::ROLLOUT_STATE_ABORTED;
}

// Makes `candidate` PRODUCTION (the old production version ARCHIVED) and
// deploys it alone.
absl::StatusOr<v1::Deployment> FinishRollout(RegistryWriter& w,
                                             v1::Model* model,
                                             v1::Rollout* rollout,
                                             v1::Version* candidate,
                                             const std::string& reason) {
  const std::string id = model->name().substr(7);
  if (model->production_version() != 0 &&
      model->production_version() != candidate->version()) {
    absl::StatusOr<v1::Version> old =
        w.Version(id, model->production_version());
    if (!old.ok()) return old.status();
    if (old->state() == S::VERSION_STATE_PRODUCTION) {
      if (absl::Status s = w.Transition(
              id, &*old, S::VERSION_STATE_ARCHIVED,
              absl::StrCat("replaced by version ", candidate->version()));
          !s.ok()) {
        return s;
      }
    }
  }
  if (absl::Status s =
          w.Transition(id, candidate, S::VERSION_STATE_PRODUCTION, reason);
      !s.ok()) {
    return s;
  }
  rollout->set_state(v1::ROLLOUT_STATE_SUCCEEDED);
  rollout->set_current_percent(100);
  *rollout->mutable_end_time() = ToProto(w.now());
  rollout->set_status_message(reason);
  if (absl::Status s = w.tx().PutRollout(*rollout); !s.ok()) return s;
  if (absl::Status s =
          w.Audit("rollout.step", model->name(), nullptr, rollout, reason);
      !s.ok()) {
    return s;
  }
  return w.Deploy(model, candidate->version(), 0, 0, 0, 0,
                  rollout->plan().routing(), reason);
}

// Starts the plan for a VALIDATED candidate.
absl::StatusOr<std::pair<v1::Rollout, v1::Deployment>> StartRollout(
    RegistryWriter& w, v1::Model* model, v1::Version* candidate,
    const v1::RolloutPlan& requested, const std::string& reason) {
  const std::string id = model->name().substr(7);
  v1::RolloutPlan plan = EffectivePlan(requested);
  absl::StatusOr<std::optional<v1::Rollout>> existing = w.tx().GetRollout(id);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() && RolloutActive(**existing) &&
      (*existing)->candidate_version() != candidate->version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", id, " is rolling out version ",
                     (*existing)->candidate_version(), " (",
                     v1::RolloutState_Name((*existing)->state()),
                     "): promote or abort it first"));
  }
  v1::Rollout rollout;
  rollout.set_model(id);
  rollout.set_candidate_version(candidate->version());
  rollout.set_stable_version(model->production_version());
  *rollout.mutable_plan() = plan;
  *rollout.mutable_start_time() = ToProto(w.now());
  *rollout.mutable_step_start_time() = ToProto(w.now());
  rollout.set_step_index(0);

  // Without a production version there is nothing to compare a canary or a
  // shadow with: the first version goes straight to production.
  if (plan.has_immediate() || model->production_version() == 0) {
    absl::StatusOr<v1::Deployment> d = FinishRollout(
        w, model, &rollout, candidate,
        model->production_version() == 0 ? "first version: promoted at once"
                                         : "immediate rollout");
    if (!d.ok()) return d.status();
    return std::make_pair(rollout, *d);
  }
  absl::StatusOr<v1::Deployment> d;
  if (plan.has_canary()) {
    if (absl::Status s =
            w.Transition(id, candidate, S::VERSION_STATE_CANARY, reason);
        !s.ok()) {
      return s;
    }
    int percent = plan.canary().steps(0).percent();
    rollout.set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
    rollout.set_current_percent(percent);
    d = w.Deploy(model, model->production_version(), candidate->version(),
                 percent, 0, 0, plan.routing(),
                 absl::StrCat("canary step 1: ", percent, " %"));
  } else if (plan.has_ab()) {
    if (absl::Status s =
            w.Transition(id, candidate, S::VERSION_STATE_CANARY, reason);
        !s.ok()) {
      return s;
    }
    int percent =
        plan.ab().candidate_percent() == 0 ? 50 : plan.ab().candidate_percent();
    rollout.set_state(v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE);
    rollout.set_current_percent(percent);
    d = w.Deploy(model, model->production_version(), candidate->version(),
                 percent, 0, 0, plan.routing(),
                 absl::StrCat("A/B test: ", percent, " %"));
  } else {  // shadow
    if (absl::Status s =
            w.Transition(id, candidate, S::VERSION_STATE_SHADOW, reason);
        !s.ok()) {
      return s;
    }
    int sample = plan.shadow().sample_percent() == 0
                     ? 100
                     : plan.shadow().sample_percent();
    rollout.set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
    rollout.set_step_index(-1);
    rollout.set_current_percent(0);
    d = w.Deploy(model, model->production_version(), 0, 0, candidate->version(),
                 sample, plan.routing(),
                 absl::StrCat("shadow: ", sample, " % copied"));
  }
  if (!d.ok()) return d.status();
  if (absl::Status s = w.tx().PutRollout(rollout); !s.ok()) return s;
  if (absl::Status s =
          w.Audit("rollout.start", model->name(), nullptr, &rollout, reason);
      !s.ok()) {
    return s;
  }
  return std::make_pair(rollout, *d);
}

// Moves an active rollout one step on (or to production after the last).
absl::StatusOr<v1::Deployment> AdvanceRollout(RegistryWriter& w,
                                              v1::Model* model,
                                              v1::Rollout* rollout,
                                              const std::string& reason) {
  const std::string id = model->name().substr(7);
  absl::StatusOr<v1::Version> candidate =
      w.Version(id, rollout->candidate_version());
  if (!candidate.ok()) return candidate.status();
  const v1::RolloutPlan& plan = rollout->plan();
  // A shadow phase continues as a canary when the plan says so.
  if (plan.has_shadow() && rollout->step_index() < 0 &&
      plan.shadow().has_then_canary() &&
      !plan.shadow().then_canary().steps().empty()) {
    v1::RolloutPlan canary_plan = plan;
    *canary_plan.mutable_canary() = plan.shadow().then_canary();
    *rollout->mutable_plan() = canary_plan;
    if (absl::Status s =
            w.Transition(id, &*candidate, S::VERSION_STATE_CANARY, reason);
        !s.ok()) {
      return s;
    }
    rollout->set_step_index(0);
  } else if (plan.has_canary() &&
             rollout->step_index() + 1 < plan.canary().steps_size() &&
             plan.canary().steps(rollout->step_index() + 1).percent() < 100) {
    rollout->set_step_index(rollout->step_index() + 1);
  } else {
    return FinishRollout(w, model, rollout, &*candidate, reason);
  }
  int percent = rollout->plan().canary().steps(rollout->step_index()).percent();
  rollout->set_current_percent(percent);
  rollout->set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
  *rollout->mutable_step_start_time() = ToProto(w.now());
  rollout->set_step_observations(0);
  std::string why = absl::StrCat("canary step ", rollout->step_index() + 1,
                                 ": ", percent, " % (", reason, ")");
  rollout->set_status_message(why);
  if (absl::Status s = w.tx().PutRollout(*rollout); !s.ok()) return s;
  if (absl::Status s =
          w.Audit("rollout.step", model->name(), nullptr, rollout, why);
      !s.ok()) {
    return s;
  }
  return w.Deploy(model, model->production_version(), candidate->version(),
                  percent, 0, 0, rollout->plan().routing(), why);
}

}  // namespace

std::string AuditHash(const v1::AuditEntry& entry) {
  v1::AuditEntry copy = entry;
  copy.clear_hash();
  std::string bytes;
  google::protobuf::io::StringOutputStream out(&bytes);
  google::protobuf::io::CodedOutputStream coded(&out);
  coded.SetSerializationDeterministic(true);
  copy.SerializeToCodedStream(&coded);
  coded.Trim();
  return store::Sha256Hex(bytes);
}

int64_t FindBrokenLink(const std::vector<v1::AuditEntry>& entries,
                       const std::string& first_prev_hash) {
  std::string prev = first_prev_hash;
  int64_t expected_sequence = entries.empty() ? 0 : entries.front().sequence();
  for (const v1::AuditEntry& e : entries) {
    if (e.sequence() != expected_sequence || e.prev_hash() != prev ||
        AuditHash(e) != e.hash()) {
      return e.sequence() != 0 ? e.sequence() : expected_sequence;
    }
    prev = e.hash();
    ++expected_sequence;
  }
  return 0;
}

Registry::Registry(std::unique_ptr<RegistryStore> store,
                   std::unique_ptr<store::BlobStore> blobs,
                   RegistryOptions options)
    : store_(std::move(store)),
      blobs_(std::move(blobs)),
      options_(options),
      start_time_(options_.clock->Now()) {
  absl::StatusOr<int64_t> latest = LoadLatestRevision();
  absl::MutexLock lock(&mu_);
  latest_revision_ = latest.ok() ? *latest : 0;
}

absl::StatusOr<int64_t> Registry::LoadLatestRevision() {
  int64_t latest = 0;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    absl::StatusOr<int64_t> r = tx.LatestRevision();
    if (!r.ok()) return r.status();
    latest = *r;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return latest;
}

void Registry::Notify(int64_t revision) {
  if (revision == 0) return;
  absl::MutexLock lock(&mu_);
  latest_revision_ = std::max(latest_revision_, revision);
}

int64_t Registry::latest_revision() const {
  absl::MutexLock lock(&mu_);
  return latest_revision_;
}

int64_t Registry::WaitForRevision(int64_t after, absl::Time deadline,
                                  const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  auto newer = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return latest_revision_ > after;
  };
  while (!newer() && absl::Now() < deadline && !cancelled()) {
    mu_.AwaitWithTimeout(
        absl::Condition(&newer),
        std::min(absl::Milliseconds(100), deadline - absl::Now()));
  }
  return latest_revision_;
}

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
  if (s.ok()) Notify(revision);
  return s;
}

// ---------------------------------------------------------------------------
// Models

absl::StatusOr<v1::Model> Registry::RegisterModel(
    const Caller& caller, const v1::RegisterModelRequest& request) {
  if (absl::Status s = core::ValidateResourceId("model", request.model_id());
      !s.ok()) {
    return s;
  }
  v1::Model model = request.model();
  if (model.family() == v1::MODEL_FAMILY_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "model.family is required (e.g. MODEL_FAMILY_MLP_CLASSIFIER)");
  }
  if (model.spec().family() != v1::MODEL_FAMILY_UNSPECIFIED &&
      model.spec().family() != model.family()) {
    return absl::InvalidArgumentError(
        "model.spec.family differs from model.family");
  }
  if (absl::Status s = ValidatePolicy(model.validation_policy()); !s.ok())
    return s;
  if (absl::Status s = ValidatePlan(model.rollout_plan()); !s.ok()) return s;
  if (model.retention().keep_last_archived() < 0) {
    return absl::InvalidArgumentError(
        "model.retention.keep_last_archived must be >= 0");
  }
  const absl::Time now = options_.clock->Now();
  model.set_name(ModelName(request.model_id()));
  model.clear_aliases();
  model.set_latest_version(0);
  model.set_production_version(0);
  model.set_deployment_revision(0);
  *model.mutable_create_time() = ToProto(now);
  *model.mutable_update_time() = ToProto(now);
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    absl::StatusOr<std::optional<v1::Model>> existing =
        tx.GetModel(request.model_id());
    if (!existing.ok()) return existing.status();
    if (existing->has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "model \"", request.model_id(), "\" is already registered"));
    }
    if (absl::Status st = tx.PutModel(model); !st.ok()) return st;
    RegistryWriter w(tx, now, caller);
    return w.Audit("model.register", model.name(), nullptr, &model, "");
  });
  if (!s.ok()) return s;
  return model;
}

absl::StatusOr<v1::Model> Registry::GetModel(absl::string_view name) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(name, "models", "model");
  if (!id.ok()) return id.status();
  v1::Model model;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    absl::StatusOr<v1::Model> m = w.Model(*id);
    if (!m.ok()) return m.status();
    model = *m;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return model;
}

absl::StatusOr<v1::ListModelsResponse> Registry::ListModels(
    const v1::ListModelsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  const int page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "name" || key == "family" ||
               (absl::StartsWith(key, "labels.") && key.size() > 7);
      });
  if (!filter.ok()) return filter.status();
  std::string after;
  if (!request.page_token().empty() &&
      !absl::WebSafeBase64Unescape(request.page_token(), &after)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  v1::ListModelsResponse response;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    std::string cursor = after;
    while (response.models_size() < page_size) {
      absl::StatusOr<std::vector<v1::Model>> page = tx.ListModels(cursor, 256);
      if (!page.ok()) return page.status();
      if (page->empty()) return absl::OkStatus();
      for (const v1::Model& m : *page) {
        cursor = m.name().substr(7);
        bool match = filter->Matches(
            [&](absl::string_view key) -> std::optional<std::string> {
              if (key == "name") return m.name();
              if (key == "family") return v1::ModelFamily_Name(m.family());
              auto it = m.labels().find(std::string(key.substr(7)));
              if (it == m.labels().end()) return std::nullopt;
              return it->second;
            });
        if (!match) continue;
        *response.add_models() = m;
        if (response.models_size() == page_size) {
          response.set_next_page_token(absl::WebSafeBase64Escape(cursor));
          return absl::OkStatus();
        }
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::Model> Registry::UpdateModel(
    const Caller& caller, const v1::UpdateModelRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.model().name(), "models", "model");
  if (!id.ok()) return id.status();
  static constexpr absl::string_view kMutable[] = {
      "description",  "spec",      "validation_policy",
      "rollout_plan", "retention", "labels"};
  if (request.update_mask().paths().empty()) {
    return absl::InvalidArgumentError(
        "update_mask is empty: name the fields to change");
  }
  for (const std::string& path : request.update_mask().paths()) {
    bool ok = false;
    for (absl::string_view m : kMutable) {
      ok |= path == m || absl::StartsWith(path, absl::StrCat(m, "."));
    }
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("update_mask: \"", path,
                       "\" cannot be changed (family is immutable; "
                       "aliases, versions and times are output only)"));
    }
  }
  v1::Model updated;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    updated = *model;
    google::protobuf::util::FieldMaskUtil::MergeOptions merge;
    merge.set_replace_message_fields(true);
    merge.set_replace_repeated_fields(true);
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(
        request.model(), request.update_mask(), merge, &updated);
    if (absl::Status st = ValidatePolicy(updated.validation_policy()); !st.ok())
      return st;
    if (absl::Status st = ValidatePlan(updated.rollout_plan()); !st.ok())
      return st;
    *updated.mutable_update_time() = ToProto(w.now());
    if (absl::Status st = tx.PutModel(updated); !st.ok()) return st;
    return w.Audit("model.update", updated.name(), &*model, &updated,
                   request.reason());
  });
  if (!s.ok()) return s;
  return updated;
}

// ---------------------------------------------------------------------------
// Versions

absl::StatusOr<std::unique_ptr<Upload>> Registry::BeginUpload(
    const v1::UploadVersionMetadata& metadata) {
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
  if (metadata.ByteSizeLong() > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata is ", metadata.ByteSizeLong(), " bytes; at most 1 MiB"));
  }
  if (metadata.has_validation_report()) {
    if (absl::Status s = ValidateReport(metadata.validation_report()); !s.ok())
      return s;
  }
  absl::Status exists = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    return w.Model(metadata.model()).status();
  });
  if (!exists.ok()) return exists;
  absl::StatusOr<std::unique_ptr<store::BlobWriter>> writer =
      blobs_->NewWriter();
  if (!writer.ok()) return writer.status();
  return std::unique_ptr<Upload>(new Upload(metadata, *std::move(writer)));
}

absl::StatusOr<v1::UploadVersionResponse> Registry::FinishUpload(
    const Caller& caller, Upload& upload) {
  const v1::UploadVersionMetadata& m = upload.metadata();
  // Held until the version referring to the blob has committed, so that
  // retention cannot delete the blob in between (see ApplyRetention).
  absl::MutexLock blob_lock(&blob_mu_);
  absl::StatusOr<std::string> digest = upload.writer_->Finish(
      m.sha256(), m.size_bytes() > 0 ? m.size_bytes() : -1);
  if (!digest.ok()) return digest.status();
  v1::UploadVersionResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(m.model());
    if (!model.ok()) return model.status();
    absl::StatusOr<std::optional<v1::Version>> same =
        tx.FindVersionBySha256(m.model(), *digest);
    if (!same.ok()) return same.status();
    if (same->has_value()) {
      *response.mutable_version() = **same;
      response.set_created(false);
      return absl::OkStatus();
    }
    v1::Version version;
    version.set_version(model->latest_version() + 1);
    version.set_name(VersionName(m.model(), version.version()));
    version.set_state(S::VERSION_STATE_REGISTERED);
    version.set_sha256(*digest);
    version.set_size_bytes(static_cast<int64_t>(upload.size()));
    *version.mutable_parent() = m.parent();
    *version.mutable_metrics() = m.metrics();
    *version.mutable_data_window() = m.data_window();
    *version.mutable_hyperparameters() = m.hyperparameters();
    version.set_code_version(m.code_version());
    *version.mutable_tags() = m.tags();
    version.set_description(m.description());
    *version.mutable_manifest() = m.manifest();
    version.set_run(m.run());
    *version.mutable_create_time() = ToProto(w.now());
    version.set_creator(caller.actor);
    v1::StateChange* change = version.add_state_history();
    change->set_to_state(S::VERSION_STATE_REGISTERED);
    *change->mutable_change_time() = ToProto(w.now());
    change->set_actor(caller.actor);
    change->set_reason("uploaded");
    model->set_latest_version(version.version());
    if (absl::Status st = tx.PutVersion(m.model(), version); !st.ok())
      return st;
    if (absl::Status st = tx.PutModel(*model); !st.ok()) return st;
    v1::Version brief;
    brief.set_name(version.name());
    brief.set_sha256(version.sha256());
    brief.set_size_bytes(version.size_bytes());
    brief.set_state(version.state());
    if (absl::Status st =
            w.Audit("version.upload", version.name(), nullptr, &brief, "");
        !st.ok()) {
      return st;
    }
    *response.mutable_version() = version;
    response.set_created(true);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (response.created() && m.has_validation_report()) {
    v1::SubmitValidationRequest submit;
    submit.set_name(response.version().name());
    *submit.mutable_report() = m.validation_report();
    absl::StatusOr<v1::SubmitValidationResponse> validated =
        SubmitValidation(caller, submit);
    if (!validated.ok()) return validated.status();
    *response.mutable_version() = validated->version();
    *response.mutable_decision() = validated->decision();
  }
  return response;
}

absl::StatusOr<v1::Version> Registry::GetVersion(absl::string_view name) {
  absl::StatusOr<std::pair<std::string, std::string>> parsed =
      ParseVersionName(name);
  if (!parsed.ok()) return parsed.status();
  const auto& [model_id, token] = *parsed;
  v1::Version version;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    absl::StatusOr<v1::Model> model = w.Model(model_id);
    if (!model.ok()) return model.status();
    int64_t number = 0;
    if (token == "latest") {
      number = model->latest_version();
    } else if (!absl::SimpleAtoi(token, &number)) {
      auto alias = model->aliases().find(token);
      if (alias == model->aliases().end()) {
        return absl::NotFoundError(absl::StrCat(
            "model ", model_id, " has no version or alias \"", token, "\""));
      }
      number = alias->second;
    }
    if (number <= 0) {
      return absl::NotFoundError(
          absl::StrCat("model ", model_id, " has no versions"));
    }
    absl::StatusOr<v1::Version> v = w.Version(model_id, number);
    if (!v.ok()) return v.status();
    version = *v;
    for (const auto& [alias, target] : model->aliases()) {
      if (target == number) version.add_aliases(alias);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return version;
}

absl::StatusOr<v1::ListVersionsResponse> Registry::ListVersions(
    const v1::ListVersionsRequest& request) {
  absl::StatusOr<std::string> model_id =
      core::ParseResourceName(request.parent(), "models", "model");
  if (!model_id.ok()) return model_id.status();
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  const int page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "state" ||
               (absl::StartsWith(key, "tags.") && key.size() > 5);
      });
  if (!filter.ok()) return filter.status();
  for (const auto& conjunction : filter->disjuncts()) {
    for (const auto& c : conjunction) {
      v1::VersionState state;
      if (c.key == "state" && !v1::VersionState_Parse(c.value, &state)) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter: \"", c.value,
                         "\" is not a state (e.g. VERSION_STATE_PRODUCTION)"));
      }
    }
  }
  int64_t before = 0;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &before) || before <= 0)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  v1::ListVersionsResponse response;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    if (absl::Status st = w.Model(*model_id).status(); !st.ok()) return st;
    int64_t cursor = before;
    while (response.versions_size() < page_size) {
      absl::StatusOr<std::vector<v1::Version>> page =
          tx.ListVersions(*model_id, S::VERSION_STATE_UNSPECIFIED, cursor, 256);
      if (!page.ok()) return page.status();
      if (page->empty()) return absl::OkStatus();
      for (v1::Version& v : *page) {
        cursor = v.version();
        bool match = filter->Matches(
            [&](absl::string_view key) -> std::optional<std::string> {
              if (key == "state") return v1::VersionState_Name(v.state());
              auto it = v.tags().find(std::string(key.substr(5)));
              if (it == v.tags().end()) return std::nullopt;
              return it->second;
            });
        if (!match) continue;
        if (request.brief()) {
          v.clear_state_history();
          v.clear_manifest();
          v.mutable_validation()->clear_report();
        }
        *response.add_versions() = std::move(v);
        if (response.versions_size() == page_size) {
          if (cursor > 1) response.set_next_page_token(absl::StrCat(cursor));
          return absl::OkStatus();
        }
      }
      if (cursor <= 1) return absl::OkStatus();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
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
  auto [model, token] = *ParseVersionName(version->name());
  download.info.mutable_version()->set_model(model);
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
  auto [model_id, token] = *ParseVersionName(current->name());
  v1::Version updated;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Version> version =
        w.Version(model_id, current->version());
    if (!version.ok()) return version.status();
    updated = *version;
    for (const auto& [key, value] : request.tags())
      (*updated.mutable_tags())[key] = value;
    for (const std::string& key : request.remove_keys())
      updated.mutable_tags()->erase(key);
    if (absl::Status st = tx.PutVersion(model_id, updated); !st.ok()) return st;
    v1::Version before;
    *before.mutable_tags() = version->tags();
    v1::Version after;
    *after.mutable_tags() = updated.tags();
    return w.Audit("version.tags", updated.name(), &before, &after, "");
  });
  if (!s.ok()) return s;
  return updated;
}

absl::StatusOr<v1::Model> Registry::SetAlias(
    const Caller& caller, const v1::SetAliasRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  if (request.alias() == "production" || request.alias() == "canary" ||
      request.alias() == "latest") {
    return absl::InvalidArgumentError(
        absl::StrCat("alias \"", request.alias(),
                     "\" is kept by the registry; use Promote or Rollback"));
  }
  if (absl::Status st = core::ValidateResourceId("alias", request.alias());
      !st.ok()) {
    return st;
  }
  int64_t n = 0;
  if (absl::SimpleAtoi(request.alias(), &n)) {
    return absl::InvalidArgumentError("an alias cannot be a number");
  }
  v1::Model updated;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    if (absl::Status st = w.Version(*id, request.version()).status(); !st.ok())
      return st;
    updated = *model;
    (*updated.mutable_aliases())[request.alias()] = request.version();
    if (absl::Status st = tx.PutModel(updated); !st.ok()) return st;
    return w.Audit(
        "alias.set", absl::StrCat(updated.name(), "/aliases/", request.alias()),
        nullptr, nullptr,
        absl::StrCat(request.alias(), " -> ", request.version(),
                     request.reason().empty() ? "" : ": ", request.reason()));
  });
  if (!s.ok()) return s;
  return updated;
}

absl::StatusOr<v1::Model> Registry::DeleteAlias(
    const Caller& caller, const v1::DeleteAliasRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  if (request.alias() == "production" || request.alias() == "canary") {
    return absl::InvalidArgumentError(absl::StrCat(
        "alias \"", request.alias(), "\" is kept by the registry"));
  }
  v1::Model updated;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    if (!model->aliases().contains(request.alias())) {
      return absl::NotFoundError(absl::StrCat("model ", *id, " has no alias \"",
                                              request.alias(), "\""));
    }
    updated = *model;
    updated.mutable_aliases()->erase(request.alias());
    if (absl::Status st = tx.PutModel(updated); !st.ok()) return st;
    return w.Audit("alias.delete",
                   absl::StrCat(updated.name(), "/aliases/", request.alias()),
                   nullptr, nullptr, request.reason());
  });
  if (!s.ok()) return s;
  return updated;
}

// ---------------------------------------------------------------------------
// Life cycle

absl::StatusOr<v1::TransitionVersionResponse> Registry::TransitionVersion(
    const Caller& caller, const v1::TransitionVersionRequest& request) {
  absl::StatusOr<std::pair<std::string, std::string>> parsed =
      ParseVersionName(request.name());
  if (!parsed.ok()) return parsed.status();
  int64_t number = 0;
  if (!absl::SimpleAtoi(parsed->second, &number)) {
    return absl::InvalidArgumentError(
        "TransitionVersion needs a version number");
  }
  const S to = request.to_state();
  if (to == S::VERSION_STATE_PRODUCTION || to == S::VERSION_STATE_CANARY ||
      to == S::VERSION_STATE_SHADOW || to == S::VERSION_STATE_VALIDATED ||
      to == S::VERSION_STATE_REJECTED || to == S::VERSION_STATE_VALIDATING) {
    return absl::InvalidArgumentError(absl::StrCat(
        v1::VersionState_Name(to),
        " is reached through SubmitValidation (validating/validated/rejected) "
        "or Promote "
        "(canary, shadow, production), not TransitionVersion"));
  }
  v1::TransitionVersionResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    absl::StatusOr<v1::Version> version = w.Version(parsed->first, number);
    if (!version.ok()) return version.status();
    if (request.expected_state() != S::VERSION_STATE_UNSPECIFIED &&
        request.expected_state() != version->state()) {
      return absl::FailedPreconditionError(absl::StrCat(
          version->name(), " is ", v1::VersionState_Name(version->state()),
          ", not the expected ",
          v1::VersionState_Name(request.expected_state())));
    }
    if (version->state() == S::VERSION_STATE_PRODUCTION ||
        version->state() == S::VERSION_STATE_CANARY ||
        version->state() == S::VERSION_STATE_SHADOW) {
      return absl::FailedPreconditionError(absl::StrCat(
          version->name(), " is ", v1::VersionState_Name(version->state()),
          ": it is deployed; use Rollback or AbortRollout"));
    }
    if (absl::Status st =
            w.Transition(parsed->first, &*version, to, request.reason());
        !st.ok()) {
      return st;
    }
    *response.mutable_version() = *version;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::SubmitValidationResponse> Registry::SubmitValidation(
    const Caller& caller, const v1::SubmitValidationRequest& request) {
  absl::StatusOr<std::pair<std::string, std::string>> parsed =
      ParseVersionName(request.name());
  if (!parsed.ok()) return parsed.status();
  int64_t number = 0;
  if (!absl::SimpleAtoi(parsed->second, &number)) {
    return absl::InvalidArgumentError(
        "SubmitValidation needs a version number");
  }
  if (absl::Status st = ValidateReport(request.report()); !st.ok()) return st;
  const std::string& model_id = parsed->first;
  v1::SubmitValidationResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(model_id);
    if (!model.ok()) return model.status();
    absl::StatusOr<v1::Version> version = w.Version(model_id, number);
    if (!version.ok()) return version.status();
    if (absl::Status st =
            w.Transition(model_id, &*version, S::VERSION_STATE_VALIDATING,
                         "validation report submitted");
        !st.ok()) {
      return st;
    }
    v1::ValidationDecision decision =
        ApplyGates(model->validation_policy(), request.report());
    decision.mutable_version()->set_model(model_id);
    decision.mutable_version()->set_version(number);
    *decision.mutable_decide_time() = ToProto(w.now());
    *decision.mutable_report() = request.report();
    *version->mutable_validation() = decision;
    if (absl::Status st =
            w.Transition(model_id, &*version,
                         decision.approved() ? S::VERSION_STATE_VALIDATED
                                             : S::VERSION_STATE_REJECTED,
                         decision.summary());
        !st.ok()) {
      return st;
    }
    if (absl::Status st = w.Audit("version.validate", version->name(), nullptr,
                                  &decision, decision.summary());
        !st.ok()) {
      return st;
    }
    if (decision.approved() && !model->rollout_plan().manual_start()) {
      absl::StatusOr<std::optional<v1::Rollout>> active =
          tx.GetRollout(model_id);
      if (!active.ok()) return active.status();
      // A version validated while another rolls out waits in VALIDATED.
      if (!active->has_value() || !RolloutActive(**active)) {
        absl::StatusOr<std::pair<v1::Rollout, v1::Deployment>> started =
            StartRollout(w, &*model, &*version, model->rollout_plan(),
                         "validated");
        if (!started.ok()) return started.status();
      }
    }
    *response.mutable_decision() = decision;
    *response.mutable_version() = *version;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

// ---------------------------------------------------------------------------
// Rollouts

absl::StatusOr<v1::PromoteResponse> Registry::Promote(
    const Caller& caller, const v1::PromoteRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  if (request.has_plan()) {
    if (absl::Status st = ValidatePlan(request.plan()); !st.ok()) return st;
  }
  v1::PromoteResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    absl::StatusOr<std::optional<v1::Rollout>> active = tx.GetRollout(*id);
    if (!active.ok()) return active.status();
    const bool rolling = active->has_value() && RolloutActive(**active);
    const std::string reason =
        request.reason().empty() ? "promoted" : request.reason();
    if (request.version() != 0 &&
        (!rolling || (*active)->candidate_version() != request.version())) {
      // Start the rollout of a VALIDATED version.
      absl::StatusOr<v1::Version> version = w.Version(*id, request.version());
      if (!version.ok()) return version.status();
      if (version->state() != S::VERSION_STATE_VALIDATED) {
        return absl::FailedPreconditionError(absl::StrCat(
            version->name(), " is ", v1::VersionState_Name(version->state()),
            ": only a VERSION_STATE_VALIDATED version can start a rollout"));
      }
      v1::RolloutPlan plan =
          request.has_plan() ? request.plan() : model->rollout_plan();
      if (request.complete()) plan.mutable_immediate();
      absl::StatusOr<std::pair<v1::Rollout, v1::Deployment>> started =
          StartRollout(w, &*model, &*version, plan, reason);
      if (!started.ok()) return started.status();
      *response.mutable_rollout() = started->first;
      *response.mutable_deployment() = started->second;
    } else {
      if (!rolling) {
        return absl::FailedPreconditionError(absl::StrCat(
            "model ", *id,
            " has no rollout in progress: name a validated version"));
      }
      v1::Rollout rollout = **active;
      absl::StatusOr<v1::Deployment> d;
      if (request.complete() || rollout.plan().has_ab()) {
        absl::StatusOr<v1::Version> candidate =
            w.Version(*id, rollout.candidate_version());
        if (!candidate.ok()) return candidate.status();
        d = FinishRollout(w, &*model, &rollout, &*candidate, reason);
      } else {
        d = AdvanceRollout(w, &*model, &rollout, reason);
      }
      if (!d.ok()) return d.status();
      *response.mutable_rollout() = rollout;
      *response.mutable_deployment() = *d;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

namespace {

// The active rollout of `id`, or FAILED_PRECONDITION.
absl::StatusOr<v1::Rollout> ActiveRollout(RegistryTx& tx,
                                          const std::string& id) {
  absl::StatusOr<std::optional<v1::Rollout>> active = tx.GetRollout(id);
  if (!active.ok()) return active.status();
  if (!active->has_value() || !RolloutActive(**active)) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", id, " has no rollout in progress"));
  }
  return **active;
}

}  // namespace

absl::StatusOr<v1::SetTrafficResponse> Registry::SetTraffic(
    const Caller& caller, const v1::SetTrafficRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  if (request.canary_percent() < 0 || request.canary_percent() > 100) {
    return absl::InvalidArgumentError(absl::StrCat(
        "canary_percent ", request.canary_percent(), " is outside 0..100"));
  }
  v1::SetTrafficResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    absl::StatusOr<v1::Rollout> rollout = ActiveRollout(tx, *id);
    if (!rollout.ok()) return rollout.status();
    if (rollout->step_index() < 0) {
      return absl::FailedPreconditionError(
          "the rollout is in its shadow phase: there is no canary traffic to "
          "set");
    }
    const std::string reason =
        request.reason().empty() ? "traffic set" : request.reason();
    rollout->set_current_percent(request.canary_percent());
    rollout->set_state(v1::ROLLOUT_STATE_PAUSED);
    rollout->set_status_message(absl::StrCat(
        "traffic set to ", request.canary_percent(), " %: ", reason));
    if (absl::Status st = tx.PutRollout(*rollout); !st.ok()) return st;
    if (absl::Status st =
            w.Audit("traffic.set", model->name(), nullptr, &*rollout, reason);
        !st.ok()) {
      return st;
    }
    absl::StatusOr<v1::Deployment> d = w.Deploy(
        &*model, model->production_version(), rollout->candidate_version(),
        request.canary_percent(), 0, 0, rollout->plan().routing(),
        absl::StrCat("traffic set to ", request.canary_percent(), " %"));
    if (!d.ok()) return d.status();
    *response.mutable_rollout() = *rollout;
    *response.mutable_deployment() = *d;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::PauseRolloutResponse> Registry::PauseRollout(
    const Caller& caller, const v1::PauseRolloutRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  v1::PauseRolloutResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    absl::StatusOr<v1::Rollout> rollout = ActiveRollout(tx, *id);
    if (!rollout.ok()) return rollout.status();
    rollout->set_state(v1::ROLLOUT_STATE_PAUSED);
    rollout->set_status_message(request.reason().empty() ? "paused"
                                                         : request.reason());
    if (absl::Status st = tx.PutRollout(*rollout); !st.ok()) return st;
    *response.mutable_rollout() = *rollout;
    return w.Audit("rollout.pause", model->name(), nullptr, &*rollout,
                   request.reason());
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::ResumeRolloutResponse> Registry::ResumeRollout(
    const Caller& caller, const v1::ResumeRolloutRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  v1::ResumeRolloutResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    absl::StatusOr<v1::Rollout> rollout = ActiveRollout(tx, *id);
    if (!rollout.ok()) return rollout.status();
    if (rollout->state() != v1::ROLLOUT_STATE_PAUSED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the rollout is ", v1::RolloutState_Name(rollout->state()),
          ", not paused"));
    }
    rollout->set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
    *rollout->mutable_step_start_time() = ToProto(w.now());
    rollout->set_status_message(request.reason().empty() ? "resumed"
                                                         : request.reason());
    // Traffic returns to the current step's share.
    int percent = rollout->current_percent();
    if (rollout->step_index() >= 0 && rollout->plan().has_canary()) {
      percent = rollout->plan().canary().steps(rollout->step_index()).percent();
    } else if (rollout->plan().has_ab()) {
      percent = rollout->plan().ab().candidate_percent() == 0
                    ? 50
                    : rollout->plan().ab().candidate_percent();
      rollout->set_state(v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE);
    }
    rollout->set_current_percent(percent);
    if (absl::Status st = tx.PutRollout(*rollout); !st.ok()) return st;
    if (absl::Status st = w.Audit("rollout.resume", model->name(), nullptr,
                                  &*rollout, request.reason());
        !st.ok()) {
      return st;
    }
    if (rollout->step_index() >= 0) {
      absl::StatusOr<v1::Deployment> d = w.Deploy(
          &*model, model->production_version(), rollout->candidate_version(),
          percent, 0, 0, rollout->plan().routing(),
          absl::StrCat("resumed at ", percent, " %"));
      if (!d.ok()) return d.status();
      *response.mutable_deployment() = *d;
    }
    *response.mutable_rollout() = *rollout;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::AbortRolloutResponse> Registry::AbortRollout(
    const Caller& caller, const v1::AbortRolloutRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  v1::AbortRolloutResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    absl::StatusOr<std::optional<v1::Rollout>> active = tx.GetRollout(*id);
    if (!active.ok()) return active.status();
    if (!active->has_value() || !RolloutActive(**active)) {
      return absl::FailedPreconditionError(
          absl::StrCat("model ", *id, " has no rollout in progress"));
    }
    v1::Rollout rollout = **active;
    if (request.expected_candidate_version() != 0 &&
        request.expected_candidate_version() != rollout.candidate_version()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the rollout's candidate is version ", rollout.candidate_version(),
          ", not ", request.expected_candidate_version()));
    }
    const std::string reason =
        request.reason().empty() ? "aborted" : request.reason();
    absl::StatusOr<v1::Version> candidate =
        w.Version(*id, rollout.candidate_version());
    if (!candidate.ok()) return candidate.status();
    if (absl::Status st = w.Transition(*id, &*candidate,
                                       S::VERSION_STATE_ROLLED_BACK, reason);
        !st.ok()) {
      return st;
    }
    rollout.set_state(v1::ROLLOUT_STATE_ABORTED);
    rollout.set_current_percent(0);
    *rollout.mutable_end_time() = ToProto(w.now());
    rollout.set_status_message(reason);
    if (absl::Status st = tx.PutRollout(rollout); !st.ok()) return st;
    if (absl::Status st =
            w.Audit("rollout.abort", model->name(), nullptr, &rollout, reason);
        !st.ok()) {
      return st;
    }
    absl::StatusOr<v1::Deployment> d = w.Deploy(
        &*model, model->production_version(), 0, 0, 0, 0,
        rollout.plan().routing(), absl::StrCat("rollout aborted: ", reason));
    if (!d.ok()) return d.status();
    *response.mutable_rollout() = rollout;
    *response.mutable_deployment() = *d;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::RollbackResponse> Registry::Rollback(
    const Caller& caller, const v1::RollbackRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.name(), "models", "model");
  if (!id.ok()) return id.status();
  if (request.reason().empty()) {
    return absl::InvalidArgumentError("reason is required for a rollback");
  }
  v1::RollbackResponse response;
  absl::Status s = Mutate(caller, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    absl::StatusOr<v1::Model> model = w.Model(*id);
    if (!model.ok()) return model.status();
    if (model->production_version() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model ", *id, " has no production version to roll back"));
    }
    if (request.expected_production_version() != 0 &&
        request.expected_production_version() != model->production_version()) {
      return absl::FailedPreconditionError(
          absl::StrCat("production is version ", model->production_version(),
                       ", not ", request.expected_production_version()));
    }
    // The target: the one named, or the newest ARCHIVED version.
    int64_t target = request.to_version();
    if (target == 0) {
      // The newest archived version that served as production (a version
      // archived straight from VALIDATED never did).
      absl::StatusOr<std::vector<v1::Version>> archived =
          tx.ListVersions(*id, S::VERSION_STATE_ARCHIVED, 0, 1 << 20);
      if (!archived.ok()) return archived.status();
      for (const v1::Version& v : *archived) {
        for (const v1::StateChange& c : v.state_history()) {
          if (c.to_state() == S::VERSION_STATE_PRODUCTION) target = v.version();
        }
        if (target != 0) break;
      }
      if (target == 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "model ", *id,
            " has no archived version that served production to roll back to"));
      }
    }
    absl::StatusOr<v1::Version> restored = w.Version(*id, target);
    if (!restored.ok()) return restored.status();
    absl::StatusOr<v1::Version> withdrawn =
        w.Version(*id, model->production_version());
    if (!withdrawn.ok()) return withdrawn.status();
    if (restored->state() != S::VERSION_STATE_ARCHIVED) {
      return absl::FailedPreconditionError(absl::StrCat(
          restored->name(), " is ", v1::VersionState_Name(restored->state()),
          ": only a VERSION_STATE_ARCHIVED version can be rolled back to"));
    }
    // A rollout in progress is abandoned with it.
    absl::StatusOr<std::optional<v1::Rollout>> active = tx.GetRollout(*id);
    if (!active.ok()) return active.status();
    if (active->has_value() && RolloutActive(**active)) {
      v1::Rollout rollout = **active;
      absl::StatusOr<v1::Version> candidate =
          w.Version(*id, rollout.candidate_version());
      if (!candidate.ok()) return candidate.status();
      if (absl::Status st =
              w.Transition(*id, &*candidate, S::VERSION_STATE_ROLLED_BACK,
                           absl::StrCat("rollback: ", request.reason()));
          !st.ok()) {
        return st;
      }
      rollout.set_state(v1::ROLLOUT_STATE_ABORTED);
      *rollout.mutable_end_time() = ToProto(w.now());
      rollout.set_status_message("aborted by a rollback");
      if (absl::Status st = tx.PutRollout(rollout); !st.ok()) return st;
    }
    if (absl::Status st = w.Transition(
            *id, &*withdrawn, S::VERSION_STATE_ROLLED_BACK, request.reason());
        !st.ok()) {
      return st;
    }
    if (absl::Status st =
            w.Transition(*id, &*restored, S::VERSION_STATE_PRODUCTION,
                         request.reason(), /*rollback=*/true);
        !st.ok()) {
      return st;
    }
    if (absl::Status st = w.Audit("model.rollback", model->name(), &*withdrawn,
                                  &*restored, request.reason());
        !st.ok()) {
      return st;
    }
    absl::StatusOr<v1::Deployment> d =
        w.Deploy(&*model, restored->version(), 0, 0, 0, 0,
                 model->rollout_plan().routing(),
                 absl::StrCat("rollback: ", request.reason()));
    if (!d.ok()) return d.status();
    *response.mutable_restored() = *restored;
    *response.mutable_withdrawn() = *withdrawn;
    *response.mutable_deployment() = *d;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return response;
}

absl::StatusOr<v1::GetRolloutStatusResponse> Registry::GetRolloutStatus(
    absl::string_view name) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(name, "models", "model");
  if (!id.ok()) return id.status();
  v1::GetRolloutStatusResponse response;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    RegistryWriter w(tx, options_.clock->Now(), Caller());
    if (absl::Status st = w.Model(*id).status(); !st.ok()) return st;
    absl::StatusOr<std::optional<v1::Rollout>> rollout = tx.GetRollout(*id);
    if (!rollout.ok()) return rollout.status();
    if (rollout->has_value()) *response.mutable_rollout() = **rollout;
    absl::StatusOr<v1::Deployment> d = CurrentDeployment(tx, *id);
    if (!d.ok()) return d.status();
    *response.mutable_deployment() = *d;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  std::map<int64_t, v1::RevisionPodCount> counts;
  for (const auto& [pod_id, report] : pods_) {
    for (const v1::ModelServingStatus& m : report.models()) {
      if (m.model() != *id) continue;
      v1::PodStatus* pod = response.add_pods();
      pod->set_pod_id(pod_id);
      pod->set_ready(report.ready());
      *pod->mutable_model() = m;
      *pod->mutable_report_time() = ToProto(pod_report_times_[pod_id]);
      v1::RevisionPodCount& c = counts[m.revision()];
      c.set_revision(m.revision());
      c.set_pods(c.pods() + 1);
      c.set_ready_pods(c.ready_pods() + (report.ready() && m.ready() ? 1 : 0));
    }
  }
  for (auto& [revision, count] : counts) *response.add_revisions() = count;
  return response;
}

absl::StatusOr<v1::ReportServingStateResponse> Registry::ReportServingState(
    const v1::ReportServingStateRequest& request) {
  if (request.pod_id().empty()) {
    return absl::InvalidArgumentError("pod_id is required");
  }
  v1::ReportServingStateResponse response;
  absl::MutexLock lock(&mu_);
  const absl::Time now = options_.clock->Now();
  pods_[request.pod_id()] = request;
  pod_report_times_[request.pod_id()] = now;
  // Pods silent for three report intervals are forgotten.
  for (auto it = pod_report_times_.begin(); it != pod_report_times_.end();) {
    if (now - it->second > kPodSilence) {
      pods_.erase(it->first);
      it = pod_report_times_.erase(it);
    } else {
      ++it;
    }
  }
  response.mutable_report_interval()->set_seconds(
      absl::ToInt64Seconds(kPodReportInterval));
  response.set_latest_revision(latest_revision_);
  return response;
}

absl::Status Registry::Tick() {
  const absl::Time now = options_.clock->Now();
  // Per model: each ready pod's revision and rows served per version (pods
  // heard from within kPodSilence).
  struct PodView {
    int64_t revision = 0;
    std::map<int64_t, int64_t> rows_by_version;
  };
  std::map<std::string, std::vector<PodView>> serving;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [pod_id, report] : pods_) {
      if (!report.ready() || now - pod_report_times_[pod_id] > kPodSilence) {
        continue;
      }
      for (const v1::ModelServingStatus& m : report.models()) {
        PodView view;
        view.revision = m.revision();
        for (const v1::VersionServingStatus& v : m.versions()) {
          view.rows_by_version[v.version()] += v.rows_served();
        }
        serving[m.model()].push_back(std::move(view));
      }
    }
  }
  absl::Status s = Mutate(Caller{"registry"}, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    std::string cursor;
    while (true) {
      absl::StatusOr<std::vector<v1::Model>> models =
          tx.ListModels(cursor, 256);
      if (!models.ok()) return models.status();
      if (models->empty()) break;
      for (v1::Model& model : *models) {
        cursor = model.name().substr(7);
        absl::StatusOr<std::optional<v1::Rollout>> active =
            tx.GetRollout(cursor);
        if (!active.ok()) return active.status();
        if (!active->has_value() || !RolloutActive(**active)) {
          // A version validated while another rolled out waited in
          // VALIDATED: start the newest one now (unless the plan waits for
          // Promote).
          if (model.rollout_plan().manual_start()) continue;
          absl::StatusOr<std::vector<v1::Version>> waiting =
              tx.ListVersions(cursor, S::VERSION_STATE_VALIDATED, 0, 1);
          if (!waiting.ok()) return waiting.status();
          if (waiting->empty() ||
              waiting->front().version() <= model.production_version()) {
            continue;
          }
          v1::Version candidate = waiting->front();
          absl::StatusOr<std::pair<v1::Rollout, v1::Deployment>> started =
              StartRollout(w, &model, &candidate, model.rollout_plan(),
                           "validated while another rollout ran");
          if (!started.ok()) return started.status();
          continue;
        }
        v1::Rollout rollout = **active;
        if (rollout.state() == v1::ROLLOUT_STATE_PAUSED ||
            rollout.state() == v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE) {
          continue;
        }
        const v1::RolloutPlan& plan = rollout.plan();
        absl::Duration hold;
        int64_t min_rows = 0;
        bool manual = false;
        if (rollout.step_index() < 0) {  // Shadow phase.
          hold = plan.shadow().has_duration()
                     ? FromProto(plan.shadow().duration())
                     : absl::Minutes(15);
          min_rows = plan.shadow().min_observations();
          manual =
              !plan.shadow().auto_promote() && !plan.shadow().has_then_canary();
        } else {
          const v1::CanaryStep& step =
              plan.canary().steps(rollout.step_index());
          hold = step.has_hold_duration() ? FromProto(step.hold_duration())
                                          : absl::Minutes(5);
          min_rows = step.hold_observations();
          manual = plan.canary().manual_advance();
        }
        if (now - FromProto(rollout.step_start_time()) < hold) continue;
        // Every ready pod must serve the current revision.
        int64_t rows = 0;
        bool all_current = true;
        // Rows the candidate answered (canary) or processed (shadow), as
        // the pods count them since they loaded it.
        for (const PodView& pod : serving[cursor]) {
          all_current &= pod.revision >= model.deployment_revision();
          auto it = pod.rows_by_version.find(rollout.candidate_version());
          if (it != pod.rows_by_version.end()) rows += it->second;
        }
        if (min_rows > 0 && rows < min_rows) continue;
        // Just started: the pods have not all reported yet.
        const bool unheard = now - start_time_ < kPodGraceAfterStart;
        if (!all_current || unheard) {
          if (rollout.state() != v1::ROLLOUT_STATE_WAITING_FOR_PODS) {
            rollout.set_state(v1::ROLLOUT_STATE_WAITING_FOR_PODS);
            rollout.set_status_message(absl::StrCat(
                "waiting for every ready pod to serve revision ",
                model.deployment_revision(),
                unheard ? " (the registry just started: pods report again "
                          "within their report interval)"
                        : ""));
            if (absl::Status st = tx.PutRollout(rollout); !st.ok()) return st;
          }
          continue;
        }
        if (manual) {
          rollout.set_state(v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE);
          rollout.set_status_message("hold is over: waiting for Promote");
          if (absl::Status st = tx.PutRollout(rollout); !st.ok()) return st;
          continue;
        }
        absl::StatusOr<v1::Deployment> d =
            AdvanceRollout(w, &model, &rollout, "hold is over");
        if (!d.ok()) return d.status();
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Retention reads every version of every model: once a minute is enough.
  {
    absl::MutexLock lock(&mu_);
    if (now - last_retention_ < absl::Minutes(1)) return absl::OkStatus();
    last_retention_ = now;
  }
  return ApplyRetention();
}

absl::Status Registry::ApplyRetention() {
  std::vector<std::string> orphans;
  absl::Status s = Mutate(Caller{"registry"}, [&](RegistryWriter& w) {
    RegistryTx& tx = w.tx();
    std::string cursor;
    while (true) {
      absl::StatusOr<std::vector<v1::Model>> models =
          tx.ListModels(cursor, 256);
      if (!models.ok()) return models.status();
      if (models->empty()) break;
      for (const v1::Model& model : *models) {
        cursor = model.name().substr(7);
        const int keep = model.retention().keep_last_archived() > 0
                             ? model.retention().keep_last_archived()
                             : 10;
        int kept = 0;
        absl::StatusOr<std::vector<v1::Version>> versions =
            tx.ListVersions(cursor, S::VERSION_STATE_UNSPECIFIED, 0, 1 << 20);
        if (!versions.ok()) return versions.status();
        for (const v1::Version& v : *versions) {  // Newest first.
          const bool retired = v.state() == S::VERSION_STATE_ARCHIVED ||
                               v.state() == S::VERSION_STATE_REJECTED ||
                               v.state() == S::VERSION_STATE_ROLLED_BACK;
          if (!retired || ++kept <= keep) continue;
          bool aliased = false;
          for (const auto& [alias, target] : model.aliases())
            aliased |= target == v.version();
          if (aliased) continue;  // A user alias keeps a version.
          if (absl::Status st = tx.DeleteVersion(cursor, v.version()); !st.ok())
            return st;
          v1::Version brief;
          brief.set_name(v.name());
          brief.set_state(v.state());
          brief.set_sha256(v.sha256());
          if (absl::Status st =
                  w.Audit("version.delete", v.name(), &brief, nullptr,
                          absl::StrCat("retention: keep the last ", keep));
              !st.ok()) {
            return st;
          }
          absl::StatusOr<int64_t> refs = tx.CountBlobReferences(v.sha256());
          if (!refs.ok()) return refs.status();
          if (*refs == 0) orphans.push_back(v.sha256());
        }
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  // Blobs go after the metadata committed: a crash in between leaves an
  // unreferenced blob (harmless), never a version without its blob.
  // An upload of the same bytes may have committed a new version since:
  // count again, under the lock uploads hold until they commit.
  absl::MutexLock blob_lock(&blob_mu_);
  for (const std::string& sha : orphans) {
    int64_t references = 0;
    absl::Status counted = store_->Transact([&](RegistryTx& tx) {
      absl::StatusOr<int64_t> n = tx.CountBlobReferences(sha);
      if (!n.ok()) return n.status();
      references = *n;
      return absl::OkStatus();
    });
    if (!counted.ok() || references > 0) continue;
    if (absl::Status st = blobs_->Delete(sha);
        !st.ok() && !absl::IsNotFound(st)) {
      spdlog::warn("retention: cannot delete blob {}: {}", sha, st.message());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::Deployment>> Registry::DeploymentsSince(
    int64_t since, const std::vector<std::string>& models, int limit) {
  std::vector<v1::Deployment> out;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    absl::StatusOr<std::vector<v1::Deployment>> d =
        tx.DeploymentsSince(since, models, limit);
    if (!d.ok()) return d.status();
    out = *std::move(d);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Deployment>> Registry::CurrentDeployments(
    const std::vector<std::string>& models) {
  std::vector<v1::Deployment> out;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    std::vector<std::string> ids = models;
    if (ids.empty()) {
      std::string cursor;
      while (true) {
        absl::StatusOr<std::vector<v1::Model>> page =
            tx.ListModels(cursor, 256);
        if (!page.ok()) return page.status();
        if (page->empty()) break;
        for (const v1::Model& m : *page)
          ids.push_back(cursor = m.name().substr(7));
      }
    }
    for (const std::string& id : ids) {
      absl::StatusOr<std::optional<v1::Deployment>> d = tx.GetDeployment(id);
      if (!d.ok()) return d.status();
      if (d->has_value()) out.push_back(**d);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  std::sort(out.begin(), out.end(),
            [](const v1::Deployment& a, const v1::Deployment& b) {
              return a.revision() < b.revision();
            });
  return out;
}

absl::StatusOr<std::vector<v1::AuditEntry>> Registry::AuditEntriesAfter(
    int64_t after, int limit) {
  std::vector<v1::AuditEntry> out;
  absl::Status s = store_->Transact([&](RegistryTx& tx) {
    absl::StatusOr<std::vector<v1::AuditEntry>> e =
        tx.AuditEntriesAfter(after, limit);
    if (!e.ok()) return e.status();
    out = *std::move(e);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace continuum::registry
