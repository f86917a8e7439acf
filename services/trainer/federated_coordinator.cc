#include "services/trainer/federated_coordinator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/core/filter.h"
#include "lib/core/page_token.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "lib/federated/aggregation.h"
#include "lib/federated/privacy.h"
#include "lib/federated/rdp_accountant.h"
#include "lib/federated/server_optimizer.h"
#include "services/trainer/federated_settings.h"
#include "spdlog/spdlog.h"

namespace continuum::trainer {
namespace {

namespace fed = ::continuum::federated;

bool Final(v1::RoundState s) {
  return s == v1::ROUND_STATE_COMPLETED || s == v1::ROUND_STATE_FAILED;
}

std::string RoundName(const std::string& model, int64_t number) {
  return absl::StrCat("models/", model, "/rounds/", number);
}

std::string SiteName(const std::string& id) {
  return absl::StrCat("sites/", id);
}

absl::Duration DurationOr(const google::protobuf::Duration& d,
                          absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return core::FromProto(d);
}

v1::Participant* FindParticipant(v1::Round& round, const std::string& site) {
  for (v1::Participant& p : *round.mutable_participants()) {
    if (p.site_id() == site) return &p;
  }
  return nullptr;
}

fed::Rule RuleOf(v1::Aggregation a) {
  switch (a) {
    case v1::AGGREGATION_COORDINATE_MEDIAN:
      return fed::Rule::kCoordinateMedian;
    case v1::AGGREGATION_TRIMMED_MEAN:
      return fed::Rule::kTrimmedMean;
    case v1::AGGREGATION_KRUM:
      return fed::Rule::kKrum;
    case v1::AGGREGATION_MULTI_KRUM:
      return fed::Rule::kMultiKrum;
    default:
      return fed::Rule::kFedAvg;
  }
}

fed::ServerOptimizerOptions OptimizerOptions(const v1::FederatedConfig& c) {
  const v1::ServerOptimizerConfig& o = c.server_optimizer();
  fed::ServerOptimizerOptions options;
  switch (o.optimizer()) {
    case v1::SERVER_OPTIMIZER_FEDADAGRAD:
      options.kind = fed::ServerOptimizerKind::kAdagrad;
      break;
    case v1::SERVER_OPTIMIZER_FEDYOGI:
      options.kind = fed::ServerOptimizerKind::kYogi;
      break;
    case v1::SERVER_OPTIMIZER_FEDADAM:
      options.kind = fed::ServerOptimizerKind::kAdam;
      break;
    default:
      options.kind = fed::ServerOptimizerKind::kNone;
  }
  options.learning_rate = o.learning_rate();
  if (o.beta1() != 0) options.beta1 = o.beta1();
  if (o.beta2() != 0) options.beta2 = o.beta2();
  if (o.tau() != 0) options.tau = o.tau();
  return options;
}

// A copy for callers: while the round is open the participants' keys are
// not shown (federated.proto: filled in once membership closes).
v1::Round Shown(const v1::Round& round) {
  v1::Round shown = round;
  if (round.state() == v1::ROUND_STATE_OPEN) {
    for (v1::Participant& p : *shown.mutable_participants()) {
      p.clear_mask_public_key();
    }
  }
  return shown;
}

}  // namespace

v1::FederatedConfig ResolveFederatedConfig(const v1::FederatedConfig& in) {
  v1::FederatedConfig c = in;
  if (c.aggregation() == v1::AGGREGATION_UNSPECIFIED) {
    c.set_aggregation(v1::AGGREGATION_FEDAVG);
  }
  if (c.aggregation() == v1::AGGREGATION_FEDPROX && c.fedprox_mu() == 0) {
    c.set_fedprox_mu(0.01);
  }
  if (c.trim_fraction() == 0) c.set_trim_fraction(0.1);
  if (c.min_sites() == 0) c.set_min_sites(2);
  if (!c.has_join_timeout()) c.mutable_join_timeout()->set_seconds(300);
  if (!c.has_submit_timeout()) c.mutable_submit_timeout()->set_seconds(1800);
  if (c.local_epochs() == 0) c.set_local_epochs(1);
  if (c.local_batch_size() == 0) c.set_local_batch_size(64);
  v1::DifferentialPrivacyConfig* dp = c.mutable_differential_privacy();
  if (dp->target_delta() == 0) dp->set_target_delta(1e-5);
  v1::AdaptiveClippingConfig* ac = dp->mutable_adaptive_clipping();
  if (ac->target_quantile() == 0) ac->set_target_quantile(0.5);
  if (ac->learning_rate() == 0) ac->set_learning_rate(0.2);
  v1::SecureAggregationConfig* sa = c.mutable_secure_aggregation();
  if (sa->fixed_point_scale() == 0) sa->set_fixed_point_scale(65536);
  sa->set_protocol(std::string(fed::kSecureAggregationProtocol));
  v1::OutlierExclusionConfig* oe = c.mutable_outlier_exclusion();
  if (oe->norm_threshold() == 0) oe->set_norm_threshold(3.0);
  if (oe->exclude_after() == 0) oe->set_exclude_after(3);
  if (c.server_optimizer().optimizer() == v1::SERVER_OPTIMIZER_UNSPECIFIED) {
    c.mutable_server_optimizer()->set_optimizer(v1::SERVER_OPTIMIZER_NONE);
  }
  return c;
}

FederatedCoordinator::FederatedCoordinator(FederatedCoordinatorOptions options)
    : options_(std::move(options)) {
  uint64_t seed = options_.noise_seed;
  if (seed == 0) {
    std::random_device device;
    seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  }
  noise_.seed(seed);
}

absl::StatusOr<std::unique_ptr<FederatedCoordinator>>
FederatedCoordinator::Create(FederatedCoordinatorOptions options) {
  if (options.store == nullptr || !options.production ||
      !options.model_config || !options.trigger_run || !options.get_run) {
    return absl::InvalidArgumentError(
        "a federated coordinator needs a store, production, model_config, "
        "trigger_run and get_run");
  }
  std::unique_ptr<FederatedCoordinator> c(
      new FederatedCoordinator(std::move(options)));
  absl::MutexLock lock(&c->mu_);
  if (absl::Status s = c->Load(); !s.ok()) return s;
  return c;
}

absl::Status FederatedCoordinator::Load() {
  absl::StatusOr<std::vector<v1::Site>> sites = options_.store->LoadSites();
  if (!sites.ok()) return sites.status();
  for (v1::Site& s : *sites) {
    const std::string id = s.name().substr(std::string("sites/").size());
    sites_[id] = std::move(s);
  }
  absl::StatusOr<std::map<std::string, FederatedModelState>> states =
      options_.store->LoadModelStates();
  if (!states.ok()) return states.status();
  model_states_ = *std::move(states);
  if (options_.metrics != nullptr) options_.metrics->SetSites(sites_);
  absl::StatusOr<std::vector<v1::Round>> rounds = options_.store->LoadRounds();
  if (!rounds.ok()) return rounds.status();
  for (v1::Round& r : *rounds) {
    RoundData& data = rounds_[r.name()];
    data.round = std::move(r);
    if (!Final(data.round.state())) {
      Fail(data, absl::StatusCode::kAborted,
           absl::StrCat("interrupted by a coordinator restart (it was ",
                        v1::RoundState_Name(data.round.state()),
                        "); the production version is untouched"));
    }
  }
  return absl::OkStatus();
}

FederatedCoordinator::RoundData* FederatedCoordinator::FindRound(
    const std::string& name) {
  auto it = rounds_.find(name);
  return it == rounds_.end() ? nullptr : &it->second;
}

FederatedCoordinator::RoundData* FederatedCoordinator::ActiveRound(
    const std::string& model) {
  for (auto& [name, data] : rounds_) {
    if (data.round.model() == model && !Final(data.round.state())) {
      return &data;
    }
  }
  return nullptr;
}

v1::Site* FederatedCoordinator::TouchSite(const std::string& site_id) {
  v1::Site& site = sites_[site_id];
  if (site.name().empty()) {
    site.set_name(SiteName(site_id));
    site.set_trust(v1::SITE_TRUST_TRUSTED);
  }
  *site.mutable_last_seen_time() = core::ToProto(options_.clock->Now());
  return &site;
}

void FederatedCoordinator::Save(const v1::Round& round) {
  if (absl::Status s = options_.store->PutRound(round); !s.ok()) {
    spdlog::error("federated: saving {}: {}", round.name(), s.ToString());
  }
  changed_.SignalAll();
}

void FederatedCoordinator::SaveSite(const v1::Site& site) {
  if (absl::Status s = options_.store->PutSite(site); !s.ok()) {
    spdlog::error("federated: saving {}: {}", site.name(), s.ToString());
  }
  if (options_.metrics != nullptr) options_.metrics->SetSites(sites_);
}

void FederatedCoordinator::Fail(RoundData& data, absl::StatusCode code,
                                const std::string& why) {
  data.round.set_state(v1::ROUND_STATE_FAILED);
  data.round.mutable_error()->set_code(static_cast<int>(code));
  data.round.mutable_error()->set_message(why);
  *data.round.mutable_end_time() = core::ToProto(options_.clock->Now());
  data.updates.clear();
  data.masked_sum.reset();
  data.aggregate.reset();
  spdlog::warn("federated: {} failed: {}", data.round.name(), why);
  if (options_.metrics != nullptr) options_.metrics->RoundEnded(data.round);
  Save(data.round);
}

int64_t FederatedCoordinator::FederationSize() const {
  int64_t n = 0;
  for (const auto& [id, site] : sites_) {
    if (site.trust() != v1::SITE_TRUST_EXCLUDED) ++n;
  }
  return n;
}

absl::StatusOr<v1::Round> FederatedCoordinator::StartRound(
    const v1::StartRoundRequest& request) {
  absl::StatusOr<std::string> model =
      core::ParseResourceName(request.parent(), "models", "model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent: ", model.status().message()));
  }
  if (request.reason().size() > 4096) {
    return absl::InvalidArgumentError("reason: at most 4096 bytes");
  }
  v1::FederatedConfig config;
  if (request.has_config()) {
    if (absl::Status s = CheckFederatedConfig(request.config(), "config");
        !s.ok()) {
      return s;
    }
    config = request.config();
  } else {
    absl::StatusOr<v1::FederatedConfig> stored = options_.model_config(*model);
    if (!stored.ok()) return stored.status();
    config = *stored;
  }
  config = ResolveFederatedConfig(config);
  const v1::DifferentialPrivacyConfig& dp = config.differential_privacy();
  if (dp.enabled() && !(dp.clip_norm() > 0 && dp.noise_multiplier() > 0)) {
    return absl::InvalidArgumentError(
        "config.differential_privacy: DP needs clip_norm and "
        "noise_multiplier > 0");
  }
  // The production version and the evaluation data: outside the mutex
  // (they call the registry and the collector).
  absl::StatusOr<FederatedBase> base = options_.production(*model);
  if (!base.ok()) return base.status();
  if (options_.evaluation_ready) {
    if (absl::Status s = options_.evaluation_ready(*model); !s.ok()) return s;
  }

  absl::MutexLock lock(&mu_);
  if (RoundData* active = ActiveRound(*model)) {
    return absl::FailedPreconditionError(absl::StrCat(
        active->round.name(), " of model ", *model, " is ",
        v1::RoundState_Name(active->round.state()),
        "; one round of a model at a time: wait for it to end"));
  }
  FederatedModelState& state = model_states_[*model];
  fed::RdpAccountant accountant;
  if (!state.rdp.empty()) {
    if (absl::Status s = accountant.Restore(state.rdp, state.dp_rounds);
        !s.ok()) {
      return absl::InternalError(absl::StrCat("privacy accountant: ",
                                              s.message()));
    }
  }
  if (dp.enabled() && dp.max_epsilon() > 0) {
    // Planned as if every site took part (q = 1): an upper bound.
    absl::StatusOr<fed::PrivacySpent> after =
        accountant.SpentAfter(dp.noise_multiplier(), 1.0, 1, dp.target_delta());
    absl::StatusOr<fed::PrivacySpent> now = accountant.Spent(dp.target_delta());
    if (after.ok() && after->epsilon > dp.max_epsilon()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "privacy budget of model ", *model, ": max_epsilon is ",
          dp.max_epsilon(), "; ", accountant.steps(),
          " rounds spent epsilon ", now.ok() ? now->epsilon : 0.0,
          " and one more would reach ", after->epsilon, " (delta ",
          dp.target_delta(), ")"));
    }
  }
  int64_t number = 1;
  for (const auto& [name, data] : rounds_) {
    if (data.round.model() == *model) {
      number = std::max(number, data.round.number() + 1);
    }
  }
  const absl::Time now = options_.clock->Now();
  v1::Round round;
  round.set_name(RoundName(*model, number));
  round.set_model(*model);
  round.set_number(number);
  round.set_state(v1::ROUND_STATE_OPEN);
  *round.mutable_config() = config;
  *round.mutable_base_version() = base->version;
  round.set_num_parameters(base->num_parameters);
  *round.mutable_join_deadline() =
      core::ToProto(now + DurationOr(config.join_timeout(), absl::Minutes(5)));
  *round.mutable_create_time() = core::ToProto(now);
  if (dp.enabled()) {
    round.set_clip_norm(state.clip_norm > 0 ? state.clip_norm
                                            : dp.clip_norm());
    absl::StatusOr<fed::PrivacySpent> spent =
        accountant.Spent(dp.target_delta());
    round.mutable_privacy()->set_epsilon(spent.ok() ? spent->epsilon : 0);
    round.mutable_privacy()->set_delta(dp.target_delta());
    round.mutable_privacy()->set_rounds(accountant.steps());
  }
  RoundData& data = rounds_[round.name()];
  data.round = round;
  if (options_.metrics != nullptr) options_.metrics->RoundOpened(round);
  spdlog::info("federated: opened {} on version {} ({} parameters){}", round.name(), base->version.version(), base->num_parameters, (request.reason().empty() ? "" : ": " + request.reason()));
  Save(round);
  return Shown(round);
}

