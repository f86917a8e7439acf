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
#include "services/trainer/federated_requests.h"
#include "services/trainer/federated_trust.h"
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

FederatedCoordinator::FederatedCoordinator(FederatedCoordinatorOptions options)
    : options_(std::move(options)),
      audit_(options_.store, options_.record_audit, options_.metrics) {
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
  data.upload_start.clear();
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
  const FederatedModelState& state = model_states_[*model];
  absl::StatusOr<v1::PrivacyAccounting> privacy =
      PlanPrivacy(*model, state, dp);
  if (!privacy.ok()) return privacy.status();
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
    *round.mutable_privacy() = *privacy;
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
  absl::StatusOr<std::string> model = CheckJoinRequest(request);
  if (!model.ok()) return model.status();

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
    // A site waiting for a round has nothing more to do in one it already
    // submitted to or was dropped or excluded from: it waits for the next
    // (without this it would poll until the round ends).
    if (active != nullptr && request.wait()) {
      const v1::Participant* p =
          FindParticipant(active->round, request.site_id());
      if (p != nullptr && p->state() != v1::PARTICIPANT_STATE_JOINED) {
        return nullptr;
      }
    }
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
    *participant->mutable_join_time() = core::ToProto(options_.clock->Now());
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
  *round.mutable_phases()->mutable_join() =
      core::ToProtoDuration(now - core::FromProto(round.create_time()));
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
  if (absl::Status s = CheckUpdateNames(metadata); !s.ok()) return s;
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
  if (absl::Status s = CheckUpdateAgainstRound(round, metadata); !s.ok()) {
    return s;
  }
  *out = data;
  return round.num_parameters();
}

absl::StatusOr<int64_t> FederatedCoordinator::CheckSubmission(
    const v1::UpdateMetadata& metadata) {
  absl::MutexLock lock(&mu_);
  RoundData* data = nullptr;
  absl::StatusOr<int64_t> expected = CheckSubmissionLocked(metadata, &data);
  // The upload phase runs from this stream's first message to its end.
  if (expected.ok()) {
    data->upload_start[metadata.site_id()] = options_.clock->Now();
  }
  return expected;
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
  const absl::Time now = options_.clock->Now();
  *p->mutable_submit_time() = core::ToProto(now);
  *p->mutable_timings() = metadata.timings();
  if (auto start = data->upload_start.find(metadata.site_id());
      start != data->upload_start.end()) {
    *p->mutable_timings()->mutable_upload() =
        core::ToProtoDuration(now - start->second);
  } else {
    p->mutable_timings()->clear_upload();
  }
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
  data.submissions_closed = options_.clock->Now();
  data.upload_start.clear();  // no update is taken from now on
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
  SetSitePhases(round);
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
  absl::StatusOr<std::map<std::string, fed::Key32>> seeds =
      ParseRevealedSeeds(round, request);
  if (!seeds.ok()) return seeds.status();
  std::map<std::string, const v1::Participant*> dropped;
  for (const v1::Participant& p : round.participants()) {
    if (p.state() == v1::PARTICIPANT_STATE_DROPPED) dropped[p.site_id()] = &p;
  }
  for (const auto& [id, key] : *seeds) {
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
  absl::StatusOr<SiteChange> change = CheckUpdateSiteRequest(request);
  if (!change.ok()) return change.status();
  const std::string* id = &change->site_id;
  const bool set_trust = change->set_trust;
  const bool set_reason = change->set_reason;
  absl::MutexLock lock(&mu_);
  auto it = sites_.find(*id);
  if (it == sites_.end()) {
    return absl::NotFoundError(absl::StrCat("site ", *id, " not found"));
  }
  v1::Site& site = it->second;
  const v1::Site before = site;
  if (set_trust) {
    site.set_trust(request.site().trust());
    if (site.trust() == v1::SITE_TRUST_TRUSTED) site.set_consecutive_outliers(0);
  }
  if (set_reason) site.set_trust_reason(request.site().trust_reason());
  spdlog::info("federated: site {} set to {}: {}", *id, v1::SiteTrust_Name(site.trust()), site.trust_reason());
  SaveSite(site);
  google::protobuf::Struct evidence;
  (*evidence.mutable_fields())["requested_by"].set_string_value(
      "an operator (FederatedService.UpdateSite)");
  if (std::optional<v1::RecordAuditEventRequest> event =
          SiteTrustAuditEvent(before, site, evidence)) {
    audit_.Queue(*event);
  }
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

}  // namespace continuum::trainer
