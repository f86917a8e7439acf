#include "services/trainer/federated_coordinator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "lib/core/proto_time.h"
#include "lib/federated/rdp_accountant.h"
#include "lib/federated/secure_aggregation.h"

namespace continuum::trainer {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

constexpr int64_t kParams = 4;

// A coordinator over a real SQLite file, a fake clock and fake registry
// and scheduler functions: production is version 3 of model "m" with 4
// parameters; runs are recorded and answered from `runs`.
class Harness {
 public:
  explicit Harness(std::string dir) : dir_(std::move(dir)) { Open(); }

  void Open() {
    coordinator_.reset();
    store_.reset();
    auto store = FederatedStore::Open(dir_ + "/federated.db");
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    FederatedCoordinatorOptions options;
    options.clock = &clock_;
    options.store = store_.get();
    options.production =
        [this](const std::string& model) -> absl::StatusOr<FederatedBase> {
      if (model != "m") return absl::NotFoundError("model not registered");
      FederatedBase base;
      base.version.set_model("m");
      base.version.set_version(3);
      base.num_parameters = kParams;
      return base;
    };
    options.model_config =
        [this](const std::string&) -> absl::StatusOr<v1::FederatedConfig> {
      return config_;
    };
    options.trigger_run =
        [this](const v1::Round& round) -> absl::StatusOr<std::string> {
      triggered_.push_back(round.name());
      return absl::StrCat("models/m/runs/", triggered_.size());
    };
    options.get_run = [this](const std::string& name) -> absl::StatusOr<v1::Run> {
      auto it = runs_.find(name);
      if (it == runs_.end()) return absl::NotFoundError(name);
      return it->second;
    };
    options.record_audit =
        [this](const v1::RecordAuditEventRequest& event) -> absl::Status {
      if (registry_down_) return absl::UnavailableError("registry is down");
      audited_.push_back(event);
      return absl::OkStatus();
    };
    options.noise_seed = 42;
    options.metrics = &metrics_;
    options.evaluation_ready = evaluation_ready_;
    auto c = FederatedCoordinator::Create(std::move(options));
    EXPECT_TRUE(c.ok()) << c.status();
    coordinator_ = *std::move(c);
  }

  FederatedCoordinator& c() { return *coordinator_; }

  v1::Round Start(const v1::FederatedConfig& config) {
    v1::StartRoundRequest request;
    request.set_parent("models/m");
    *request.mutable_config() = config;
    auto round = c().StartRound(request);
    EXPECT_TRUE(round.ok()) << round.status();
    return round.ok() ? *round : v1::Round();
  }

  absl::StatusOr<v1::JoinRoundResponse> Join(const std::string& site,
                                             int64_t samples = 10,
                                             std::string key = "") {
    v1::JoinRoundRequest request;
    request.set_parent("models/m");
    request.set_site_id(site);
    request.set_sample_count(samples);
    request.set_mask_public_key(key);
    request.add_supported_protocols(
        std::string(federated::kSecureAggregationProtocol));
    return c().JoinRound(request, clock_.Now() + absl::Seconds(1));
  }

  v1::UpdateMetadata Metadata(const std::string& round, const std::string& site,
                              int64_t samples) {
    v1::UpdateMetadata m;
    m.set_round(round);
    m.set_site_id(site);
    m.set_sample_count(samples);
    m.mutable_base_version()->set_model("m");
    m.mutable_base_version()->set_version(3);
    m.set_num_parameters(kParams);
    return m;
  }

  absl::StatusOr<v1::Round> Submit(const std::string& round,
                                   const std::string& site, int64_t samples,
                                   std::vector<float> values) {
    return c().Submit(Metadata(round, site, samples), std::move(values), {});
  }

  // Ticks until the round has a run (aggregation, then the trigger).
  v1::Round TickToValidating(const std::string& round) {
    for (int i = 0; i < 3; ++i) c().Tick();
    return *c().GetRound(round);
  }

  void FinishRun(const std::string& run, v1::RunState state,
                 int64_t version = 4) {
    v1::Run r;
    r.set_name(run);
    r.set_state(state);
    if (state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_REJECTED) {
      r.mutable_candidate_version()->set_model("m");
      r.mutable_candidate_version()->set_version(version);
    } else {
      r.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kInternal));
      r.mutable_error()->set_message("boom");
    }
    runs_[run] = r;
  }

  // The metrics as text, as /metrics serves them.
  std::string Metrics() {
    prometheus::TextSerializer serializer;
    return serializer.Serialize(registry_.Collect());
  }

  std::function<absl::Status(const std::string&)> evaluation_ready_;
  core::FakeClock clock_;
  prometheus::Registry registry_;
  FederatedMetrics metrics_{registry_};
  v1::FederatedConfig config_;
  std::vector<std::string> triggered_;
  std::map<std::string, v1::Run> runs_;
  // What record_audit received, and whether it fails.
  std::vector<v1::RecordAuditEventRequest> audited_;
  bool registry_down_ = false;

 private:
  std::string dir_;
  std::unique_ptr<FederatedStore> store_;
  std::unique_ptr<FederatedCoordinator> coordinator_;
};

class FederatedCoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/fedcoord_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    h_ = std::make_unique<Harness>(dir_);
  }
  std::string dir_;
  std::unique_ptr<Harness> h_;
};

v1::FederatedConfig Sites(int min_sites, int max_sites = 0) {
  v1::FederatedConfig c;
  c.set_min_sites(min_sites);
  c.set_max_sites(max_sites);
  return c;
}

TEST_F(FederatedCoordinatorTest, FedAvgRoundFromOpenToCompleted) {
  const v1::Round opened = h_->Start(Sites(2, 3));
  EXPECT_EQ(opened.name(), "models/m/rounds/1");
  EXPECT_EQ(opened.state(), v1::ROUND_STATE_OPEN);
  EXPECT_EQ(opened.base_version().version(), 3);
  EXPECT_EQ(opened.num_parameters(), kParams);
  EXPECT_EQ(opened.config().min_sites(), 2);
  EXPECT_EQ(opened.config().local_batch_size(), 64);  // resolved defaults

  ASSERT_TRUE(h_->Join("a", 10).ok());
  ASSERT_TRUE(h_->Join("b", 30).ok());
  auto third = h_->Join("c", 60);
  ASSERT_TRUE(third.ok()) << third.status();
  // max_sites closes membership at once.
  EXPECT_EQ(third->round().state(), v1::ROUND_STATE_TRAINING);
  EXPECT_EQ(third->participant_index(), 2);

  ASSERT_TRUE(h_->Submit(opened.name(), "a", 10, {1, 0, 0, 0}).ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "b", 30, {0, 1, 0, 0}).ok());
  auto last = h_->Submit(opened.name(), "c", 60, {0, 0, 1, 0});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_EQ(last->state(), v1::ROUND_STATE_AGGREGATING);

  const v1::Round validating = h_->TickToValidating(opened.name());
  EXPECT_EQ(validating.state(), v1::ROUND_STATE_VALIDATING);
  EXPECT_EQ(validating.run(), "models/m/runs/1");
  EXPECT_EQ(validating.total_samples(), 100);
  EXPECT_THAT(h_->triggered_, ElementsAre(opened.name()));
  // FedAvg by sample counts, plain server step (learning rate 1).
  auto aggregate = h_->c().AggregateOf(opened.name());
  ASSERT_TRUE(aggregate.ok());
  EXPECT_THAT(aggregate->step,
              Pointwise(FloatNear(1e-6f), {0.1f, 0.3f, 0.6f, 0.0f}));
  EXPECT_NEAR(validating.aggregate_norm(), std::sqrt(0.01 + 0.09 + 0.36),
              1e-6);

  h_->FinishRun("models/m/runs/1", v1::RUN_STATE_SUCCEEDED, 4);
  h_->c().Tick();
  const v1::Round done = *h_->c().GetRound(opened.name());
  EXPECT_EQ(done.state(), v1::ROUND_STATE_COMPLETED);
  EXPECT_EQ(done.result_version().version(), 4);
  EXPECT_TRUE(done.has_end_time());
  EXPECT_FALSE(h_->c().AggregateOf(opened.name()).ok());  // memory freed
  const std::string metrics = h_->Metrics();
  EXPECT_THAT(metrics, HasSubstr("continuum_federated_rounds_total{model=\"m\","
                                 "outcome=\"completed\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("continuum_federated_updates_total{model=\"m\"} 3"));
  EXPECT_THAT(metrics,
              HasSubstr("continuum_federated_round_active{model=\"m\"} 0"));
  EXPECT_THAT(metrics,
              HasSubstr("continuum_federated_sites{trust=\"trusted\"} 3"));
}

TEST_F(FederatedCoordinatorTest, TooFewSitesFailTheRoundWithoutARun) {
  const v1::Round opened = h_->Start(Sites(3));
  ASSERT_TRUE(h_->Join("a").ok());
  ASSERT_TRUE(h_->Join("b").ok());
  h_->clock_.Advance(absl::Minutes(6));  // past the 5-minute join timeout
  h_->c().Tick();
  const v1::Round failed = *h_->c().GetRound(opened.name());
  EXPECT_EQ(failed.state(), v1::ROUND_STATE_FAILED);
  EXPECT_THAT(failed.error().message(),
              HasSubstr("only 2 sites joined before the join deadline; the "
                        "round needs min_sites = 3"));
  EXPECT_TRUE(h_->triggered_.empty());
  // The next round can start.
  EXPECT_EQ(h_->Start(Sites(2)).number(), 2);
}

