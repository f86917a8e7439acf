#include "services/trainer/federated_coordinator.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "lib/federated/aggregation.h"
#include "lib/federated/rdp_accountant.h"
#include "services/trainer/federated_listing.h"
#include "services/trainer/federated_round_aggregation.h"
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
  absl::MutexLock lock(&mu_);
  std::vector<const v1::Round*> rounds;
  for (const auto& [name, data] : rounds_) rounds.push_back(&data.round);
  absl::StatusOr<v1::ListRoundsResponse> page = ListRoundsPage(request, rounds);
  if (!page.ok()) return page.status();
  for (v1::Round& r : *page->mutable_rounds()) r = Shown(r);
  return page;
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
  absl::MutexLock lock(&mu_);
  std::vector<const v1::Site*> sites;  // by id: the map's order
  for (const auto& [id, site] : sites_) sites.push_back(&site);
  return ListSitesPage(request, sites);
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
  const RoundAggregation result = AggregateRoundUpdates(
      round, std::move(updates), masked_words, std::move(state), federation,
      noise_seed);
  const v1::FederatedConfig& config = round.config();
  const absl::Status& error = result.error;

  absl::MutexLock lock(&mu_);
  RoundData* data = FindRound(name);
  if (data == nullptr || data->round.state() != v1::ROUND_STATE_AGGREGATING) {
    return;
  }
  // Trust: flagged sites go on probation, and are excluded after
  // exclude_after flagged rounds in a row; the others are cleared.
  for (v1::Participant& p : *data->round.mutable_participants()) {
    if (auto score = result.outlier_scores.find(p.site_id());
        score != result.outlier_scores.end()) {
      p.set_outlier_score(score->second);
    }
    if (p.state() != v1::PARTICIPANT_STATE_SUBMITTED) continue;
    v1::Site* site = TouchSite(p.site_id());
    auto it = result.excluded.find(p.site_id());
    if (it != result.excluded.end()) {
      p.set_state(v1::PARTICIPANT_STATE_EXCLUDED);
      p.set_reason(it->second);
      site->set_consecutive_outliers(site->consecutive_outliers() + 1);
      if (site->consecutive_outliers() >=
          config.outlier_exclusion().exclude_after()) {
        site->set_trust(v1::SITE_TRUST_EXCLUDED);
        site->set_trust_reason(absl::StrCat(
            "outlier in ", site->consecutive_outliers(),
            " rounds in a row, the last ", data->round.name(), ": ",
            it->second));
        spdlog::warn("federated: site {} excluded: {}", p.site_id(), site->trust_reason());
        if (options_.metrics != nullptr) options_.metrics->SiteExcluded();
      } else {
        site->set_trust(v1::SITE_TRUST_PROBATION);
        site->set_trust_reason(
            absl::StrCat("outlier in ", data->round.name(), ": ",
                         it->second));
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
  model_states_[data->round.model()] = result.state;
  if (absl::Status s =
          options_.store->PutModelState(data->round.model(), result.state);
      !s.ok()) {
    Fail(*data, absl::StatusCode::kInternal,
         absl::StrCat("saving the aggregation state: ", s.message()));
    return;
  }
  data->round.set_total_samples(result.total_samples);
  data->round.set_aggregate_norm(result.aggregate_norm);
  const v1::DifferentialPrivacyConfig& dp = config.differential_privacy();
  if (dp.enabled()) {
    data->round.mutable_privacy()->set_epsilon(result.epsilon);
    data->round.mutable_privacy()->set_delta(dp.target_delta());
    data->round.mutable_privacy()->set_rounds(result.state.dp_rounds);
    if (options_.metrics != nullptr) {
      options_.metrics->SetPrivacy(data->round.model(), result.epsilon,
                                   dp.max_epsilon());
    }
  }
  data->aggregate = FederatedAggregate{data->round.base_version(),
                                       result.step, result.total_samples};
  spdlog::info("federated: {} aggregated {} updates ({} rows), norm {}",
               name, result.aggregated, result.total_samples,
               result.aggregate_norm);
  Save(data->round);
}

}  // namespace continuum::trainer
