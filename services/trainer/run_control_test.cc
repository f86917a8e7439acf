// ActiveRunControl over a fake RunHost: what each RunControl call does to
// the active run, what it persists and what it tells watchers.
#include "services/trainer/run_control.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <vector>

#include "lib/core/clock.h"
#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

using Change = RunHost::Change;

// One table of active runs; records what each edit changed.
class FakeRunHost : public RunHost {
 public:
  bool EditRun(const std::string& name, Edit edit) override {
    auto it = runs_.find(name);
    if (it == runs_.end()) return false;
    changes_.push_back(edit(it->second, stopping_));
    return true;
  }
  bool CountCandidate(const std::string& name, bool approved,
                      const std::string& detail) override {
    candidates_.push_back(name + (approved ? " approved: " : " rejected: ") +
                          detail);
    return approved;
  }

  std::map<std::string, ActiveRun> runs_;
  bool stopping_ = false;
  std::vector<Change> changes_;
  std::vector<std::string> candidates_;
};

class RunControlTest : public ::testing::Test {
 protected:
  RunControlTest()
      : clock_(absl::FromUnixSeconds(1'800'000'000)),
        metrics_(prometheus_),
        control_(&host_, "models/m/runs/1", &clock_, &metrics_,
                 absl::Hours(1)) {
    host_.runs_["models/m/runs/1"].run.set_model("m");
  }
  ActiveRun& active() { return host_.runs_["models/m/runs/1"]; }

  FakeRunHost host_;
  core::FakeClock clock_;
  prometheus::Registry prometheus_;
  TrainerMetrics metrics_;
  ActiveRunControl control_;
};

TEST_F(RunControlTest, SetPhaseIsAStateChangeAndEndsTheUpload) {
  active().uploading = true;
  control_.SetPhase(v1::RUN_PHASE_TRAINING, "online");
  EXPECT_EQ(active().run.progress().phase(), v1::RUN_PHASE_TRAINING);
  EXPECT_EQ(active().run.progress().message(), "online");
  EXPECT_EQ(core::FromProto(active().run.progress().time()), clock_.Now());
  EXPECT_FALSE(active().uploading);
  EXPECT_THAT(host_.changes_, ::testing::ElementsAre(Change::kState));
}

TEST_F(RunControlTest, ProgressIsThrottledButEpochEndsGoOut) {
  v1::RunProgress p;
  p.set_phase(v1::RUN_PHASE_TRAINING);
  p.set_step(1);
  p.set_samples_per_second(100);
  control_.Progress(p);  // The first goes out.
  p.set_step(2);
  control_.Progress(p);  // Within the interval: recorded, not told.
  p.set_step(3);
  p.set_holdout_loss(0.5);
  control_.Progress(p);  // An epoch's end: told.
  EXPECT_THAT(host_.changes_,
              ::testing::ElementsAre(Change::kProgress, Change::kNone,
                                     Change::kProgress));
  EXPECT_EQ(active().run.progress().step(), 3);
  EXPECT_EQ(core::FromProto(active().run.progress().time()), clock_.Now());
}

TEST_F(RunControlTest, UpdateIsAStateChange) {
  control_.Update([](v1::Run* run) { run->set_train_records(7); });
  EXPECT_EQ(active().run.train_records(), 7);
  EXPECT_THAT(host_.changes_, ::testing::ElementsAre(Change::kState));
}

TEST_F(RunControlTest, BeginUploadIsRefusedOnceCancelled) {
  ASSERT_TRUE(control_.BeginUpload().ok());
  EXPECT_TRUE(active().uploading);
  EXPECT_EQ(active().run.progress().phase(), v1::RUN_PHASE_UPLOADING);
  active().uploading = false;
  active().cancel_requested = true;
  absl::Status refused = control_.BeginUpload();
  EXPECT_TRUE(absl::IsCancelled(refused));
  EXPECT_THAT(refused.message(), ::testing::HasSubstr("before its upload"));
  EXPECT_FALSE(active().uploading);
}

TEST_F(RunControlTest, CancelledWhenAskedStoppingOrGone) {
  EXPECT_FALSE(control_.cancelled());
  host_.stopping_ = true;
  EXPECT_TRUE(control_.cancelled());
  EXPECT_TRUE(absl::IsCancelled(control_.BeginUpload()));
  host_.stopping_ = false;
  active().cancel_requested = true;
  EXPECT_TRUE(control_.cancelled());
  host_.runs_.clear();
  EXPECT_TRUE(control_.cancelled());
  EXPECT_TRUE(absl::IsCancelled(control_.BeginUpload()));
}

TEST_F(RunControlTest, CandidateDecisionsGoToTheHost) {
  EXPECT_TRUE(control_.CandidateDecided(true, "version 2 approved"));
  EXPECT_FALSE(control_.CandidateDecided(false, "gates failed"));
  EXPECT_THAT(
      host_.candidates_,
      ::testing::ElementsAre("models/m/runs/1 approved: version 2 approved",
                             "models/m/runs/1 rejected: gates failed"));
}

}  // namespace
}  // namespace continuum::trainer