absl::StatusOr<v1::Round> FederatedCoordinator::GetRound(
    const std::string& name) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, "models/{model}/rounds/{round}");
  if (!parts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("name: ", parts.status().message()));
  }
  absl::MutexLock lock(&mu_);
  RoundData* data = FindRound(name);
  if (data == nullptr) {
    return absl::NotFoundError(absl::StrCat("round ", name, " not found"));
  }
  return Shown(data->round);
}

absl::StatusOr<v1::ListRoundsResponse> FederatedCoordinator::ListRounds(
    const v1::ListRoundsRequest& request) {
  std::string model;
  if (request.parent() != "models/-") {
    absl::StatusOr<std::string> m =
        core::ParseResourceName(request.parent(), "models", "model");
    if (!m.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parent: ", m.status().message(),
                       " (or models/- for every model)"));
    }
    model = *m;
  }
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be in [0, 1000] (got ", request.page_size(), ")"));
  }
  absl::StatusOr<core::Filter> filter = core::Filter::Parse(
      request.filter(),
      [](absl::string_view key) {
        return key == "state" || key == "create_time";
      },
      [](absl::string_view key) { return key == "create_time"; });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{"state", v1::RoundState_descriptor()}});
      !s.ok()) {
    return s;
  }
  const std::string query = absl::StrCat(request.parent(), "\n", request.filter());
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), query);
  if (!position.ok()) return position.status();
  const int size = request.page_size() == 0 ? 50 : request.page_size();

  // A comparison's verdict for a round; filter values were checked above.
  auto holds = [](const v1::Round& r, const core::Filter::Comparison& c) {
    if (c.key == "state") {
      const bool same = c.value == v1::RoundState_Name(r.state()) ||
                        absl::StrCat("ROUND_STATE_", c.value) ==
                            v1::RoundState_Name(r.state());
      return c.equal ? same : !same;
    }
    absl::StatusOr<absl::Time> t = core::TimeValue(c);
    if (!t.ok()) return false;
    const absl::Time created = core::FromProto(r.create_time());
    return core::OrderHolds(c.op, created < *t ? -1 : (created > *t ? 1 : 0));
  };
  for (const auto& conjunction : filter->disjuncts()) {
    for (const auto& c : conjunction) {
      if (c.key == "create_time") {
        if (absl::StatusOr<absl::Time> t = core::TimeValue(c); !t.ok()) {
          return t.status();
        }
      }
    }
  }

  absl::MutexLock lock(&mu_);
  // Newest first: by create time, then model and number, descending. The
  // position is the last shown round's sort key.
  std::vector<const v1::Round*> matching;
  for (const auto& [name, data] : rounds_) {
    const v1::Round& r = data.round;
    if (!model.empty() && r.model() != model) continue;
    if (!filter->Evaluate([&](const core::Filter::Comparison& c) {
          return holds(r, c);
        })) {
      continue;
    }
    matching.push_back(&r);
  }
  auto key = [](const v1::Round& r) {
    return absl::StrCat(
        absl::Dec(std::max<int64_t>(
                      0, absl::ToUnixMicros(core::FromProto(r.create_time()))),
                  absl::kZeroPad20),
        "/", r.model(), "/", absl::Dec(r.number(), absl::kZeroPad20));
  };
  std::sort(matching.begin(), matching.end(),
            [&](const v1::Round* a, const v1::Round* b) {
              return key(*a) > key(*b);
            });
  v1::ListRoundsResponse response;
  for (const v1::Round* r : matching) {
    if (!position->empty() && key(*r) >= *position) continue;
    if (response.rounds_size() == size) {
      response.set_next_page_token(core::EncodePageToken(
          key(response.rounds(response.rounds_size() - 1)), query));
      break;
    }
    *response.add_rounds() = Shown(*r);
  }
  return response;
}

