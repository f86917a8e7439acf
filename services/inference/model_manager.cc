#include "services/inference/model_manager.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include <spdlog/spdlog.h>

#include "lib/core/logging.h"
#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "lib/model/forecasting.h"

namespace continuum::inference {
namespace {

// Uniform in [0, 100) per thread, for random routing.
int RandomPercentile() {
  thread_local absl::BitGen gen;
  return absl::Uniform<int>(gen, 0, 100);
}

// Stable over processes and versions of Abseil, so that a key keeps its
// arm when pods restart: FNV-1a.
int KeyPercentile(absl::string_view key) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<int>(h % 100);
}

}  // namespace

void LowerThreadPriority() {
  const pid_t tid = static_cast<pid_t>(syscall(SYS_gettid));
  if (setpriority(PRIO_PROCESS, static_cast<id_t>(tid), 10) != 0) {
    spdlog::warn("could not lower the loader thread's priority: errno {}",
                 errno);
  }
}

absl::Status CheckFinite(absl::Span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InternalError(
          absl::StrCat("output value ", i, " is ", values[i]));
    }
  }
  return absl::OkStatus();
}

ModelManager::ModelManager(ModelManagerOptions options)
    : options_(std::move(options)) {}

ModelManager::~ModelManager() = default;

ModelManager::ModelEntry& ModelManager::EntryLocked(const std::string& model) {
  std::unique_ptr<ModelEntry>& entry = models_[model];
  if (entry == nullptr) {
    entry = std::make_unique<ModelEntry>();
    entry->scheduler = std::make_unique<BatchScheduler>(options_.batching);
    entry->serving = std::make_shared<const ServingSet>();
  }
  return *entry;
}

void ModelManager::Changed() const {
  if (options_.on_change) options_.on_change();
}

void ModelManager::SetPending(const std::string& model, int64_t revision) {
  {
    absl::MutexLock lock(&mu_);
    EntryLocked(model).pending_revision = revision;
  }
  Changed();
}

absl::StatusOr<ServableHandle> ModelManager::Load(const std::string& model,
                                                  int64_t version,
                                                  const std::string& sha256,
                                                  std::string* stage) {
  *stage = "fetch";
  absl::StatusOr<std::string> bytes =
      options_.source->Fetch(model, version, sha256);
  if (!bytes.ok()) return bytes.status();
  *stage = "parse";
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::ParseBundle(*bytes);
  if (!bundle.ok()) return bundle.status();
  bytes->clear();
  bytes->shrink_to_fit();
  *stage = "build";
  absl::StatusOr<std::unique_ptr<model::Model>> runner =
      model::Model::FromBundle(*bundle);
  if (!runner.ok()) return runner.status();

  // Warm-up: the bundle's warm-up rows (or one row of zeros) must run and
  // give finite outputs before the version may answer anything.
  *stage = "warmup";
  const model::Model& m = **runner;
  std::vector<float> rows;
  int n = 0;
  const v1::Tensor& warmup = (*runner)->bundle().warmup_inputs();
  if (warmup.data_size() > 0 && m.input_dim() > 0 &&
      warmup.data_size() % m.input_dim() == 0) {
    rows.assign(warmup.data().begin(), warmup.data().end());
    n = warmup.data_size() / m.input_dim();
  } else {
    rows.assign(m.input_dim(), 0.0f);
    n = 1;
  }
  std::vector<float> out;
  if (absl::Status s = m.Forward(rows.data(), n, &out); !s.ok()) return s;
  if (absl::Status s = CheckFinite(out); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("warm-up gave a non-finite output: ", s.message()));
  }

  auto servable = std::make_shared<Servable>();
  servable->model = model;
  servable->version = version;
  servable->sha256 = sha256;
  // What the rows and outputs are (a torchscript module's task's family).
  servable->family = model::TaskFamily(m.bundle().manifest().spec());
  const v1::ModelSpec spec = model::ResolveSpec(m.bundle().manifest().spec());
  servable->input_shape = model::InputShape(spec);
  servable->output_shape = model::OutputShape(spec);
  servable->point_quantile = model::PointQuantileIndex(spec);
  servable->runner = std::move(*runner);
  core::Clock* clock =
      options_.clock != nullptr ? options_.clock : core::Clock::Real();
  servable->available_time = clock->Now();
  return ServableHandle(std::move(servable));
}

