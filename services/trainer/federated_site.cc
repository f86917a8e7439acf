#include "services/trainer/federated_site.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/grpc_status.h"
#include "lib/core/proto_time.h"
#include "lib/federated/privacy.h"
#include "spdlog/spdlog.h"

namespace continuum::trainer {
namespace {

namespace fed = ::continuum::federated;

constexpr int kChunkValues = 1 << 16;
constexpr absl::Duration kJoinWait = absl::Seconds(30);

void SetDeadline(grpc::ClientContext* context, absl::Duration d) {
  context->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

fed::Key32 KeyOf(const std::string& bytes) {
  fed::Key32 key{};
  std::copy_n(bytes.begin(), std::min<size_t>(bytes.size(), 32), key.begin());
  return key;
}

}  // namespace

void FederatedSite::Start() {
  for (const std::string& model : options_.models) {
    threads_.emplace_back([this, model] { Loop(model); });
  }
}

void FederatedSite::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    stop_cv_.SignalAll();
  }
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

bool FederatedSite::Pause(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  const absl::Time until = absl::Now() + d;
  while (!stopping_ && !stop_cv_.WaitWithDeadline(&mu_, until)) {
  }
  return !stopping_;
}

std::shared_ptr<grpc::Channel> FederatedSite::ChannelTo(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<grpc::Channel>& channel = channels_[address];
  if (channel == nullptr) channel = options_.channel_to(address);
  return channel;
}

absl::StatusOr<v1::Round> FederatedSite::SiteRound(const std::string& round) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(round);
  if (it == sessions_.end()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this site is not taking part in ", round, " (any more)"));
  }
  return it->second.round;
}

absl::StatusOr<std::vector<fed::PeerSeed>> FederatedSite::Seeds(
    const Session& session, const std::vector<int>& peers) {
  std::vector<fed::PeerSeed> seeds;
  for (int j : peers) {
    const v1::Participant& peer = session.round.participants(j);
    absl::StatusOr<fed::Key32> seed = fed::PairwiseSeed(
        session.keys.private_key, KeyOf(peer.mask_public_key()),
        session.round.name(), session.site_id, peer.site_id());
    if (!seed.ok()) {
      return absl::Status(seed.status().code(),
                          absl::StrCat("the seed shared with ", peer.site_id(),
                                       ": ", seed.status().message()));
    }
    seeds.push_back({j, *seed});
  }
  return seeds;
}

absl::Status FederatedSite::Submit(const FederatedSiteUpdate& update) {
  Session session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(update.round);
    if (it == sessions_.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("this site is not taking part in ", update.round));
    }
    session = it->second;
  }
  const v1::Round& round = session.round;
  const v1::FederatedConfig& config = round.config();
  const bool secure = config.secure_aggregation().enabled();
  const bool dp = config.differential_privacy().enabled();
  v1::UpdateMetadata metadata;
  metadata.set_round(round.name());
  metadata.set_site_id(session.site_id);
  metadata.set_sample_count(std::max<int64_t>(update.samples, 1));
  *metadata.mutable_base_version() = update.base_version;
  metadata.set_num_parameters(static_cast<int64_t>(update.update.size()));
  metadata.set_masked(secure);
  *metadata.mutable_local_metrics() = update.local_metrics;
  *metadata.mutable_timings()->mutable_download() =
      core::ToProtoDuration(update.download_time);
  *metadata.mutable_timings()->mutable_local_training() =
      core::ToProtoDuration(update.local_training_time);
  std::vector<float> values = update.update;
  std::vector<uint32_t> masked;
  if (secure) {
    // The coordinator cannot see single updates: this site clips (DP) and
    // weights its own, then masks it.
    if (dp) {
      fed::ClipToNorm(absl::MakeSpan(values), round.clip_norm());
      metadata.set_clip_norm(round.clip_norm());
    }
    std::vector<int> peers;
    for (int j = 0; j < round.participants_size(); ++j) {
      if (j != session.index) peers.push_back(j);
    }
    absl::StatusOr<std::vector<fed::PeerSeed>> seeds = Seeds(session, peers);
    if (!seeds.ok()) return seeds.status();
    absl::StatusOr<std::vector<uint32_t>> m = fed::MaskUpdate(
        values, dp ? 1 : metadata.sample_count(),
        config.secure_aggregation().fixed_point_scale(), session.index, *seeds);
    if (!m.ok()) return m.status();
    masked = *std::move(m);
  }

  auto stub = v1::FederatedService::NewStub(session.channel);
  grpc::ClientContext context;
  SetDeadline(&context, options_.rpc_timeout);
  v1::SubmitUpdateResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::SubmitUpdateRequest>> writer =
      stub->SubmitUpdate(&context, &response);
  v1::SubmitUpdateRequest first;
  *first.mutable_metadata() = metadata;
  bool ok = writer->Write(first);
  const int64_t n = static_cast<int64_t>(update.update.size());
  for (int64_t offset = 0; ok && offset < n; offset += kChunkValues) {
    const int64_t end = std::min<int64_t>(n, offset + kChunkValues);
    v1::SubmitUpdateRequest chunk;
    chunk.mutable_chunk()->set_offset(offset);
    if (secure) {
      chunk.mutable_chunk()->mutable_masked_values()->Add(
          masked.begin() + offset, masked.begin() + end);
    } else {
      chunk.mutable_chunk()->mutable_values()->Add(values.begin() + offset,
                                                   values.begin() + end);
    }
    ok = writer->Write(chunk);
  }
  writer->WritesDone();
  const grpc::Status status = writer->Finish();
  if (!status.ok()) return core::FromGrpcStatus(status);
  if (!response.accepted()) {
    return absl::InternalError("the coordinator did not accept the update");
  }
  spdlog::info("federated site {}: update for {} accepted ({} values, {} rows)",
               session.site_id, round.name(), response.values_received(),
               metadata.sample_count());
  return absl::OkStatus();
}

