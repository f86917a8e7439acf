#include "services/registry/registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/clock.h"
#include "lib/store/blob_store.h"
#include "services/registry/sqlite_registry_store.h"
#include "tests/util/subprocess.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("registry_test_");
    Open();
  }

  void Open() {
    registry_.reset();
    auto store = SqliteRegistryStore::Open(dir_ + "/registry.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store::BlobStoreOptions blob_options;
    blob_options.dir = dir_ + "/blobs";
    auto blobs = store::BlobStore::Open(blob_options);
    ASSERT_TRUE(blobs.ok()) << blobs.status();
    RegistryOptions options;
    options.clock = &clock_;
    registry_ = std::make_unique<Registry>(*std::move(store), *std::move(blobs),
                                           options);
  }

  v1::Model Register(const std::string& id, v1::RolloutPlan plan = {}) {
    v1::RegisterModelRequest request;
    request.set_model_id(id);
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    *request.mutable_model()->mutable_rollout_plan() = plan;
    auto model = registry_->RegisterModel(caller_, request);
    EXPECT_TRUE(model.ok()) << model.status();
    return model.ok() ? *model : v1::Model();
  }

  absl::StatusOr<v1::UploadVersionResponse> UploadBytes(
      const std::string& model, const std::string& bytes,
      std::string claimed = "") {
    v1::UploadVersionMetadata metadata;
    metadata.set_model(model);
    metadata.set_sha256(claimed.empty() ? store::Sha256Hex(bytes) : claimed);
    auto upload = registry_->BeginUpload(metadata);
    if (!upload.ok()) return upload.status();
    for (size_t i = 0; i < bytes.size(); i += 7) {
      if (absl::Status s = (*upload)->Append(bytes.substr(i, 7)); !s.ok())
        return s;
    }
    return registry_->FinishUpload(caller_, **upload);
  }

  static v1::ValidationReport GoodReport(double accuracy = 0.9) {
    v1::ValidationReport report;
    v1::Evaluation* e = report.add_evaluations();
    e->set_evaluation_set("held_out");
    e->mutable_candidate()->set_loss(0.3);
    e->mutable_candidate()->set_accuracy(accuracy);
    e->mutable_candidate()->set_sample_count(1000);
    e->mutable_baseline()->set_loss(0.3);
    e->mutable_baseline()->set_accuracy(0.9);
    e->mutable_baseline()->set_sample_count(1000);
    return report;
  }

  absl::StatusOr<v1::SubmitValidationResponse> Validate(
      const std::string& name, v1::ValidationReport report) {
    v1::SubmitValidationRequest request;
    request.set_name(name);
    *request.mutable_report() = report;
    return registry_->SubmitValidation(caller_, request);
  }

  S StateOf(const std::string& name) {
    auto v = registry_->GetVersion(name);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? v->state() : S::VERSION_STATE_UNSPECIFIED;
  }

  std::vector<v1::AuditEntry> Audit() {
    auto entries = registry_->AuditEntriesAfter(0, 100000);
    EXPECT_TRUE(entries.ok());
    return entries.ok() ? *entries : std::vector<v1::AuditEntry>();
  }

  std::string dir_;
  core::FakeClock clock_;
  Caller caller_{"tester"};
  std::unique_ptr<Registry> registry_;
};