absl::StatusOr<v1::JoinRoundResponse> FederatedCoordinator::JoinRound(
    const v1::JoinRoundRequest& request, absl::Time deadline) {
  absl::StatusOr<std::string> model =
      core::ParseResourceName(request.parent(), "models", "model");
  if (!model.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent: ", model.status().message()));
  }
  if (absl::Status s = core::ValidateResourceId("site", request.site_id());
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("site_id: ", s.message()));
  }
  if (!request.round().empty()) {
    absl::StatusOr<std::vector<std::string>> parts =
        core::MatchResourceName(request.round(), "models/{model}/rounds/{round}");
    if (!parts.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("round: ", parts.status().message()));
    }
    if ((*parts)[0] != *model) {
      return absl::InvalidArgumentError(absl::StrCat(
          "round: ", request.round(), " is not a round of ", request.parent()));
    }
  }
  if (request.sample_count() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sample_count: must be >= 0 (got ", request.sample_count(), ")"));
  }
  if (!request.mask_public_key().empty() &&
      request.mask_public_key().size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("mask_public_key: must be 32 bytes (got ",
                     request.mask_public_key().size(), ")"));
  }

  absl::MutexLock lock(&mu_);
  v1::Site* site = TouchSite(request.site_id());
  if (site->trust() == v1::SITE_TRUST_EXCLUDED) {
    SaveSite(*site);
    return absl::PermissionDeniedError(absl::StrCat(
        "site ", request.site_id(), " is excluded (", site->trust_reason(),
        "); an operator readmits it with UpdateSite"));
  }
  // The round: named, or the model's open one (waited for with `wait`).
  RoundData* data = nullptr;
  auto find = [&]() -> RoundData* {
    if (!request.round().empty()) return FindRound(request.round());
    RoundData* active = ActiveRound(*model);
    return active;
  };
  data = find();
  // With `wait` and no round named, wait for the model's next round.
  while (request.wait() && request.round().empty() && data == nullptr) {
    if (changed_.WaitWithDeadline(&mu_, deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no round of model ", *model, " opened before the deadline"));
    }
    data = find();
  }
  if (data == nullptr) {
    if (!request.round().empty()) {
      return absl::NotFoundError(
          absl::StrCat("round ", request.round(), " not found"));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("model ", *model, " has no open round (join with wait "
                                       "to wait for one)"));
  }
  v1::Round& round = data->round;
  v1::Participant* participant = FindParticipant(round, request.site_id());
  if (participant == nullptr) {
    // Checked again after the wait: an operator may have excluded the site
    // meanwhile.
    if (sites_[request.site_id()].trust() == v1::SITE_TRUST_EXCLUDED) {
      return absl::PermissionDeniedError(absl::StrCat(
          "site ", request.site_id(), " is excluded (",
          sites_[request.site_id()].trust_reason(),
          "); an operator readmits it with UpdateSite"));
    }
    if (round.state() != v1::ROUND_STATE_OPEN) {
      return absl::FailedPreconditionError(absl::StrCat(
          round.name(), " is ", v1::RoundState_Name(round.state()),
          ": membership is closed"));
    }
    const v1::FederatedConfig& config = round.config();
    if (config.secure_aggregation().enabled()) {
      if (request.mask_public_key().size() != 32) {
        return absl::InvalidArgumentError(
            "mask_public_key: required (32 bytes) when the round uses secure "
            "aggregation");
      }
      if (std::find(request.supported_protocols().begin(),
                    request.supported_protocols().end(),
                    config.secure_aggregation().protocol()) ==
          request.supported_protocols().end()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the round's secure aggregation protocol is ",
            config.secure_aggregation().protocol(),
            ", which the site does not list in supported_protocols"));
      }
    }
    participant = round.add_participants();
    participant->set_site_id(request.site_id());
    participant->set_index(round.participants_size() - 1);
    participant->set_state(v1::PARTICIPANT_STATE_JOINED);
    participant->set_sample_count(request.sample_count());
    participant->set_mask_public_key(request.mask_public_key());
    site->set_rounds_joined(site->rounds_joined() + 1);
    SaveSite(*site);
    if (config.max_sites() > 0 &&
        round.participants_size() >= config.max_sites()) {
      CloseMembership(*data);
    } else {
      Save(round);
    }
  } else {
    // A site that restarted mid-round joins again: same place. A new key
    // is not taken once membership closed (the peers derived their seeds).
    SaveSite(*site);
    if (participant->state() == v1::PARTICIPANT_STATE_DROPPED ||
        participant->state() == v1::PARTICIPANT_STATE_EXCLUDED) {
      return absl::FailedPreconditionError(absl::StrCat(
          "site ", request.site_id(), " was ",
          v1::ParticipantState_Name(participant->state()), " from ",
          round.name(), ": ", participant->reason()));
    }
    if (round.state() == v1::ROUND_STATE_OPEN) {
      participant->set_sample_count(request.sample_count());
      participant->set_mask_public_key(request.mask_public_key());
      Save(round);
    }
  }
  const std::string round_name = round.name();
  const std::string site_id = request.site_id();
  if (request.wait()) {
    while (true) {
      RoundData* d = FindRound(round_name);
      if (d->round.state() != v1::ROUND_STATE_OPEN) break;
      if (changed_.WaitWithDeadline(&mu_, deadline)) {
        return absl::DeadlineExceededError(absl::StrCat(
            "joined ", round_name,
            "; its membership did not close before the call's deadline"));
      }
    }
  }
  RoundData* d = FindRound(round_name);
  if (d->round.state() == v1::ROUND_STATE_FAILED) {
    return absl::FailedPreconditionError(absl::StrCat(
        round_name, " failed: ", d->round.error().message()));
  }
  v1::JoinRoundResponse response;
  *response.mutable_round() = Shown(d->round);
  response.set_participant_index(FindParticipant(d->round, site_id)->index());
  return response;
}