void FederatedSite::FollowUnmasking(const Session& session) {
  auto stub = v1::FederatedService::NewStub(session.channel);
  while (Pause(absl::Milliseconds(300))) {
    grpc::ClientContext context;
    SetDeadline(&context, options_.rpc_timeout);
    v1::GetRoundRequest request;
    request.set_name(session.round.name());
    v1::GetRoundResponse response;
    if (!stub->GetRound(&context, request, &response).ok()) continue;
    const v1::Round& round = response.round();
    if (round.state() == v1::ROUND_STATE_TRAINING) continue;
    if (round.state() != v1::ROUND_STATE_UNMASKING) return;
    std::vector<int> dropped;
    for (const v1::Participant& p : round.participants()) {
      if (p.state() == v1::PARTICIPANT_STATE_DROPPED) dropped.push_back(p.index());
    }
    absl::StatusOr<std::vector<fed::PeerSeed>> seeds = Seeds(session, dropped);
    if (!seeds.ok()) {
      spdlog::error("federated site {}: {}", session.site_id,
                    seeds.status().ToString());
      return;
    }
    v1::RevealMaskSeedsRequest reveal;
    reveal.set_round(round.name());
    reveal.set_site_id(session.site_id);
    for (const fed::PeerSeed& s : *seeds) {
      v1::PairwiseSeed* seed = reveal.add_seeds();
      seed->set_peer_site_id(round.participants(s.index).site_id());
      seed->set_seed(std::string(s.seed.begin(), s.seed.end()));
    }
    grpc::ClientContext reveal_context;
    SetDeadline(&reveal_context, options_.rpc_timeout);
    v1::RevealMaskSeedsResponse revealed;
    const grpc::Status status =
        stub->RevealMaskSeeds(&reveal_context, reveal, &revealed);
    spdlog::info("federated site {}: revealed {} seeds for {}: {}",
                 session.site_id, seeds->size(), round.name(),
                 status.ok() ? "ok" : status.error_message());
    return;
  }
}