ModelManager::LoadOutcome ModelManager::LoadVersions(
    const v1::Deployment& deployment,
    const std::map<int64_t, ServableHandle>& held,
    const absl::flat_hash_map<std::string, std::string>& failed_before) {
  const std::string& model = deployment.model();
  LoadOutcome out;
  for (const v1::DeployedArtifact& a : deployment.artifacts()) {
    if (out.loaded.count(a.version()) || out.failed.count(a.version())) {
      continue;
    }
    auto it = held.find(a.version());
    if (it != held.end() && it->second->sha256 == a.sha256()) {
      out.loaded[a.version()] = it->second;
      continue;
    }
    if (auto f = failed_before.find(a.sha256()); f != failed_before.end()) {
      out.failed[a.version()] = f->second;
      if (out.first_failure.ok()) {
        out.first_failure = absl::FailedPreconditionError(f->second);
      }
      continue;
    }
    std::string stage;
    absl::StatusOr<ServableHandle> servable =
        Load(model, a.version(), a.sha256(), &stage);
    if (!servable.ok()) {
      std::string reason =
          absl::StrCat(stage, " failed: ", servable.status().message());
      spdlog::error("model {} version {}: {}", model, a.version(), reason);
      out.failed[a.version()] = reason;
      // A fetch may fail for a passing reason (the registry is down); the
      // other stages fail for good with this artifact.
      if (stage != "fetch") out.newly_failed[a.sha256()] = reason;
      if (options_.observer != nullptr) {
        options_.observer->OnLoadFailure(model, stage);
      }
      if (out.first_failure.ok()) {
        out.first_failure = absl::Status(
            servable.status().code(),
            absl::StrCat("model ", model, " version ", a.version(), ": ",
                         reason));
      }
      continue;
    }
    out.loaded[a.version()] = *std::move(servable);
    out.loaded_new = true;
  }
  return out;
}

std::shared_ptr<const ModelManager::ServingSet> ModelManager::NextServingSet(
    const v1::Deployment& deployment, const ServingSet& current,
    const LoadOutcome& outcome) {
  auto pick = [&](int64_t version) -> ServableHandle {
    if (version <= 0) return nullptr;
    auto it = outcome.loaded.find(version);
    return it == outcome.loaded.end() ? nullptr : it->second;
  };
  auto next = std::make_shared<ServingSet>();
  next->stable = pick(deployment.stable_version());
  if (next->stable == nullptr && deployment.stable_version() > 0) {
    next->stable = current.stable;  // Keep serving what works.
  }
  next->canary = pick(deployment.canary_version());
  next->canary_percent =
      next->canary != nullptr ? std::clamp(deployment.canary_percent(), 0, 100)
                              : 0;
  next->shadow = pick(deployment.shadow_version());
  next->shadow_percent =
      next->shadow != nullptr ? std::clamp(deployment.shadow_percent(), 0, 100)
                              : 0;
  next->routing = deployment.routing() == v1::ROUTING_MODE_UNSPECIFIED
                      ? v1::ROUTING_MODE_STICKY
                      : deployment.routing();
  next->revision =
      outcome.first_failure.ok() ? deployment.revision() : current.revision;
  return next;
}

void ModelManager::Install(const v1::Deployment& deployment,
                           std::shared_ptr<const ServingSet> next,
                           LoadOutcome& outcome) {
  absl::MutexLock lock(&mu_);
  ModelEntry& entry = EntryLocked(deployment.model());
  for (const ServableHandle& old :
       {entry.serving->stable, entry.serving->canary, entry.serving->shadow}) {
    if (old != nullptr && old != next->stable && old != next->canary &&
        old != next->shadow) {
      entry.retired.push_back(old);
    }
  }
  entry.serving = std::move(next);
  entry.failed = std::move(outcome.failed);
  for (auto& [sha, reason] : outcome.newly_failed) {
    entry.failed_artifacts[sha] = reason;
  }
  if (entry.pending_revision <= deployment.revision()) {
    entry.pending_revision = 0;
  }
}

absl::Status ModelManager::Apply(const v1::Deployment& deployment) {
  const std::string& model = deployment.model();
  if (model.empty()) {
    return absl::InvalidArgumentError("deployment without a model");
  }
  // What is held now, by version, and the artifacts that failed before.
  std::map<int64_t, ServableHandle> held;
  absl::flat_hash_map<std::string, std::string> failed_before;
  std::shared_ptr<const ServingSet> current;
  {
    absl::MutexLock lock(&mu_);
    ModelEntry& entry = EntryLocked(model);
    current = entry.serving;
    for (const ServableHandle& s :
         {current->stable, current->canary, current->shadow}) {
      if (s != nullptr) held[s->version] = s;
    }
    failed_before = entry.failed_artifacts;
  }
  if (current->revision > 0 && deployment.revision() == current->revision) {
    return absl::OkStatus();  // Applied already (a resumed watch, a cache).
  }

  const absl::Time start = absl::Now();
  LoadOutcome outcome = LoadVersions(deployment, held, failed_before);
  Install(deployment, NextServingSet(deployment, *current, outcome), outcome);
  // `held` and `current` drop their references here: a swapped-out version
  // is freed now unless a request still holds it.
  held.clear();
  current.reset();
  if (options_.observer != nullptr && outcome.loaded_new) {
    options_.observer->OnSwap(model, absl::Now() - start);
  }
  spdlog::info("model {}: revision {} {} (stable {}, canary {} at {}%, "
               "shadow {} at {}%)",
               model, deployment.revision(),
               outcome.first_failure.ok() ? "applied" : "applied in part",
               deployment.stable_version(), deployment.canary_version(),
               deployment.canary_percent(), deployment.shadow_version(),
               deployment.shadow_percent());
  Changed();
  return outcome.first_failure;
}