void FederatedCoordinator::CloseMembership(RoundData& data) {
  v1::Round& round = data.round;
  const absl::Time now = options_.clock->Now();
  round.set_state(v1::ROUND_STATE_TRAINING);
  *round.mutable_submit_deadline() = core::ToProto(
      now + DurationOr(round.config().submit_timeout(), absl::Minutes(30)));
  if (round.config().secure_aggregation().enabled()) {
    data.masked_sum =
        std::make_unique<fed::MaskedSum>(static_cast<size_t>(round.num_parameters()));
  }
  spdlog::info("federated: {} membership closed with {} sites", round.name(), round.participants_size());
  Save(round);
}

absl::StatusOr<int64_t> FederatedCoordinator::CheckSubmissionLocked(
    const v1::UpdateMetadata& metadata, RoundData** out) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(metadata.round(), "models/{model}/rounds/{round}");
  if (!parts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.round: ", parts.status().message()));
  }
  if (absl::Status s = core::ValidateResourceId("site", metadata.site_id());
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.site_id: ", s.message()));
  }
  RoundData* data = FindRound(metadata.round());
  if (data == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("round ", metadata.round(), " not found"));
  }
  const v1::Round& round = data->round;
  auto sit = sites_.find(metadata.site_id());
  if (sit != sites_.end() && sit->second.trust() == v1::SITE_TRUST_EXCLUDED) {
    return absl::PermissionDeniedError(
        absl::StrCat("site ", metadata.site_id(), " is excluded"));
  }
  v1::Participant* p = FindParticipant(data->round, metadata.site_id());
  if (p == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat(
        "site ", metadata.site_id(), " is not a participant of ",
        round.name()));
  }
  if (p->state() == v1::PARTICIPANT_STATE_SUBMITTED) {
    return absl::AlreadyExistsError(absl::StrCat(
        "site ", metadata.site_id(), " already submitted its update for ",
        round.name()));
  }
  if (round.state() != v1::ROUND_STATE_TRAINING) {
    return absl::FailedPreconditionError(absl::StrCat(
        round.name(), " is ", v1::RoundState_Name(round.state()),
        ", not collecting updates",
        p->state() == v1::PARTICIPANT_STATE_DROPPED
            ? absl::StrCat(" (the site was dropped: ", p->reason(), ")")
            : ""));
  }
  if (metadata.sample_count() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.sample_count: must be > 0 (got ", metadata.sample_count(),
        ")"));
  }
  if (metadata.base_version().model() != round.base_version().model() ||
      metadata.base_version().version() != round.base_version().version()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.base_version: the round trains from version ",
        round.base_version().version(), " of ", round.base_version().model(),
        ", not ", metadata.base_version().version(), " of ",
        metadata.base_version().model()));
  }
  if (metadata.num_parameters() != round.num_parameters()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.num_parameters: the round's base version has ",
        round.num_parameters(), " parameters, not ",
        metadata.num_parameters()));
  }
  const bool secure = round.config().secure_aggregation().enabled();
  if (metadata.masked() != secure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metadata.masked: must be ", secure ? "true" : "false",
        secure ? " (the round uses secure aggregation)"
               : " (the round does not use secure aggregation)"));
  }
  const v1::DifferentialPrivacyConfig& dp = round.config().differential_privacy();
  if (dp.enabled()) {
    if (!(metadata.clip_norm() >= 0) ||
        metadata.clip_norm() > round.clip_norm() * (1 + 1e-9)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata.clip_norm: must not exceed the round's clip norm ",
          round.clip_norm(), " (got ", metadata.clip_norm(), ")"));
    }
    if (secure && metadata.clip_norm() <= 0) {
      return absl::InvalidArgumentError(
          "metadata.clip_norm: a masked update under DP must be clipped by "
          "its site (clip_norm > 0)");
    }
  }
  *out = data;
  return round.num_parameters();
}