TEST_F(FederatedCoordinatorTest, LateSitesAreDroppedNotWaitedFor) {
  const v1::Round opened = h_->Start(Sites(2));
  for (const char* s : {"a", "b", "c"}) ASSERT_TRUE(h_->Join(s).ok());
  h_->clock_.Advance(absl::Minutes(6));
  h_->c().Tick();
  EXPECT_EQ(h_->c().GetRound(opened.name())->state(),
            v1::ROUND_STATE_TRAINING);
  ASSERT_TRUE(h_->Submit(opened.name(), "a", 10, {1, 1, 1, 1}).ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "b", 10, {3, 3, 3, 3}).ok());
  h_->clock_.Advance(absl::Minutes(31));
  const v1::Round validating = h_->TickToValidating(opened.name());
  EXPECT_EQ(validating.state(), v1::ROUND_STATE_VALIDATING);
  EXPECT_EQ(validating.participants(2).state(),
            v1::PARTICIPANT_STATE_DROPPED);
  EXPECT_EQ(validating.participants(2).reason(),
            "no update before the submit deadline");
  EXPECT_THAT(h_->c().AggregateOf(opened.name())->step,
              ElementsAre(2.0f, 2.0f, 2.0f, 2.0f));
  // The dropped site's late update is refused.
  auto late = h_->Submit(opened.name(), "c", 10, {0, 0, 0, 0});
  EXPECT_EQ(late.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.status().message(), HasSubstr("the site was dropped"));
}

TEST_F(FederatedCoordinatorTest, TooFewUpdatesFailTheRound) {
  const v1::Round opened = h_->Start(Sites(2, 2));
  ASSERT_TRUE(h_->Join("a").ok());
  ASSERT_TRUE(h_->Join("b").ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "a", 10, {1, 1, 1, 1}).ok());
  h_->clock_.Advance(absl::Minutes(31));
  h_->c().Tick();
  const v1::Round failed = *h_->c().GetRound(opened.name());
  EXPECT_EQ(failed.state(), v1::ROUND_STATE_FAILED);
  EXPECT_THAT(failed.error().message(),
              HasSubstr("1 of 2 sites submitted an update before the "
                        "deadline; the round needs min_sites = 2"));
  EXPECT_TRUE(h_->triggered_.empty());
}