TEST_F(RegistryTest, RegisterValidatesIdsFamiliesAndDuplicates) {
  v1::RegisterModelRequest request;
  request.set_model_id("Bad Name");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  EXPECT_EQ(registry_->RegisterModel(caller_, request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_model_id("fraud");
  request.mutable_model()->clear_family();
  EXPECT_TRUE(absl::StrContains(
      registry_->RegisterModel(caller_, request).status().message(), "family"));
  Register("fraud");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_AUTOENCODER);
  EXPECT_EQ(registry_->RegisterModel(caller_, request).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry_->GetModel("models/nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, UploadChecksBytesAndIsIdempotent) {
  Register("fraud");
  auto wrong = UploadBytes("fraud", "weights", store::Sha256Hex("other"));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss)
      << wrong.status();
  auto empty = UploadBytes("fraud", "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UploadBytes("nope", "weights").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(UploadBytes("fraud", "weights", "xyz").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing was stored by the failures.
  EXPECT_EQ(registry_->GetModel("models/fraud")->latest_version(), 0);

  auto first = UploadBytes("fraud", "weights v1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created());
  EXPECT_EQ(first->version().version(), 1);
  EXPECT_EQ(first->version().state(), S::VERSION_STATE_REGISTERED);
  auto again = UploadBytes("fraud", "weights v1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created());
  EXPECT_EQ(again->version().version(), 1);
  EXPECT_EQ(UploadBytes("fraud", "weights v2")->version().version(), 2);
}

TEST_F(RegistryTest, OversizedMetadataIsRejected) {
  Register("fraud");
  v1::UploadVersionMetadata metadata;
  metadata.set_model("fraud");
  metadata.set_sha256(store::Sha256Hex("x"));
  metadata.set_description(std::string(2 << 20, 'd'));
  auto upload = registry_->BeginUpload(metadata);
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(upload.status().message(), "at most 1 MiB"))
      << upload.status();
}

TEST_F(RegistryTest, FirstValidatedVersionGoesToProductionAndIsDeployed) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  auto decision = Validate("models/fraud/versions/1", GoodReport());
  ASSERT_TRUE(decision.ok()) << decision.status();
  EXPECT_TRUE(decision->decision().approved());
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_PRODUCTION);
  v1::Model model = *registry_->GetModel("models/fraud");
  EXPECT_EQ(model.production_version(), 1);
  EXPECT_EQ(model.aliases().at("production"), 1);
  auto deployments = registry_->DeploymentsSince(0, {"fraud"});
  ASSERT_EQ(deployments->size(), 1u);
  EXPECT_EQ((*deployments)[0].stable_version(), 1);
  EXPECT_EQ((*deployments)[0].artifacts(0).sha256(), store::Sha256Hex("v1"));
  EXPECT_EQ(
      registry_->GetVersion("models/fraud/versions/production")->version(), 1);
  EXPECT_EQ(registry_->GetVersion("models/fraud/versions/latest")->version(),
            1);
}

TEST_F(RegistryTest, CanaryStepsAdvanceAfterTheirHoldAndWaitForPods) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_CANARY);
  auto status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->deployment().canary_version(), 2);
  EXPECT_EQ(status->deployment().canary_percent(), 10);

  // Before the 5-minute hold nothing moves.
  clock_.Advance(absl::Minutes(4));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            10);

  // A ready pod still on an older revision holds the step.
  v1::ReportServingStateRequest pod;
  pod.set_pod_id("inf-1");
  pod.set_ready(true);
  v1::ModelServingStatus* served = pod.add_models();
  served->set_model("fraud");
  served->set_revision(1);
  clock_.Advance(absl::Minutes(2));
  // (Pods report every 10 s; one silent for 30 s is not counted.)
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  EXPECT_EQ(status->deployment().canary_percent(), 10);

  // Once it serves the current revision, the step advances: 25, then 50,
  // then production.
  served->set_revision(status->deployment().revision());
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  const int64_t before_tick = registry_->latest_revision();
  ASSERT_TRUE(registry_->Tick().ok());
  status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->deployment().canary_percent(), 25);
  // The ticker's revision reaches the watchers.
  EXPECT_EQ(registry_->latest_revision(), status->deployment().revision());
  EXPECT_GT(
      registry_->WaitForRevision(before_tick, absl::Now() + absl::Seconds(5),
                                 [] { return false; }),
      before_tick);
  for (int step = 0; step < 2; ++step) {
    served->set_revision(status->deployment().revision());
    clock_.Advance(absl::Minutes(5));
    ASSERT_TRUE(registry_->ReportServingState(pod).ok());
    ASSERT_TRUE(registry_->Tick().ok());
    status = registry_->GetRolloutStatus("models/fraud");
  }
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_SUCCEEDED);
  EXPECT_EQ(status->deployment().stable_version(), 2);
  EXPECT_EQ(status->deployment().canary_version(), 0);
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_ARCHIVED);
}