absl::StatusOr<int64_t> FederatedCoordinator::CheckSubmission(
    const v1::UpdateMetadata& metadata) {
  absl::MutexLock lock(&mu_);
  RoundData* data = nullptr;
  return CheckSubmissionLocked(metadata, &data);
}

absl::StatusOr<v1::Round> FederatedCoordinator::Submit(
    const v1::UpdateMetadata& metadata, std::vector<float> values,
    std::vector<uint32_t> masked) {
  absl::MutexLock lock(&mu_);
  RoundData* data = nullptr;
  absl::StatusOr<int64_t> expected = CheckSubmissionLocked(metadata, &data);
  if (!expected.ok()) return expected.status();
  const bool secure = data->round.config().secure_aggregation().enabled();
  const int64_t got = secure ? static_cast<int64_t>(masked.size())
                             : static_cast<int64_t>(values.size());
  if (got != *expected) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the update has ", got, " values; the round expects ", *expected));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk value ", i, " is not finite"));
    }
  }
  v1::Participant* p = FindParticipant(data->round, metadata.site_id());
  p->set_state(v1::PARTICIPANT_STATE_SUBMITTED);
  p->set_sample_count(metadata.sample_count());
  *p->mutable_submit_time() = core::ToProto(options_.clock->Now());
  if (options_.metrics != nullptr) {
    options_.metrics->UpdateAccepted(data->round.model());
  }
  if (secure) {
    (void)data->masked_sum->Add(masked);
  } else {
    p->set_update_norm(fed::L2Norm(values));
    data->updates[metadata.site_id()] = std::move(values);
  }
  bool all = true;
  for (const v1::Participant& q : data->round.participants()) {
    all = all && q.state() == v1::PARTICIPANT_STATE_SUBMITTED;
  }
  if (all) {
    CloseSubmissions(*data);
  } else {
    Save(data->round);
  }
  return Shown(data->round);
}

void FederatedCoordinator::CloseSubmissions(RoundData& data) {
  v1::Round& round = data.round;
  int submitted = 0;
  int dropped = 0;
  for (v1::Participant& p : *round.mutable_participants()) {
    if (p.state() == v1::PARTICIPANT_STATE_SUBMITTED) {
      ++submitted;
    } else if (p.state() == v1::PARTICIPANT_STATE_JOINED) {
      p.set_state(v1::PARTICIPANT_STATE_DROPPED);
      p.set_reason("no update before the submit deadline");
      ++dropped;
    }
  }
  if (submitted < round.config().min_sites()) {
    Fail(data, absl::StatusCode::kFailedPrecondition,
         absl::StrCat(submitted, " of ", round.participants_size(),
                      " sites submitted an update before the deadline; the "
                      "round needs min_sites = ",
                      round.config().min_sites()));
    return;
  }
  if (round.config().secure_aggregation().enabled() && dropped > 0) {
    round.set_state(v1::ROUND_STATE_UNMASKING);
    data.unmask_deadline =
        options_.clock->Now() +
        DurationOr(round.config().submit_timeout(), absl::Minutes(30));
    spdlog::info("federated: {}: {} sites dropped; waiting for the survivors' seeds", round.name(), dropped);
  } else {
    round.set_state(v1::ROUND_STATE_AGGREGATING);
  }
  Save(round);
}

absl::StatusOr<v1::Round> FederatedCoordinator::RevealMaskSeeds(
    const v1::RevealMaskSeedsRequest& request) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(request.round(), "models/{model}/rounds/{round}");
  if (!parts.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("round: ", parts.status().message()));
  }
  absl::MutexLock lock(&mu_);
  RoundData* data = FindRound(request.round());
  if (data == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("round ", request.round(), " not found"));
  }
  v1::Round& round = data->round;
  v1::Participant* me = FindParticipant(round, request.site_id());
  if (me == nullptr || me->state() != v1::PARTICIPANT_STATE_SUBMITTED) {
    return absl::PermissionDeniedError(absl::StrCat(
        "site ", request.site_id(), " is not a surviving participant of ",
        round.name()));
  }
  if (round.state() != v1::ROUND_STATE_UNMASKING) {
    return absl::FailedPreconditionError(absl::StrCat(
        round.name(), " is ", v1::RoundState_Name(round.state()),
        ", not ROUND_STATE_UNMASKING"));
  }
  if (data->revealed[request.site_id()]) return Shown(round);
  std::map<std::string, const v1::Participant*> dropped;
  for (const v1::Participant& p : round.participants()) {
    if (p.state() == v1::PARTICIPANT_STATE_DROPPED) dropped[p.site_id()] = &p;
  }
  std::map<std::string, fed::Key32> seeds;
  for (int i = 0; i < request.seeds_size(); ++i) {
    const v1::PairwiseSeed& s = request.seeds(i);
    if (dropped.count(s.peer_site_id()) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds[", i, "].peer_site_id: ", s.peer_site_id(),
          " did not drop out of ", round.name(),
          "; only seeds shared with dropped sites may be revealed"));
    }
    if (s.seed().size() != 32) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds[", i, "].seed: must be 32 bytes (got ", s.seed().size(), ")"));
    }
    if (seeds.count(s.peer_site_id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds[", i, "].peer_site_id: ", s.peer_site_id(), " given twice"));
    }
    fed::Key32 key;
    std::copy(s.seed().begin(), s.seed().end(), key.begin());
    seeds[s.peer_site_id()] = key;
  }
  for (const auto& [id, p] : dropped) {
    if (seeds.count(id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "seeds: missing the seed shared with dropped site ", id));
    }
  }
  for (const auto& [id, key] : seeds) {
    if (absl::Status s =
            data->masked_sum->RemoveMask(key, me->index(), dropped[id]->index());
        !s.ok()) {
      return s;
    }
  }
  data->revealed[request.site_id()] = true;
  bool all = true;
  for (const v1::Participant& p : round.participants()) {
    if (p.state() == v1::PARTICIPANT_STATE_SUBMITTED) {
      all = all && data->revealed[p.site_id()];
    }
  }
  if (all) round.set_state(v1::ROUND_STATE_AGGREGATING);
  Save(round);
  return Shown(round);
}

