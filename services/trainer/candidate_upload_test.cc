// The last phases of a run against the fake registry: the report in the
// run's record, the lineage in the bundle, the upload and the decision.
#include "services/trainer/candidate_upload.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

// A registry that answers every upload as a repeat of an existing version
// in `state`, without a decision.
class RepeatRegistry : public FakeRegistry {
 public:
  explicit RepeatRegistry(v1::VersionState state) : state_(state) {}
  absl::StatusOr<v1::UploadVersionResponse> UploadVersion(
      const v1::UploadVersionMetadata&, absl::string_view,
      absl::Time) override {
    v1::UploadVersionResponse r;
    r.mutable_version()->set_version(4);
    r.mutable_version()->set_state(state_);
    r.mutable_version()->mutable_validation()->set_approved(
        state_ != v1::VERSION_STATE_REJECTED);
    return r;
  }

 private:
  const v1::VersionState state_;
};

class CandidateUploadTest : public ::testing::Test {
 protected:
  CandidateUploadTest()
      : run_(FakeCollectorRun(v1::TrainingConfig())), control_(run_) {
    registry_.AddModel("m");
    options_.registry = &registry_;
    options_.code_version = "test-1.0";
    run_.set_reason("drift on f3");
  }

  Candidate NewCandidate() {
    v1::ArtifactManifest manifest;
    manifest.set_model("m");
    v1::ModelSpec* spec = manifest.mutable_spec();
    spec->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    spec->set_input_dim(4);
    spec->set_output_dim(2);
    spec->add_hidden_sizes(3);
    absl::StatusOr<internal::v1::ModelBundle> bundle =
        model::Model::InitBundle(manifest, 1);
    EXPECT_TRUE(bundle.ok()) << bundle.status();
    Candidate c;
    c.bundle = *bundle;
    c.holdout_metrics.set_accuracy(0.9);
    c.report.add_evaluations()->set_evaluation_set("held_out");
    *c.report.mutable_evaluations(0)->mutable_candidate() = c.holdout_metrics;
    c.data_window = run_.data_window();
    c.parent_version = 3;
    c.train_records = 90;
    c.replay_records = 5;
    c.holdout_records = 10;
    return c;
  }

  FakeRegistry registry_;
  TrainingExecutorOptions options_;
  v1::Run run_;
  FakeRunControl control_;
};

TEST_F(CandidateUploadTest, RecordReportFillsTheRunsRecord) {
  RunContext context(options_, run_, control_);
  Candidate c = NewCandidate();
  c.report.mutable_evaluations(0)->mutable_baseline()->set_accuracy(0.8);
  RecordReport(context, {"a", "b"}, &c.report);
  EXPECT_EQ(c.report.run(), "models/m/runs/1");
  EXPECT_EQ(c.report.notes(), "a; b");
  EXPECT_TRUE(c.report.has_evaluate_time());
  const v1::Run run = control_.run();
  EXPECT_DOUBLE_EQ(run.candidate_metrics().accuracy(), 0.9);
  EXPECT_DOUBLE_EQ(run.production_metrics().accuracy(), 0.8);
  EXPECT_EQ(run.report().notes(), "a; b");
}

// A federated coordinator without evaluation data records a report with
// no evaluation (it crashed on reading the first one before).
TEST_F(CandidateUploadTest, RecordReportWithoutEvaluations) {
  RunContext context(options_, run_, control_);
  Candidate c = NewCandidate();
  c.report.clear_evaluations();
  RecordReport(context, {"no evaluation set"}, &c.report);
  const v1::Run run = control_.run();
  EXPECT_FALSE(run.has_candidate_metrics());
  EXPECT_EQ(run.report().notes(), "no evaluation set");
}