TEST_F(FederatedCoordinatorTest, SubmissionsAreCheckedWithTheProtosCodes) {
  const v1::Round opened = h_->Start(Sites(2, 2));
  // Not collecting yet.
  ASSERT_TRUE(h_->Join("a").ok());
  auto early = h_->Submit(opened.name(), "a", 10, {0, 0, 0, 0});
  EXPECT_EQ(early.status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(h_->Join("b").ok());
  const std::string r = opened.name();
  auto code = [&](v1::UpdateMetadata m, std::vector<float> v) {
    return h_->c().Submit(m, std::move(v), {}).status();
  };
  EXPECT_EQ(code(h_->Metadata(r, "x", 10), {0, 0, 0, 0}).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(code(h_->Metadata("models/m/rounds/9", "a", 10), {0, 0, 0, 0})
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_THAT(code(h_->Metadata(r, "a", 10), {0, 0, 0}).message(),
              HasSubstr("the update has 3 values; the round expects 4"));
  EXPECT_THAT(code(h_->Metadata(r, "a", 10), {0, NAN, 0, 0}).message(),
              HasSubstr("chunk value 1 is not finite"));
  auto wrong_base = h_->Metadata(r, "a", 10);
  wrong_base.mutable_base_version()->set_version(2);
  EXPECT_THAT(code(wrong_base, {0, 0, 0, 0}).message(),
              HasSubstr("metadata.base_version: the round trains from version "
                        "3"));
  auto wrong_length = h_->Metadata(r, "a", 10);
  wrong_length.set_num_parameters(5);
  EXPECT_THAT(code(wrong_length, {0, 0, 0, 0}).message(),
              HasSubstr("metadata.num_parameters"));
  auto masked = h_->Metadata(r, "a", 10);
  masked.set_masked(true);
  EXPECT_THAT(code(masked, {0, 0, 0, 0}).message(),
              HasSubstr("metadata.masked: must be false"));
  EXPECT_THAT(code(h_->Metadata(r, "a", 0), {0, 0, 0, 0}).message(),
              HasSubstr("metadata.sample_count: must be > 0"));
  auto negative = h_->Metadata(r, "a", 10);
  negative.mutable_timings()->mutable_download()->set_seconds(-1);
  EXPECT_THAT(code(negative, {0, 0, 0, 0}).message(),
              HasSubstr("metadata.timings.download: must be >= 0 and at most "
                        "a day"));
  auto too_long = h_->Metadata(r, "a", 10);
  too_long.mutable_timings()->mutable_local_training()->set_seconds(90000);
  EXPECT_EQ(code(too_long, {0, 0, 0, 0}).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(h_->Submit(r, "a", 10, {0, 0, 0, 0}).ok());
  EXPECT_EQ(code(h_->Metadata(r, "a", 10), {0, 0, 0, 0}).code(),
            absl::StatusCode::kAlreadyExists);
  // CheckSubmission answers the same before any value arrives.
  EXPECT_EQ(h_->c().CheckSubmission(h_->Metadata(r, "b", 10)).value(), kParams);
  EXPECT_EQ(h_->c().CheckSubmission(h_->Metadata(r, "a", 10)).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(FederatedCoordinatorTest, OneActiveRoundPerModelAndUnknownModels) {
  h_->Start(Sites(2));
  v1::StartRoundRequest again;
  again.set_parent("models/m");
  auto second = h_->c().StartRound(again);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              HasSubstr("models/m/rounds/1 of model m is ROUND_STATE_OPEN"));
  v1::StartRoundRequest other;
  other.set_parent("models/nope");
  EXPECT_EQ(h_->c().StartRound(other).status().code(),
            absl::StatusCode::kNotFound);
  v1::StartRoundRequest bad;
  bad.set_parent("model/m");
  EXPECT_EQ(h_->c().StartRound(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad.set_parent("models/m");
  bad.mutable_config()->set_trim_fraction(0.7);
  EXPECT_THAT(h_->c().StartRound(bad).status().message(),
              HasSubstr("config.trim_fraction: must be < 0.5"));
}

TEST_F(FederatedCoordinatorTest, NoRoundWithoutEvaluationData) {
  h_->evaluation_ready_ = [](const std::string& model) {
    return absl::FailedPreconditionError(
        absl::StrCat("no evaluation data for ", model));
  };
  h_->Open();
  v1::StartRoundRequest request;
  request.set_parent("models/m");
  auto refused = h_->c().StartRound(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("no evaluation data for m"));
  EXPECT_TRUE(h_->c().ListRounds([] {
                v1::ListRoundsRequest r;
                r.set_parent("models/m");
                return r;
              }())->rounds().empty());
}

TEST_F(FederatedCoordinatorTest, JoinWaitsForMembershipToClose) {
  const v1::Round opened = h_->Start(Sites(2, 2));
  absl::Notification done;
  absl::StatusOr<v1::JoinRoundResponse> waited;
  std::thread waiter([&] {
    v1::JoinRoundRequest request;
    request.set_parent("models/m");
    request.set_site_id("a");
    request.set_wait(true);
    waited = h_->c().JoinRound(request, absl::Now() + absl::Seconds(30));
    done.Notify();
  });
  // The waiter joins first; wait until it is listed before "b" joins.
  for (int i = 0; i < 3000; ++i) {
    if (h_->c().GetRound(opened.name())->participants_size() == 1) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  ASSERT_EQ(h_->c().GetRound(opened.name())->participants_size(), 1);
  EXPECT_FALSE(done.HasBeenNotified());
  ASSERT_TRUE(h_->Join("b").ok());
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(waited->round().state(), v1::ROUND_STATE_TRAINING);
  EXPECT_EQ(waited->participant_index(), 0);
  // Without wait and no round: FAILED_PRECONDITION; with a short wait:
  // DEADLINE_EXCEEDED.
  v1::JoinRoundRequest none;
  none.set_parent("models/other");
  none.set_site_id("a");
  EXPECT_EQ(h_->c().JoinRound(none, absl::Now()).status().code(),
            absl::StatusCode::kFailedPrecondition);
  none.set_wait(true);
  EXPECT_EQ(
      h_->c().JoinRound(none, absl::Now() + absl::Milliseconds(50)).status().code(),
      absl::StatusCode::kDeadlineExceeded);
  // A site that restarts joins again in its place.
  auto again = h_->Join("a");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->participant_index(), 0);
  // A newcomer after membership closed is refused.
  EXPECT_THAT(h_->Join("c").status().message(),
              HasSubstr("membership is closed"));
}

TEST_F(FederatedCoordinatorTest, SecureAggregationUnmasksWithADroppedSite) {
  v1::FederatedConfig config = Sites(2);
  config.mutable_secure_aggregation()->set_enabled(true);
  const v1::Round opened = h_->Start(config);
  std::vector<std::string> ids = {"a", "b", "c"};
  std::vector<federated::X25519KeyPair> keys;
  for (const std::string& id : ids) {
    keys.push_back(*federated::GenerateX25519KeyPair());
    const auto& pub = keys.back().public_key;
    ASSERT_TRUE(h_->Join(id, 10, std::string(pub.begin(), pub.end())).ok());
  }
  // A site without a key cannot join a secure round.
  EXPECT_THAT(h_->Join("d").status().message(),
              HasSubstr("mask_public_key: required"));
  h_->clock_.Advance(absl::Minutes(6));
  h_->c().Tick();
  const v1::Round training = *h_->c().GetRound(opened.name());
  ASSERT_EQ(training.state(), v1::ROUND_STATE_TRAINING);
  EXPECT_EQ(training.participants(1).mask_public_key().size(), 32u);
  auto seed = [&](int i, int j) {
    const std::string& pub = training.participants(j).mask_public_key();
    federated::Key32 peer;
    std::copy(pub.begin(), pub.end(), peer.begin());
    return *federated::PairwiseSeed(keys[i].private_key, peer, opened.name(),
                                    ids[i], ids[j]);
  };
  const std::vector<std::vector<float>> updates = {
      {1, 2, 3, 4}, {-1, 0, 1, 0.5f}, {100, 100, 100, 100}};
  // Sites 0 and 1 submit; site 2 masked but never sends.
  for (int i : {0, 1}) {
    std::vector<federated::PeerSeed> peers;
    for (int j = 0; j < 3; ++j) {
      if (j != i) peers.push_back({j, seed(i, j)});
    }
    auto masked = federated::MaskUpdate(updates[i], 10, 65536, i, peers);
    ASSERT_TRUE(masked.ok());
    v1::UpdateMetadata m = h_->Metadata(opened.name(), ids[i], 10);
    m.set_masked(true);
    ASSERT_TRUE(h_->c().Submit(m, {}, *masked).ok());
  }
  h_->clock_.Advance(absl::Minutes(31));
  h_->c().Tick();
  ASSERT_EQ(h_->c().GetRound(opened.name())->state(),
            v1::ROUND_STATE_UNMASKING);
  // Revealing a seed shared with a site that submitted is refused.
  v1::RevealMaskSeedsRequest wrong;
  wrong.set_round(opened.name());
  wrong.set_site_id("a");
  auto* s = wrong.add_seeds();
  s->set_peer_site_id("b");
  s->set_seed(std::string(32, '\0'));
  EXPECT_THAT(h_->c().RevealMaskSeeds(wrong).status().message(),
              HasSubstr("b did not drop out"));
  for (int i : {0, 1}) {
    v1::RevealMaskSeedsRequest reveal;
    reveal.set_round(opened.name());
    reveal.set_site_id(ids[i]);
    auto* seed2 = reveal.add_seeds();
    seed2->set_peer_site_id("c");
    const federated::Key32 k = seed(i, 2);
    seed2->set_seed(std::string(k.begin(), k.end()));
    ASSERT_TRUE(h_->c().RevealMaskSeeds(reveal).ok());
  }
  const v1::Round validating = h_->TickToValidating(opened.name());
  ASSERT_EQ(validating.state(), v1::ROUND_STATE_VALIDATING)
      << validating.error().message();
  // The mean of the two survivors, up to the fixed point's resolution.
  EXPECT_THAT(h_->c().AggregateOf(opened.name())->step,
              Pointwise(FloatNear(1e-4f), {0.0f, 1.0f, 2.0f, 2.25f}));
}

TEST_F(FederatedCoordinatorTest, DifferentialPrivacySpendsAndRefusesOverBudget) {
  v1::FederatedConfig config = Sites(2, 2);
  auto* dp = config.mutable_differential_privacy();
  dp->set_enabled(true);
  dp->set_clip_norm(1.0);
  dp->set_noise_multiplier(1.0);
  const v1::Round opened = h_->Start(config);
  ASSERT_TRUE(h_->Join("a").ok());
  ASSERT_TRUE(h_->Join("b").ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "a", 10, {3, 4, 0, 0}).ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "b", 10, {0, 0, 0, 0.5f}).ok());
  const v1::Round validating = h_->TickToValidating(opened.name());
  ASSERT_EQ(validating.state(), v1::ROUND_STATE_VALIDATING)
      << validating.error().message();
  // One round at q = 2 / 2 sites, z = 1: the accountant's epsilon.
  federated::RdpAccountant expected;
  ASSERT_TRUE(expected.Step(1.0, 1.0).ok());
  EXPECT_NEAR(validating.privacy().epsilon(), expected.Spent(1e-5)->epsilon,
              1e-9);
  EXPECT_EQ(validating.privacy().rounds(), 1);
  EXPECT_THAT(h_->Metrics(),
              HasSubstr("continuum_federated_epsilon{model=\"m\"}"));
  EXPECT_EQ(validating.clip_norm(), 1.0);
  // The clipped mean (0.3, 0.4, 0, 0.25) plus noise of stddev z C / m = 0.5.
  const auto step = h_->c().AggregateOf(opened.name())->step;
  EXPECT_NE(step[0], 0.3f);
  h_->FinishRun(validating.run(), v1::RUN_STATE_SUCCEEDED);
  h_->c().Tick();
  // A budget one more round would exceed.
  dp->set_max_epsilon(expected.Spent(1e-5)->epsilon + 0.1);
  v1::StartRoundRequest request;
  request.set_parent("models/m");
  *request.mutable_config() = config;
  auto refused = h_->c().StartRound(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("privacy budget of model m: max_epsilon is"));
  // The spending survives a restart.
  h_->Open();
  refused = h_->c().StartRound(request);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FederatedCoordinatorTest, OutliersLoseTrustAndAreExcluded) {
  v1::FederatedConfig config = Sites(3, 5);
  config.mutable_outlier_exclusion()->set_enabled(true);
  config.mutable_outlier_exclusion()->set_exclude_after(1);
  const v1::Round opened = h_->Start(config);
  const std::vector<std::string> ids = {"s1", "s2", "s3", "s4", "bad"};
  for (const std::string& id : ids) ASSERT_TRUE(h_->Join(id).ok());
  for (int i = 0; i < 4; ++i) {
    const float x = 0.1f * static_cast<float>(i + 1);
    ASSERT_TRUE(h_->Submit(opened.name(), ids[i], 10, {x, 1, 1, 1}).ok());
  }
  ASSERT_TRUE(
      h_->Submit(opened.name(), "bad", 10, {-10, -10, -10, -10}).ok());
  const v1::Round validating = h_->TickToValidating(opened.name());
  ASSERT_EQ(validating.state(), v1::ROUND_STATE_VALIDATING);
  EXPECT_EQ(validating.participants(4).state(),
            v1::PARTICIPANT_STATE_EXCLUDED);
  EXPECT_THAT(validating.participants(4).reason(), HasSubstr("MADs"));
  EXPECT_GT(validating.participants(4).outlier_score(), 3.0);
  // The aggregate is the honest sites' mean.
  EXPECT_THAT(h_->c().AggregateOf(opened.name())->step,
              Pointwise(FloatNear(1e-6f), {0.25f, 1.0f, 1.0f, 1.0f}));
  v1::ListSitesRequest excluded;
  excluded.set_filter("trust = EXCLUDED");
  auto sites = h_->c().ListSites(excluded);
  ASSERT_TRUE(sites.ok()) << sites.status();
  ASSERT_EQ(sites->sites_size(), 1);
  EXPECT_EQ(sites->sites(0).name(), "sites/bad");
  EXPECT_THAT(sites->sites(0).trust_reason(),
              HasSubstr("outlier in 1 rounds in a row"));
  EXPECT_THAT(h_->Metrics(),
              HasSubstr("continuum_federated_site_exclusions_total 1"));
  EXPECT_THAT(h_->Metrics(),
              HasSubstr("continuum_federated_sites{trust=\"excluded\"} 1"));
  // Excluded sites cannot join the next round until readmitted.
  h_->FinishRun(validating.run(), v1::RUN_STATE_SUCCEEDED);
  h_->c().Tick();
  h_->Start(config);
  EXPECT_EQ(h_->Join("bad").status().code(),
            absl::StatusCode::kPermissionDenied);
  v1::UpdateSiteRequest readmit;
  readmit.mutable_site()->set_name("sites/bad");
  readmit.mutable_site()->set_trust(v1::SITE_TRUST_TRUSTED);
  readmit.mutable_site()->set_trust_reason("fixed its pipeline");
  readmit.mutable_update_mask()->add_paths("trust");
  readmit.mutable_update_mask()->add_paths("trust_reason");
  auto site = h_->c().UpdateSite(readmit);
  ASSERT_TRUE(site.ok()) << site.status();
  EXPECT_EQ(site->consecutive_outliers(), 0);
  EXPECT_TRUE(h_->Join("bad").ok());
  // UpdateSite's own rules.
  readmit.mutable_update_mask()->add_paths("rounds_joined");
  EXPECT_THAT(h_->c().UpdateSite(readmit).status().message(),
              HasSubstr("'rounds_joined' cannot be changed"));
  readmit.mutable_site()->set_name("sites/nobody");
  readmit.mutable_update_mask()->Clear();
  readmit.mutable_update_mask()->add_paths("trust");
  EXPECT_EQ(h_->c().UpdateSite(readmit).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FederatedCoordinatorTest, RestartFailsTheRoundInFlightAndKeepsSites) {
  const v1::Round opened = h_->Start(Sites(2, 2));
  ASSERT_TRUE(h_->Join("a").ok());
  ASSERT_TRUE(h_->Join("b").ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "a", 10, {1, 1, 1, 1}).ok());
  h_->Open();  // as after kill -9: the database is all that is left
  const v1::Round failed = *h_->c().GetRound(opened.name());
  EXPECT_EQ(failed.state(), v1::ROUND_STATE_FAILED);
  EXPECT_THAT(failed.error().message(),
              HasSubstr("interrupted by a coordinator restart (it was "
                        "ROUND_STATE_TRAINING); the production version is "
                        "untouched"));
  EXPECT_EQ(h_->c().ListSites({})->sites_size(), 2);
  EXPECT_TRUE(h_->triggered_.empty());
  EXPECT_EQ(h_->Start(Sites(2)).number(), 2);
}

TEST_F(FederatedCoordinatorTest, AFailedRunFailsTheRound) {
  const v1::Round opened = h_->Start(Sites(2, 2));
  ASSERT_TRUE(h_->Join("a").ok());
  ASSERT_TRUE(h_->Join("b").ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "a", 10, {1, 1, 1, 1}).ok());
  ASSERT_TRUE(h_->Submit(opened.name(), "b", 10, {1, 1, 1, 1}).ok());
  const v1::Round validating = h_->TickToValidating(opened.name());
  h_->FinishRun(validating.run(), v1::RUN_STATE_FAILED);
  h_->c().Tick();
  const v1::Round failed = *h_->c().GetRound(opened.name());
  EXPECT_EQ(failed.state(), v1::ROUND_STATE_FAILED);
  EXPECT_THAT(failed.error().message(),
              HasSubstr("run models/m/runs/1 RUN_STATE_FAILED: boom"));
}

TEST_F(FederatedCoordinatorTest, ListsRoundsNewestFirstWithPagesAndFilters) {
  for (int i = 0; i < 3; ++i) {
    const v1::Round r = h_->Start(Sites(5));
    h_->clock_.Advance(absl::Minutes(6));
    h_->c().Tick();  // fails: nobody joined
    ASSERT_EQ(h_->c().GetRound(r.name())->state(), v1::ROUND_STATE_FAILED);
  }
  h_->Start(Sites(2));
  v1::ListRoundsRequest request;
  request.set_parent("models/m");
  request.set_page_size(2);
  auto page = h_->c().ListRounds(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->rounds_size(), 2);
  EXPECT_EQ(page->rounds(0).number(), 4);
  EXPECT_EQ(page->rounds(1).number(), 3);
  request.set_page_token(page->next_page_token());
  page = h_->c().ListRounds(request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->rounds_size(), 2);
  EXPECT_EQ(page->rounds(1).number(), 1);
  EXPECT_TRUE(page->next_page_token().empty());
  v1::ListRoundsRequest open;
  open.set_parent("models/-");
  open.set_filter("state = ROUND_STATE_OPEN");
  EXPECT_EQ(h_->c().ListRounds(open)->rounds_size(), 1);
  open.set_filter("state = FAILED");
  EXPECT_EQ(h_->c().ListRounds(open)->rounds_size(), 3);
  open.set_filter("state = OPNE");
  EXPECT_EQ(h_->c().ListRounds(open).status().code(),
            absl::StatusCode::kInvalidArgument);
  open.set_filter("");
  open.set_page_token("bogus");
  EXPECT_EQ(h_->c().ListRounds(open).status().code(),
            absl::StatusCode::kInvalidArgument);
  open.set_page_token("");
  open.set_page_size(1001);
  EXPECT_EQ(h_->c().ListRounds(open).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(FederatedCoordinatorTest, PhasesSayWhereTheRoundsTimeWent) {
  const v1::Round opened = h_->Start(Sites(2, 2));
  ASSERT_TRUE(h_->Join("a").ok());
  h_->clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(h_->Join("b").ok());  // membership closes: join took 2 s
  EXPECT_EQ(h_->c().GetRound(opened.name())->phases().join().seconds(), 2);
  for (const auto& [site, download, train] :
       {std::tuple{"a", 1, 7}, std::tuple{"b", 3, 4}}) {
    v1::UpdateMetadata m = h_->Metadata(opened.name(), site, 10);
    m.mutable_timings()->mutable_download()->set_seconds(download);
    m.mutable_timings()->mutable_local_training()->set_seconds(train);
    m.mutable_timings()->mutable_upload()->set_seconds(99);  // ignored
    ASSERT_TRUE(h_->c().CheckSubmission(m).ok());
    h_->clock_.Advance(absl::Seconds(site == std::string("a") ? 1 : 5));
    ASSERT_TRUE(h_->c().Submit(m, {0, 0, 0, 0}, {}).ok());
  }
  v1::Round submitted = *h_->c().GetRound(opened.name());
  EXPECT_EQ(submitted.participants(0).timings().upload().seconds(), 1);
  EXPECT_EQ(submitted.participants(1).timings().upload().seconds(), 5);
  EXPECT_TRUE(submitted.participants(0).has_join_time());
  // The slowest site sets each site phase.
  EXPECT_EQ(submitted.phases().download().seconds(), 3);
  EXPECT_EQ(submitted.phases().local_training().seconds(), 7);
  EXPECT_EQ(submitted.phases().upload().seconds(), 5);
  const v1::Round validating = h_->TickToValidating(opened.name());
  ASSERT_EQ(validating.state(), v1::ROUND_STATE_VALIDATING);
  EXPECT_TRUE(validating.phases().has_aggregation());
  h_->FinishRun(validating.run(), v1::RUN_STATE_SUCCEEDED);
  v1::Run& run = h_->runs_[validating.run()];
  *run.mutable_start_time() = core::ToProto(absl::FromUnixSeconds(100));
  *run.mutable_end_time() = core::ToProto(absl::FromUnixSeconds(112));
  h_->c().Tick();
  const v1::Round done = *h_->c().GetRound(opened.name());
  ASSERT_EQ(done.state(), v1::ROUND_STATE_COMPLETED);
  EXPECT_EQ(done.phases().validation().seconds(), 12);
  EXPECT_EQ(done.phases().join().seconds(), 2);
}

TEST_F(FederatedCoordinatorTest, ExclusionsReachTheRegistrysAuditLogOnce) {
  v1::FederatedConfig config = Sites(3, 5);
  config.mutable_outlier_exclusion()->set_enabled(true);
  config.mutable_outlier_exclusion()->set_exclude_after(1);
  const v1::Round opened = h_->Start(config);
  const std::vector<std::string> ids = {"s1", "s2", "s3", "s4", "bad"};
  for (const std::string& id : ids) ASSERT_TRUE(h_->Join(id).ok());
  for (int i = 0; i < 4; ++i) {
    const float x = 0.1f * static_cast<float>(i + 1);
    ASSERT_TRUE(h_->Submit(opened.name(), ids[i], 10, {x, 1, 1, 1}).ok());
  }
  // The registry is down when the site is excluded.
  h_->registry_down_ = true;
  ASSERT_TRUE(
      h_->Submit(opened.name(), "bad", 10, {-10, -10, -10, -10}).ok());
  ASSERT_EQ(h_->TickToValidating(opened.name()).state(),
            v1::ROUND_STATE_VALIDATING);
  h_->c().Tick();
  EXPECT_TRUE(h_->audited_.empty());
  EXPECT_THAT(h_->Metrics(),
              HasSubstr("continuum_federated_audit_pending 1"));
  // A coordinator killed now keeps the event; the registry comes back.
  h_->Open();
  h_->registry_down_ = false;
  h_->c().Tick();
  ASSERT_EQ(h_->audited_.size(), 1u);
  const v1::RecordAuditEventRequest& event = h_->audited_[0];
  EXPECT_EQ(event.action(), "federated.site.exclude");
  EXPECT_EQ(event.object(), "sites/bad");
  EXPECT_EQ(event.before().fields().at("trust").string_value(),
            "SITE_TRUST_TRUSTED");
  EXPECT_EQ(event.after().fields().at("trust").string_value(),
            "SITE_TRUST_EXCLUDED");
  EXPECT_EQ(event.after().fields().at("round").string_value(), opened.name());
  EXPECT_GT(event.after().fields().at("outlier_score").number_value(), 3.0);
  EXPECT_EQ(event.after().fields().at("norm_threshold").number_value(), 3.0);
  EXPECT_EQ(event.after().fields().at("consecutive_outliers").number_value(),
            1);
  EXPECT_THAT(event.reason(), HasSubstr("outlier in 1 rounds in a row"));
  h_->c().Tick();
  EXPECT_EQ(h_->audited_.size(), 1u);  // delivered once
  EXPECT_THAT(h_->Metrics(),
              HasSubstr("continuum_federated_audit_pending 0"));

  // An operator's readmission is audited; a reason alone is not.
  v1::UpdateSiteRequest update;
  update.mutable_site()->set_name("sites/bad");
  update.mutable_site()->set_trust_reason("looked at it");
  update.mutable_update_mask()->add_paths("trust_reason");
  ASSERT_TRUE(h_->c().UpdateSite(update).ok());
  h_->c().Tick();
  EXPECT_EQ(h_->audited_.size(), 1u);
  update.mutable_site()->set_trust(v1::SITE_TRUST_TRUSTED);
  update.mutable_site()->set_trust_reason("fixed its pipeline");
  update.mutable_update_mask()->add_paths("trust");
  ASSERT_TRUE(h_->c().UpdateSite(update).ok());
  h_->c().Tick();
  ASSERT_EQ(h_->audited_.size(), 2u);
  EXPECT_EQ(h_->audited_[1].action(), "federated.site.readmit");
  EXPECT_EQ(h_->audited_[1].reason(), "fixed its pipeline");
  EXPECT_EQ(h_->audited_[1].after().fields().at("trust").string_value(),
            "SITE_TRUST_TRUSTED");
  EXPECT_THAT(
      h_->audited_[1].after().fields().at("requested_by").string_value(),
      HasSubstr("UpdateSite"));
}

TEST_F(FederatedCoordinatorTest, ASiteDoneWithARoundWaitsForTheNext) {
  const v1::Round first = h_->Start(Sites(2, 2));
  ASSERT_TRUE(h_->Join("a").ok());
  ASSERT_TRUE(h_->Join("b").ok());
  ASSERT_TRUE(h_->Submit(first.name(), "a", 10, {1, 0, 0, 0}).ok());
  v1::JoinRoundRequest wait;
  wait.set_parent("models/m");
  wait.set_site_id("a");
  wait.set_wait(true);
  // "a" submitted: the round in flight is not offered again.
  EXPECT_EQ(h_->c().JoinRound(wait, absl::Now() + absl::Milliseconds(50))
                .status()
                .code(),
            absl::StatusCode::kDeadlineExceeded);
  // Without wait, the round in flight is answered as before.
  wait.set_wait(false);
  auto now = h_->c().JoinRound(wait, absl::Now());
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(now->round().name(), first.name());
  // The next round is found by a waiting join as soon as it opens.
  wait.set_wait(true);
  absl::StatusOr<v1::JoinRoundResponse> next;
  std::thread waiter([&] {
    next = h_->c().JoinRound(wait, absl::Now() + absl::Seconds(30));
  });
  ASSERT_TRUE(h_->Submit(first.name(), "b", 10, {0, 1, 0, 0}).ok());
  const v1::Round validating = h_->TickToValidating(first.name());
  h_->FinishRun(validating.run(), v1::RUN_STATE_SUCCEEDED);
  h_->c().Tick();
  const v1::Round second = h_->Start(Sites(1, 1));
  waiter.join();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->round().name(), second.name());
}

}  // namespace
}  // namespace continuum::trainer