absl::StatusOr<v1::ListSitesResponse> FederatedCoordinator::ListSites(
    const v1::ListSitesRequest& request) {
  if (request.page_size() < 0 || request.page_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size: must be in [0, 1000] (got ", request.page_size(), ")"));
  }
  absl::StatusOr<core::Filter> filter = core::Filter::Parse(
      request.filter(), [](absl::string_view key) { return key == "trust"; });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{"trust", v1::SiteTrust_descriptor()}});
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> position =
      core::DecodePageToken(request.page_token(), request.filter());
  if (!position.ok()) return position.status();
  const int size = request.page_size() == 0 ? 100 : request.page_size();
  absl::MutexLock lock(&mu_);
  v1::ListSitesResponse response;
  for (const auto& [id, site] : sites_) {
    if (!position->empty() && id <= *position) continue;
    // Values may be written with or without the prefix ("EXCLUDED").
    const bool match = filter->Evaluate([&](const core::Filter::Comparison& c) {
      const bool same = c.value == v1::SiteTrust_Name(site.trust()) ||
                        absl::StrCat("SITE_TRUST_", c.value) ==
                            v1::SiteTrust_Name(site.trust());
      return c.equal ? same : !same;
    });
    if (!filter->empty() && !match) continue;
    if (response.sites_size() == size) {
      response.set_next_page_token(core::EncodePageToken(
          response.sites(size - 1).name().substr(6), request.filter()));
      break;
    }
    *response.add_sites() = site;
  }
  return response;
}

absl::StatusOr<v1::Site> FederatedCoordinator::UpdateSite(
    const v1::UpdateSiteRequest& request) {
  absl::StatusOr<std::string> id =
      core::ParseResourceName(request.site().name(), "sites", "site");
  if (!id.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("site.name: ", id.status().message()));
  }
  if (request.update_mask().paths_size() == 0) {
    return absl::InvalidArgumentError(
        "update_mask: name the fields to change (trust, trust_reason)");
  }
  for (const std::string& path : request.update_mask().paths()) {
    if (path != "trust" && path != "trust_reason") {
      return absl::InvalidArgumentError(absl::StrCat(
          "update_mask: '", path,
          "' cannot be changed; only trust and trust_reason"));
    }
  }
  const auto& paths = request.update_mask().paths();
  const bool set_trust =
      std::find(paths.begin(), paths.end(), "trust") != paths.end();
  const bool set_reason =
      std::find(paths.begin(), paths.end(), "trust_reason") != paths.end();
  if (set_trust && (!v1::SiteTrust_IsValid(request.site().trust()) ||
                    request.site().trust() == v1::SITE_TRUST_UNSPECIFIED)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "site.trust: ", request.site().trust(),
        " is not SITE_TRUST_TRUSTED, SITE_TRUST_PROBATION or "
        "SITE_TRUST_EXCLUDED"));
  }
  if (request.site().trust_reason().size() > 4096) {
    return absl::InvalidArgumentError("site.trust_reason: at most 4096 bytes");
  }
  absl::MutexLock lock(&mu_);
  auto it = sites_.find(*id);
  if (it == sites_.end()) {
    return absl::NotFoundError(absl::StrCat("site ", *id, " not found"));
  }
  v1::Site& site = it->second;
  if (set_trust) {
    site.set_trust(request.site().trust());
    if (site.trust() == v1::SITE_TRUST_TRUSTED) site.set_consecutive_outliers(0);
  }
  if (set_reason) site.set_trust_reason(request.site().trust_reason());
  spdlog::info("federated: site {} set to {}: {}", *id, v1::SiteTrust_Name(site.trust()), site.trust_reason());
  SaveSite(site);
  return site;
}

absl::StatusOr<FederatedAggregate> FederatedCoordinator::AggregateOf(
    const std::string& name) {
  absl::MutexLock lock(&mu_);
  RoundData* data = FindRound(name);
  if (data == nullptr || !data->aggregate.has_value()) {
    return absl::NotFoundError(absl::StrCat(
        "round ", name, " has no aggregate to apply (a round's aggregate "
        "lives in the coordinator's memory while it is validated)"));
  }
  return *data->aggregate;
}