// Pod reports are not kept: a registry that just started knows no pod, and
// must not take "no pod lags behind" for "every pod serves the revision".
TEST_F(RegistryTest, AfterARestartStepsWaitForThePodsToReport) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  clock_.Advance(absl::Minutes(6));  // The 5-minute hold is over.
  Open();                            // Restart.
  ASSERT_TRUE(registry_->Tick().ok());
  auto status = registry_->GetRolloutStatus("models/fraud");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  EXPECT_THAT(status->rollout().status_message(),
              ::testing::HasSubstr("the registry just started"));
  EXPECT_EQ(status->deployment().canary_percent(), 10);
  // A pod reports the current revision within its interval: the step
  // advances once the grace is over.
  v1::ReportServingStateRequest pod;
  pod.set_pod_id("inf-1");
  pod.set_ready(true);
  v1::ModelServingStatus* served = pod.add_models();
  served->set_model("fraud");
  served->set_revision(status->deployment().revision());
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            10);
  clock_.Advance(absl::Seconds(8));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            25);
}

TEST_F(RegistryTest, ABadCandidateIsRejectedAndProductionKeepsServing) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  int64_t revision = registry_->latest_revision();
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  auto decision =
      Validate("models/fraud/versions/2", GoodReport(/*accuracy=*/0.5));
  ASSERT_TRUE(decision.ok());
  EXPECT_FALSE(decision->decision().approved());
  EXPECT_TRUE(absl::StrContains(decision->decision().summary(), "rejected"))
      << decision->decision().summary();
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_REJECTED);
  EXPECT_EQ(registry_->latest_revision(), revision);
  EXPECT_EQ(registry_->GetModel("models/fraud")->production_version(), 1);
  // A rejected version cannot be promoted.
  v1::PromoteRequest promote;
  promote.set_name("models/fraud");
  promote.set_version(2);
  auto promoted = registry_->Promote(caller_, promote);
  EXPECT_EQ(promoted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(promoted.status().message(), "VERSION_STATE_REJECTED"));
}

TEST_F(RegistryTest, PromoteAbortAndRollback) {
  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  Register("fraud", immediate);
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("v", v)).ok());
    ASSERT_TRUE(
        Validate(absl::StrCat("models/fraud/versions/", v), GoodReport()).ok());
  }
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_ARCHIVED);

  v1::RollbackRequest rollback;
  rollback.set_name("models/fraud");
  EXPECT_EQ(registry_->Rollback(caller_, rollback).status().code(),
            absl::StatusCode::kInvalidArgument);  // A reason is required.
  rollback.set_reason("accuracy fell");
  auto rolled = registry_->Rollback(caller_, rollback);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(rolled->restored().version(), 2);
  EXPECT_EQ(rolled->withdrawn().version(), 3);
  EXPECT_EQ(rolled->deployment().stable_version(), 2);
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_ROLLED_BACK);
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_PRODUCTION);

  // A canary started by hand, then aborted.
  ASSERT_TRUE(UploadBytes("fraud", "v4").ok());
  v1::UpdateModelRequest update;
  update.mutable_model()->set_name("models/fraud");
  update.mutable_model()->mutable_rollout_plan()->set_manual_start(true);
  update.mutable_update_mask()->add_paths("rollout_plan");
  ASSERT_TRUE(registry_->UpdateModel(caller_, update).ok());
  ASSERT_TRUE(Validate("models/fraud/versions/4", GoodReport()).ok());
  EXPECT_EQ(StateOf("models/fraud/versions/4"), S::VERSION_STATE_VALIDATED);
  v1::PromoteRequest promote;
  promote.set_name("models/fraud");
  promote.set_version(4);
  auto started = registry_->Promote(caller_, promote);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->deployment().canary_version(), 4);
  v1::AbortRolloutRequest abort;
  abort.set_name("models/fraud");
  abort.set_reason("bad canary");
  auto aborted = registry_->AbortRollout(caller_, abort);
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_EQ(aborted->deployment().canary_version(), 0);
  EXPECT_EQ(aborted->deployment().stable_version(), 2);
  EXPECT_EQ(StateOf("models/fraud/versions/4"), S::VERSION_STATE_ROLLED_BACK);
}