absl::StatusOr<Route> ModelManager::RouteRequest(
    absl::string_view model, int64_t pinned,
    absl::string_view routing_key) const {
  std::shared_ptr<const ServingSet> serving;
  Route route;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(model);
    if (it == models_.end()) {
      return absl::NotFoundError(
          absl::StrCat("model '", model, "' is not served by this pod"));
    }
    serving = it->second->serving;
    route.scheduler = it->second->scheduler.get();
  }
  route.revision = serving->revision;
  if (pinned > 0) {
    std::vector<int64_t> versions;
    for (const ServableHandle& s :
         {serving->stable, serving->canary, serving->shadow}) {
      if (s == nullptr) continue;
      if (s->version == pinned) {
        route.servable = s;
        route.role = v1::SERVING_ROLE_PINNED;
        return route;
      }
      versions.push_back(s->version);
    }
    return absl::NotFoundError(absl::StrCat(
        "model '", model, "' version ", pinned,
        " is not loaded on this pod; loaded versions: [",
        absl::StrJoin(versions, ", "), "]"));
  }
  if (serving->stable == nullptr && serving->canary == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "model '", model, "' has no version available yet; retry"));
  }
  bool to_canary = false;
  if (serving->canary != nullptr && serving->canary_percent > 0) {
    const int p = serving->routing == v1::ROUTING_MODE_STICKY &&
                          !routing_key.empty()
                      ? KeyPercentile(routing_key)
                      : RandomPercentile();
    to_canary = p < serving->canary_percent || serving->stable == nullptr;
  }
  if (to_canary) {
    route.servable = serving->canary;
    route.role = v1::SERVING_ROLE_CANARY;
  } else {
    route.servable = serving->stable;
    route.role = v1::SERVING_ROLE_STABLE;
  }
  if (serving->shadow != nullptr && serving->shadow_percent > 0 &&
      RandomPercentile() < serving->shadow_percent) {
    route.shadow = serving->shadow;
  }
  return route;
}

absl::StatusOr<std::vector<v1::ModelServingStatus>> ModelManager::Status(
    absl::string_view model) const {
  std::vector<v1::ModelServingStatus> out;
  absl::MutexLock lock(&mu_);
  if (!model.empty() && !models_.contains(model)) {
    return absl::NotFoundError(
        absl::StrCat("model '", model, "' is not served by this pod"));
  }
  std::vector<std::string> names;
  for (const auto& [name, entry] : models_) {
    if (model.empty() || name == model) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    ModelEntry& entry = *models_.at(name);
    v1::ModelServingStatus& status = out.emplace_back();
    status.set_model(name);
    status.set_revision(entry.serving->revision);
    status.set_pending_revision(entry.pending_revision);
    status.set_ready(entry.serving->stable != nullptr ||
                     entry.serving->canary != nullptr);
    auto add = [&](const Servable& s, v1::ServingState state,
                   v1::ServingRole role) {
      v1::VersionServingStatus* v = status.add_versions();
      v->set_version(s.version);
      v->set_state(state);
      v->set_role(role);
      v->set_rows_served(s.rows_served.load(std::memory_order_relaxed));
      *v->mutable_available_time() = core::ToProto(s.available_time);
    };
    const ServingSet& set = *entry.serving;
    if (set.stable) {
      add(*set.stable, v1::SERVING_STATE_AVAILABLE, v1::SERVING_ROLE_STABLE);
    }
    if (set.canary && set.canary != set.stable) {
      add(*set.canary, v1::SERVING_STATE_AVAILABLE, v1::SERVING_ROLE_CANARY);
    }
    if (set.shadow && set.shadow != set.stable && set.shadow != set.canary) {
      add(*set.shadow, v1::SERVING_STATE_AVAILABLE, v1::SERVING_ROLE_SHADOW);
    }
    // Swapped-out versions still held by requests.
    auto& retired = entry.retired;
    retired.erase(std::remove_if(retired.begin(), retired.end(),
                                 [](const std::weak_ptr<const Servable>& w) {
                                   return w.expired();
                                 }),
                  retired.end());
    for (const std::weak_ptr<const Servable>& w : retired) {
      if (ServableHandle s = w.lock()) {
        add(*s, v1::SERVING_STATE_UNLOADING, v1::SERVING_ROLE_UNSPECIFIED);
      }
    }
    for (const auto& [version, reason] : entry.failed) {
      v1::VersionServingStatus* v = status.add_versions();
      v->set_version(version);
      v->set_state(v1::SERVING_STATE_FAILED);
      v->set_reason(reason);
    }
  }
  return out;
}

bool ModelManager::ready() const {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, entry] : models_) {
    if (entry->serving->stable != nullptr ||
        entry->serving->canary != nullptr) {
      return true;
    }
  }
  return false;
}

std::vector<std::string> ModelManager::models() const {
  std::vector<std::string> names;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, entry] : models_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace continuum::inference