void FederatedCoordinator::Tick() {
  std::vector<std::string> to_aggregate;
  std::vector<std::pair<std::string, v1::Round>> to_trigger;
  std::vector<std::pair<std::string, std::string>> to_follow;  // round, run
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [name, data] : rounds_) {
      v1::Round& round = data.round;
      switch (round.state()) {
        case v1::ROUND_STATE_OPEN:
          if (now >= core::FromProto(round.join_deadline())) {
            if (round.participants_size() >= round.config().min_sites()) {
              CloseMembership(data);
            } else {
              Fail(data, absl::StatusCode::kFailedPrecondition,
                   absl::StrCat("only ", round.participants_size(),
                                " sites joined before the join deadline; "
                                "the round needs min_sites = ",
                                round.config().min_sites()));
            }
          }
          break;
        case v1::ROUND_STATE_TRAINING:
          if (now >= core::FromProto(round.submit_deadline())) {
            CloseSubmissions(data);
          }
          break;
        case v1::ROUND_STATE_UNMASKING:
          if (now >= data.unmask_deadline) {
            Fail(data, absl::StatusCode::kDeadlineExceeded,
                 "surviving sites did not reveal the seeds shared with the "
                 "dropped ones before the deadline; the sum cannot be "
                 "unmasked");
          }
          break;
        default:
          break;
      }
      if (round.state() == v1::ROUND_STATE_AGGREGATING) {
        if (data.aggregate.has_value()) {
          to_trigger.emplace_back(name, round);
        } else {
          to_aggregate.push_back(name);
        }
      } else if (round.state() == v1::ROUND_STATE_VALIDATING) {
        to_follow.emplace_back(name, round.run());
      }
    }
  }
  for (const std::string& name : to_aggregate) AggregateRound(name);
  // Rounds aggregated just now are triggered on the next tick, so that a
  // run never starts before its aggregate was persisted.
  for (auto& [name, round] : to_trigger) {
    absl::StatusOr<std::string> run = options_.trigger_run(round);
    absl::MutexLock lock(&mu_);
    RoundData* data = FindRound(name);
    if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
      continue;
    }
    if (!run.ok()) {
      Fail(*data, run.status().code(),
           absl::StrCat("the run that validates the candidate could not "
                        "start: ",
                        run.status().message()));
      continue;
    }
    data->round.set_run(*run);
    data->round.set_state(v1::ROUND_STATE_VALIDATING);
    Save(data->round);
  }
  for (const auto& [name, run_name] : to_follow) {
    absl::StatusOr<v1::Run> run = options_.get_run(run_name);
    if (!run.ok()) continue;
    const v1::RunState state = run->state();
    if (state != v1::RUN_STATE_SUCCEEDED && state != v1::RUN_STATE_REJECTED &&
        state != v1::RUN_STATE_FAILED && state != v1::RUN_STATE_CANCELLED) {
      continue;
    }
    absl::MutexLock lock(&mu_);
    RoundData* data = FindRound(name);
    if (data == nullptr || data->round.state() != v1::ROUND_STATE_VALIDATING) {
      continue;
    }
    if (state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_REJECTED) {
      v1::Round& round = data->round;
      round.set_state(v1::ROUND_STATE_COMPLETED);
      if (run->has_candidate_version()) {
        *round.mutable_result_version() = run->candidate_version();
      }
      *round.mutable_end_time() = core::ToProto(options_.clock->Now());
      data->updates.clear();
      data->masked_sum.reset();
      data->aggregate.reset();
      if (options_.metrics != nullptr) options_.metrics->RoundEnded(round);
      spdlog::info("federated: {} completed: run {} {}", name, run_name, v1::RunState_Name(state));
      Save(round);
    } else {
      Fail(*data, static_cast<absl::StatusCode>(run->error().code()),
           absl::StrCat("run ", run_name, " ", v1::RunState_Name(state), ": ",
                        run->error().message()));
    }
  }
}