TEST_F(RegistryTest, SetTrafficPausesAndResumeRestoresTheStep) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  v1::SetTrafficRequest traffic;
  traffic.set_name("models/fraud");
  traffic.set_canary_percent(101);
  EXPECT_EQ(registry_->SetTraffic(caller_, traffic).status().code(),
            absl::StatusCode::kInvalidArgument);
  traffic.set_canary_percent(3);
  auto set = registry_->SetTraffic(caller_, traffic);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->deployment().canary_percent(), 3);
  EXPECT_EQ(set->rollout().state(), v1::ROLLOUT_STATE_PAUSED);
  // Paused: the hold passing changes nothing.
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            3);
  v1::ResumeRolloutRequest resume;
  resume.set_name("models/fraud");
  auto resumed = registry_->ResumeRollout(caller_, resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->deployment().canary_percent(), 10);
  EXPECT_EQ(registry_->ResumeRollout(caller_, resume).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::PauseRolloutRequest pause;
  pause.set_name("models/fraud");
  EXPECT_EQ(registry_->PauseRollout(caller_, pause)->rollout().state(),
            v1::ROLLOUT_STATE_PAUSED);
}

TEST_F(RegistryTest, RetentionKeepsTheLastRetiredVersionsAndCollectsBlobs) {
  v1::RegisterModelRequest request;
  request.set_model_id("fraud");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
  request.mutable_model()->mutable_retention()->set_keep_last_archived(2);
  ASSERT_TRUE(registry_->RegisterModel(caller_, request).ok());
  for (int v = 1; v <= 5; ++v) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("bytes", v)).ok());
    ASSERT_TRUE(
        Validate(absl::StrCat("models/fraud/versions/", v), GoodReport()).ok());
  }
  // 5 is production; 4, 3, 2, 1 archived: keep 4 and 3.
  ASSERT_TRUE(registry_->Tick().ok());
  for (int v : {1, 2}) {
    EXPECT_EQ(registry_->GetVersion(absl::StrCat("models/fraud/versions/", v))
                  .status()
                  .code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ(registry_->OpenArtifact(absl::StrCat("models/fraud/versions/", v))
                  .status()
                  .code(),
              absl::StatusCode::kNotFound);
  }
  for (int v : {3, 4, 5}) {
    EXPECT_TRUE(
        registry_->OpenArtifact(absl::StrCat("models/fraud/versions/", v)).ok())
        << v;
  }
  int deletions = 0;
  for (const v1::AuditEntry& e : Audit())
    deletions += e.action() == "version.delete";
  EXPECT_EQ(deletions, 2);
  EXPECT_EQ(FindBrokenLink(Audit()), 0);
}

TEST_F(RegistryTest, AVersionValidatedDuringARolloutStartsAfterIt) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v3").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/3", GoodReport()).ok());
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_CANARY);
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_VALIDATED);
  v1::AbortRolloutRequest abort;
  abort.set_name("models/fraud");
  abort.set_reason("canary worse");
  ASSERT_TRUE(registry_->AbortRollout(caller_, abort).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_CANARY);
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->rollout()
                .candidate_version(),
            3);
}