TEST_F(CandidateUploadTest, FinalizeWritesTheLineage) {
  RunContext context(options_, run_, control_);
  Candidate c = NewCandidate();
  c.cold_start = true;
  c.online_updates = 12;
  absl::StatusOr<SerializedCandidate> bytes = FinalizeCandidate(context, &c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->sha256, store::Sha256Hex(bytes->bytes));
  const v1::ArtifactManifest& m = c.bundle.manifest();
  EXPECT_EQ(m.parent().version(), 3);
  EXPECT_EQ(m.run(), "models/m/runs/1");
  EXPECT_EQ(m.code_version(), "test-1.0");
  EXPECT_EQ(m.tags().at("trigger"), "RUN_TRIGGER_MANUAL");
  EXPECT_EQ(m.tags().at("cold_start"), "true");
  EXPECT_EQ(m.tags().at("online_updates"), "12");
  EXPECT_EQ(core::FromProto(m.data_window().end_time()),
            FakeCollector::kStart + absl::Seconds(500));
  absl::StatusOr<internal::v1::ModelBundle> parsed =
      model::ParseBundle(bytes->bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->manifest().run(), "models/m/runs/1");
  EXPECT_THAT(control_.phases(),
              ::testing::ElementsAre(v1::RUN_PHASE_FINALIZING));

  control_.cancel();
  Candidate again = NewCandidate();
  EXPECT_TRUE(absl::IsCancelled(FinalizeCandidate(context, &again).status()));
}

TEST_F(CandidateUploadTest, UploadCarriesTheLineageAndTheDecisionDecides) {
  RunContext context(options_, run_, control_);
  Candidate c = NewCandidate();
  absl::StatusOr<SerializedCandidate> bytes = FinalizeCandidate(context, &c);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  UploadResult approved = UploadCandidate(context, c, *bytes);
  EXPECT_EQ(approved.outcome.state, v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(approved.version, 2);
  EXPECT_EQ(control_.run().candidate_version().version(), 2);
  EXPECT_TRUE(control_.run().decision().approved());
  const v1::UploadVersionMetadata m = registry_.uploads()[0];
  EXPECT_EQ(m.parent().version(), 3);
  EXPECT_EQ(m.run(), "models/m/runs/1");
  EXPECT_EQ(m.tags().at("train_records"), "90");
  EXPECT_EQ(m.tags().at("replay_records"), "5");
  EXPECT_EQ(m.tags().at("holdout_records"), "10");
  EXPECT_EQ(m.description(),
            "trained by models/m/runs/1 (RUN_TRIGGER_MANUAL: drift on f3)");
  EXPECT_EQ(m.validation_report().evaluations_size(), 1);
  EXPECT_EQ(registry_.uploaded_bytes(), bytes->bytes);

  registry_.set_reject(true);
  UploadResult rejected = UploadCandidate(context, c, *bytes);
  EXPECT_EQ(rejected.outcome.state, v1::RUN_STATE_REJECTED);
  EXPECT_EQ(rejected.version, 3);
  EXPECT_THAT(rejected.outcome.error.message(),
              HasSubstr("version 3 rejected: 1 of 9 gates failed"));

  control_.cancel();
  UploadResult cancelled = UploadCandidate(context, c, *bytes);
  EXPECT_EQ(cancelled.outcome.state, v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(registry_.uploads().size(), 2u);
}

TEST_F(CandidateUploadTest, ARepeatedUploadIsDecidedByTheExistingVersion) {
  Candidate c = NewCandidate();
  SerializedCandidate bytes{"x", store::Sha256Hex("x")};
  for (auto [state, want] :
       {std::pair{v1::VERSION_STATE_PRODUCTION, v1::RUN_STATE_SUCCEEDED},
        std::pair{v1::VERSION_STATE_REJECTED, v1::RUN_STATE_REJECTED},
        std::pair{v1::VERSION_STATE_VALIDATING, v1::RUN_STATE_FAILED}}) {
    RepeatRegistry repeat(state);
    options_.registry = &repeat;
    FakeRunControl control(run_);
    RunContext context(options_, run_, control);
    UploadResult r = UploadCandidate(context, c, bytes);
    EXPECT_EQ(r.outcome.state, want) << v1::VersionState_Name(state);
    EXPECT_EQ(r.version, 4);
    EXPECT_EQ(control.run().candidate_version().version(), 4);
    if (want != v1::RUN_STATE_SUCCEEDED) {
      EXPECT_THAT(r.outcome.error.message(),
                  HasSubstr("the candidate is identical to version 4"));
    }
  }
}

TEST_F(CandidateUploadTest, EvaluationErrorsNameWhoAndTheSet) {
  Candidate c = NewCandidate();
  model::Dataset wrong;
  wrong.input_dim = 7;
  wrong.features.assign(7, 1.0f);
  wrong.targets.assign(1, 0.0f);
  absl::Status s = EvaluateOn(c.bundle, wrong, "production", "golden").status();
  EXPECT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("evaluating production on golden: "));
}

}  // namespace
}  // namespace continuum::trainer