void FederatedSite::Loop(const std::string& model) {
  int64_t last_done = 0;
  absl::Duration backoff = absl::Seconds(1);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
    }
    // This model's overrides of the coordinator and the site id.
    std::string address = options_.coordinator_address;
    std::string site_id = options_.site_id;
    absl::StatusOr<v1::TrainingConfig> stored =
        options_.scheduler->GetTrainingConfig(
            absl::StrCat("models/", model, "/trainingConfig"));
    if (stored.ok()) {
      if (!stored->federated().coordinator_address().empty()) {
        address = stored->federated().coordinator_address();
      }
      if (!stored->federated().site_id().empty()) {
        site_id = stored->federated().site_id();
      }
    }
    std::shared_ptr<grpc::Channel> channel = ChannelTo(address);
    auto stub = v1::FederatedService::NewStub(channel);
    absl::StatusOr<fed::X25519KeyPair> keys = fed::GenerateX25519KeyPair();
    if (!keys.ok()) {
      spdlog::error("federated site {}: {}", site_id, keys.status().ToString());
      if (!Pause(absl::Seconds(30))) return;
      continue;
    }
    v1::JoinRoundRequest join;
    join.set_parent(absl::StrCat("models/", model));
    join.set_site_id(site_id);
    join.set_mask_public_key(
        std::string(keys->public_key.begin(), keys->public_key.end()));
    join.set_wait(true);
    join.add_supported_protocols(std::string(fed::kSecureAggregationProtocol));
    grpc::ClientContext context;
    SetDeadline(&context, kJoinWait);
    v1::JoinRoundResponse joined;
    const grpc::Status status = stub->JoinRound(&context, join, &joined);
    if (!status.ok()) {
      absl::Duration wait = absl::Seconds(1);
      switch (status.error_code()) {
        case grpc::StatusCode::DEADLINE_EXCEEDED:
          wait = absl::ZeroDuration();  // no round yet: join again
          break;
        case grpc::StatusCode::PERMISSION_DENIED:
          spdlog::warn("federated site {}: {}", site_id,
                       status.error_message());
          wait = absl::Seconds(30);
          break;
        case grpc::StatusCode::FAILED_PRECONDITION:
          wait = absl::Seconds(2);
          break;
        default:
          spdlog::warn("federated site {}: joining a round of {} at {}: {}",
                       site_id, model, address, status.error_message());
          wait = backoff;
          backoff = std::min(backoff * 2, absl::Seconds(30));
      }
      if (!Pause(wait)) return;
      continue;
    }
    backoff = absl::Seconds(1);
    const v1::Round& round = joined.round();
    if (round.number() <= last_done ||
        round.state() != v1::ROUND_STATE_TRAINING) {
      // A round this site already trained for (or one past training):
      // wait for the next.
      last_done = std::max(last_done, round.number());
      if (!Pause(absl::Seconds(1))) return;
      continue;
    }
    Session session{round, joined.participant_index(), site_id, *keys,
                    channel};
    {
      absl::MutexLock lock(&mu_);
      sessions_[round.name()] = session;
    }
    // The local run with the round's settings.
    const v1::FederatedConfig& config = round.config();
    v1::TrainingConfig overrides;
    google::protobuf::FieldMask mask;
    overrides.set_epochs(config.local_epochs());
    mask.add_paths("epochs");
    overrides.set_batch_size(config.local_batch_size());
    mask.add_paths("batch_size");
    if (config.local_learning_rate() > 0) {
      overrides.mutable_optimizer()->set_learning_rate(
          config.local_learning_rate());
      mask.add_paths("optimizer.learning_rate");
    }
    overrides.set_strategy(v1::TRAINING_STRATEGY_INCREMENTAL);
    mask.add_paths("strategy");
    overrides.mutable_guards()->set_ewc_lambda(
        config.aggregation() == v1::AGGREGATION_FEDPROX ? config.fedprox_mu()
                                                        : 0);
    mask.add_paths("guards.ewc_lambda");
    absl::StatusOr<v1::Run> run = options_.scheduler->TriggerFederatedRun(
        model, round.name(),
        absl::StrCat("federated ", round.name(), " as site ", site_id),
        overrides, mask);
    if (!run.ok()) {
      spdlog::error("federated site {}: the local run of {} could not start: {}",
                    site_id, round.name(), run.status().ToString());
    } else {
      // Follow the run to its end.
      uint64_t seen = 0;
      while (true) {
        absl::StatusOr<RunUpdate> u = options_.scheduler->WaitForRunUpdate(
            run->name(), seen, absl::Now() + absl::Seconds(1));
        if (!u.ok() || u->final) {
          if (u.ok()) {
            spdlog::info("federated site {}: local run {} for {} ended {}{}",
                         site_id, run->name(), round.name(),
                         v1::RunState_Name(u->run.state()),
                         u->run.error().message().empty()
                             ? ""
                             : ": " + u->run.error().message());
          }
          break;
        }
        seen = u->sequence;
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
      }
      if (config.secure_aggregation().enabled()) FollowUnmasking(session);
    }
    {
      absl::MutexLock lock(&mu_);
      sessions_.erase(round.name());
    }
    last_done = round.number();
  }
}

}  // namespace continuum::trainer