void FederatedCoordinator::AggregateRound(const std::string& name) {
  // Read what the aggregation needs.
  v1::Round round;
  std::map<std::string, std::vector<float>> updates;
  std::vector<uint32_t> masked_words;
  FederatedModelState state;
  int64_t federation = 0;
  uint64_t noise_seed = 0;
  {
    absl::MutexLock lock(&mu_);
    RoundData* data = FindRound(name);
    if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
      return;
    }
    round = data->round;
    updates = std::move(data->updates);
    data->updates.clear();
    if (data->masked_sum) masked_words = data->masked_sum->words();
    state = model_states_[round.model()];
    federation = FederationSize();
    noise_seed = noise_();
  }
  const v1::FederatedConfig& config = round.config();
  const v1::DifferentialPrivacyConfig& dp = config.differential_privacy();
  const bool secure = config.secure_aggregation().enabled();
  std::mt19937_64 noise(noise_seed);
  std::vector<std::string> notes;
  std::map<std::string, std::pair<double, std::string>> excluded;  // site ->
  std::vector<float> mean;
  int64_t total_samples = 0;
  int aggregated = 0;
  int unclipped = 0;
  absl::Status error;

  if (secure) {
    fed::MaskedSum sum(masked_words.size());
    (void)sum.Add(masked_words);
    int64_t weight = 0;
    for (const v1::Participant& p : round.participants()) {
      if (p.state() != v1::PARTICIPANT_STATE_SUBMITTED) continue;
      weight += dp.enabled() ? 1 : p.sample_count();
      total_samples += p.sample_count();
      ++aggregated;
    }
    absl::StatusOr<std::vector<float>> m =
        sum.WeightedMean(config.secure_aggregation().fixed_point_scale(), weight);
    if (m.ok()) {
      mean = *std::move(m);
    } else {
      error = m.status();
    }
  } else {
    // Norms as received; DP clips to the round's clip norm first.
    std::vector<std::string> ids;
    std::vector<double> norms;
    for (auto& [id, v] : updates) {
      ids.push_back(id);
      const double norm =
          dp.enabled() ? fed::ClipToNorm(absl::MakeSpan(v), round.clip_norm())
                       : fed::L2Norm(v);
      if (dp.enabled() && norm <= round.clip_norm()) ++unclipped;
      norms.push_back(norm);
    }
    if (config.outlier_exclusion().enabled() && ids.size() >= 3) {
      const std::vector<double> z = fed::RobustZScores(norms);
      double median = 0;
      {
        std::vector<double> sorted = norms;
        std::sort(sorted.begin(), sorted.end());
        median = sorted.size() % 2 ? sorted[sorted.size() / 2]
                                   : 0.5 * (sorted[sorted.size() / 2 - 1] +
                                            sorted[sorted.size() / 2]);
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        if (z[i] > config.outlier_exclusion().norm_threshold()) {
          excluded[ids[i]] = {z[i],
                              absl::StrCat("update norm ", norms[i], " is ",
                                           z[i], " MADs from the round's "
                                                 "median norm ",
                                           median, " (threshold ",
                                           config.outlier_exclusion()
                                               .norm_threshold(),
                                           ")")};
        }
      }
      // Scores for every participant, flagged or not.
      absl::MutexLock lock(&mu_);
      RoundData* data = FindRound(name);
      if (data != nullptr) {
        for (size_t i = 0; i < ids.size(); ++i) {
          if (v1::Participant* p = FindParticipant(data->round, ids[i])) {
            p->set_outlier_score(z[i]);
          }
        }
      }
    }
    std::vector<fed::SiteUpdate> views;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (excluded.count(ids[i])) continue;
      int64_t samples = 0;
      for (const v1::Participant& p : round.participants()) {
        if (p.site_id() == ids[i]) samples = p.sample_count();
      }
      total_samples += samples;
      // The DP mean is unweighted: a site's weight would scale its
      // sensitivity.
      views.push_back({updates[ids[i]], dp.enabled() ? 1 : samples});
    }
    aggregated = static_cast<int>(views.size());
    if (aggregated < config.min_sites()) {
      error = absl::FailedPreconditionError(absl::StrCat(
          aggregated, " updates are left after excluding outliers; the round "
                      "needs min_sites = ",
          config.min_sites()));
    } else {
      fed::AggregationOptions options{
          .rule = RuleOf(config.aggregation()),
          .trim_fraction = config.trim_fraction(),
          .byzantine_sites =
              config.byzantine_sites() == 0 ? -1 : config.byzantine_sites(),
          .multi_krum_selected = config.multi_krum_selected()};
      absl::StatusOr<fed::AggregationResult> result =
          fed::Aggregate(views, options);
      if (result.ok()) {
        mean = std::move(result->values);
      } else {
        error = result.status();
      }
    }
  }

  // DP noise on the mean and the accountant's step; adaptive clipping.
  fed::RdpAccountant accountant;
  if (!state.rdp.empty()) (void)accountant.Restore(state.rdp, state.dp_rounds);
  double next_clip = state.clip_norm;
  if (error.ok() && dp.enabled()) {
    double z = dp.noise_multiplier();
    const bool adaptive = dp.adaptive_clipping().enabled() && !secure;
    double sigma_b = dp.adaptive_clipping().count_stddev();
    if (sigma_b == 0) sigma_b = static_cast<double>(aggregated) / 20.0;
    if (adaptive) {
      absl::StatusOr<double> raised =
          fed::AdaptiveUpdateNoiseMultiplier(z, sigma_b);
      if (!raised.ok()) {
        error = raised.status();
      } else {
        z = *raised;
      }
    }
    if (error.ok()) {
      fed::AddGaussianNoise(absl::MakeSpan(mean),
                            z * round.clip_norm() / aggregated, noise);
      const double q = std::min(
          1.0, static_cast<double>(round.participants_size()) /
                   static_cast<double>(std::max<int64_t>(
                       federation, round.participants_size())));
      (void)accountant.Step(dp.noise_multiplier(), q);
      state.rdp = accountant.rdp();
      state.dp_rounds = accountant.steps();
      if (adaptive) {
        absl::StatusOr<double> c = fed::NextClipNorm(
            round.clip_norm(), unclipped, aggregated,
            {.target_quantile = dp.adaptive_clipping().target_quantile(),
             .learning_rate = dp.adaptive_clipping().learning_rate(),
             .count_stddev = sigma_b},
            noise);
        if (c.ok()) next_clip = *c;
      }
    }
  }
  // The server optimiser's step.
  std::vector<float> step;
  if (error.ok()) {
    absl::StatusOr<fed::ServerOptimizer> optimizer =
        fed::ServerOptimizer::Create(OptimizerOptions(config),
                                     round.num_parameters());
    if (!optimizer.ok()) {
      error = optimizer.status();
    } else {
      if (state.optimizer.m.size() ==
          static_cast<size_t>(round.num_parameters())) {
        (void)optimizer->Restore(state.optimizer);
      }
      absl::StatusOr<std::vector<float>> s = optimizer->Step(mean);
      if (!s.ok()) {
        error = s.status();
      } else {
        step = *std::move(s);
        state.optimizer = optimizer->State();
      }
    }
  }

  absl::MutexLock lock(&mu_);
  RoundData* data = FindRound(name);
  if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
    return;
  }
  // Trust: flagged sites go on probation, and are excluded after
  // exclude_after flagged rounds in a row; the others are cleared.
  for (v1::Participant& p : *data->round.mutable_participants()) {
    if (p.state() != v1::PARTICIPANT_STATE_SUBMITTED) continue;
    v1::Site* site = TouchSite(p.site_id());
    auto it = excluded.find(p.site_id());
    if (it != excluded.end()) {
      p.set_state(v1::PARTICIPANT_STATE_EXCLUDED);
      p.set_reason(it->second.second);
      site->set_consecutive_outliers(site->consecutive_outliers() + 1);
      if (site->consecutive_outliers() >=
          config.outlier_exclusion().exclude_after()) {
        site->set_trust(v1::SITE_TRUST_EXCLUDED);
        site->set_trust_reason(absl::StrCat(
            "outlier in ", site->consecutive_outliers(),
            " rounds in a row, the last ", data->round.name(), ": ",
            it->second.second));
        spdlog::warn("federated: site {} excluded: {}", p.site_id(), site->trust_reason());
        if (options_.metrics != nullptr) options_.metrics->SiteExcluded();
      } else {
        site->set_trust(v1::SITE_TRUST_PROBATION);
        site->set_trust_reason(
            absl::StrCat("outlier in ", data->round.name(), ": ",
                         it->second.second));
      }
    } else if (error.ok()) {
      site->set_consecutive_outliers(0);
      site->set_rounds_aggregated(site->rounds_aggregated() + 1);
      if (site->trust() == v1::SITE_TRUST_PROBATION) {
        site->set_trust(v1::SITE_TRUST_TRUSTED);
        site->set_trust_reason(
            absl::StrCat("back to trusted after ", data->round.name()));
      }
    }
    SaveSite(*site);
  }
  if (!error.ok()) {
    Fail(*data, error.code(),
         absl::StrCat("aggregation failed: ", error.message()));
    return;
  }
  state.clip_norm = dp.enabled() ? next_clip : state.clip_norm;
  model_states_[data->round.model()] = state;
  if (absl::Status s = options_.store->PutModelState(data->round.model(), state);
      !s.ok()) {
    Fail(*data, absl::StatusCode::kInternal,
         absl::StrCat("saving the aggregation state: ", s.message()));
    return;
  }
  data->round.set_total_samples(total_samples);
  data->round.set_aggregate_norm(fed::L2Norm(mean));
  if (dp.enabled()) {
    absl::StatusOr<fed::PrivacySpent> spent =
        accountant.Spent(dp.target_delta());
    data->round.mutable_privacy()->set_epsilon(spent.ok() ? spent->epsilon : 0);
    data->round.mutable_privacy()->set_delta(dp.target_delta());
    data->round.mutable_privacy()->set_rounds(accountant.steps());
    if (options_.metrics != nullptr) {
      options_.metrics->SetPrivacy(data->round.model(),
                                   data->round.privacy().epsilon(),
                                   dp.max_epsilon());
    }
  }
  data->aggregate = FederatedAggregate{data->round.base_version(),
                                       std::move(step), total_samples};
  spdlog::info("federated: {} aggregated {} updates ({} rows), norm {}", name, aggregated, total_samples, data->round.aggregate_norm());
  Save(data->round);
}

}  // namespace continuum::trainer