TEST_F(RegistryTest, IllegalTransitionsNameTheCurrentState) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  v1::TransitionVersionRequest request;
  request.set_name("models/fraud/versions/1");
  request.set_to_state(S::VERSION_STATE_ARCHIVED);
  auto result = registry_->TransitionVersion(caller_, request);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "VERSION_STATE_REGISTERED"))
      << result.status();
  request.set_to_state(S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(registry_->TransitionVersion(caller_, request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, WatchersResumeFromTheirRevisionAndMissNothing) {
  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  Register("a", immediate);
  Register("b", immediate);
  for (int v = 1; v <= 3; ++v) {
    for (const char* m : {"a", "b"}) {
      ASSERT_TRUE(UploadBytes(m, absl::StrCat(m, v)).ok());
      ASSERT_TRUE(
          Validate(absl::StrCat("models/", m, "/versions/", v), GoodReport())
              .ok());
    }
  }
  auto all = registry_->DeploymentsSince(0, {});
  ASSERT_EQ(all->size(), 6u);
  for (size_t i = 1; i < all->size(); ++i) {
    EXPECT_GT((*all)[i].revision(), (*all)[i - 1].revision());
  }
  // A watcher of "a" that saw the first revision gets exactly the rest.
  auto a = registry_->DeploymentsSince(0, {"a"});
  ASSERT_EQ(a->size(), 3u);
  auto rest = registry_->DeploymentsSince((*a)[0].revision(), {"a"});
  ASSERT_EQ(rest->size(), 2u);
  EXPECT_EQ((*rest)[0].revision(), (*a)[1].revision());
  EXPECT_EQ((*rest)[1].stable_version(), 3);
  auto current = registry_->CurrentDeployments({});
  ASSERT_EQ(current->size(), 2u);
  EXPECT_EQ(registry_->latest_revision(), all->back().revision());
  // WaitForRevision returns at once when a newer revision exists.
  EXPECT_EQ(registry_->WaitForRevision(0, absl::Now() + absl::Seconds(5),
                                       [] { return false; }),
            all->back().revision());
}

TEST_F(RegistryTest, AuditChainVerifiesAndDetectsTampering) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_GE(entries.size(), 5u);
  EXPECT_EQ(entries[0].sequence(), 1);
  EXPECT_EQ(entries[0].prev_hash(), std::string(64, '0'));
  EXPECT_EQ(entries[0].action(), "model.register");
  EXPECT_EQ(entries[0].actor(), "tester");
  EXPECT_EQ(FindBrokenLink(entries), 0);
  std::vector<v1::AuditEntry> tampered = entries;
  tampered[2].set_reason("nothing to see");
  EXPECT_EQ(FindBrokenLink(tampered), 3);
  tampered = entries;
  tampered.erase(tampered.begin() + 1);
  EXPECT_EQ(FindBrokenLink(tampered), 3);
}

TEST_F(RegistryTest, CorruptArtifactIsDataLossOnDownload) {
  Register("fraud");
  std::string bytes(100000, 'w');
  ASSERT_TRUE(UploadBytes("fraud", bytes).ok());
  auto download = registry_->OpenArtifact("models/fraud/versions/1");
  ASSERT_TRUE(download.ok());
  std::string all;
  std::string chunk;
  do {
    ASSERT_TRUE(download->reader->Next(4096, &chunk).ok());
    all += chunk;
  } while (!chunk.empty());
  EXPECT_EQ(all, bytes);

  // Flip one byte of the stored blob.
  std::string sha = store::Sha256Hex(bytes);
  std::string path = absl::StrCat(dir_, "/blobs/sha256/", sha.substr(0, 2), "/",
                                  sha.substr(2));
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('x');
  }
  download = registry_->OpenArtifact("models/fraud/versions/1");
  ASSERT_TRUE(download.ok());
  absl::Status end;
  do {
    end = download->reader->Next(4096, &chunk);
  } while (end.ok() && !chunk.empty());
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

TEST_F(RegistryTest, EverythingSurvivesARestart) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  int64_t revision = registry_->latest_revision();
  size_t audit = Audit().size();
  Open();
  EXPECT_EQ(registry_->latest_revision(), revision);
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(Audit().size(), audit);
  EXPECT_EQ(FindBrokenLink(Audit()), 0);
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  EXPECT_EQ(FindBrokenLink(Audit()), 0);
}

TEST_F(RegistryTest, ListVersionsFiltersAndPages) {
  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  Register("fraud", immediate);
  for (int v = 1; v <= 5; ++v)
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat(v)).ok());
  ASSERT_TRUE(Validate("models/fraud/versions/5", GoodReport()).ok());
  v1::ListVersionsRequest request;
  request.set_parent("models/fraud");
  request.set_page_size(2);
  auto page = registry_->ListVersions(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->versions_size(), 2);
  EXPECT_EQ(page->versions(0).version(), 5);
  request.set_page_token(page->next_page_token());
  page = registry_->ListVersions(request);
  EXPECT_EQ(page->versions(0).version(), 3);
  request.clear_page_token();
  request.set_filter("state = VERSION_STATE_REGISTERED");
  request.set_page_size(0);
  EXPECT_EQ(registry_->ListVersions(request)->versions_size(), 4);
  request.set_filter("state = SHINY");
  EXPECT_EQ(registry_->ListVersions(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::registry
