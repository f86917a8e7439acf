// ScanRows and SampleReplay against the fake collector: caps, progress,
// held-out rows, the collector's errors and the run's stop.
#include "services/trainer/data_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/core/proto_time.h"
#include "services/trainer/held_out_split.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

bool NoneHeldOut(uint64_t) { return false; }

// A collector whose streams fail once they have sent their rows.
class FailingCollector : public FakeCollector {
 public:
  using FakeCollector::FakeCollector;
  absl::Status Scan(const v1::ScanRequest& request, const BatchFn& on_batch,
                    absl::Time deadline) override {
    (void)FakeCollector::Scan(request, on_batch, deadline);
    return absl::UnavailableError("connection reset");
  }
  absl::Status SampleReplay(const v1::SampleReplayRequest& request,
                            const BatchFn& on_batch,
                            absl::Time deadline) override {
    (void)FakeCollector::SampleReplay(request, on_batch, deadline);
    return absl::UnavailableError("connection reset");
  }
};

class DataScanTest : public ::testing::Test {
 protected:
  DataScanTest()
      : collector_(100),
        failing_(10),
        run_(FakeCollectorRun(v1::TrainingConfig())),
        control_(run_) {
    options_.collector = &collector_;
    format_.family = v1::MODEL_FAMILY_MLP_CLASSIFIER;
    format_.input_dim = FakeCollector::kFeatures;
    format_.output_dim = FakeCollector::kClasses;
    request_.set_dataset("m");
    request_.set_batch_size(10);
  }

  ScanOptions Options(int64_t cap) {
    ScanOptions options;
    options.cap = cap;
    options.what = "the window";
    options.progress = [](int64_t rows) {
      v1::RunProgress p;
      p.set_samples_done(rows);
      return p;
    };
    return options;
  }

  FakeCollector collector_;
  FailingCollector failing_;
  TrainingExecutorOptions options_;
  v1::Run run_;
  FakeRunControl control_;
  RowFormat format_;
  v1::ScanRequest request_;
};

TEST_F(DataScanTest, ScansUpToTheCapAndReportsProgress) {
  RunContext context(options_, run_, control_);
  Rows rows;
  bool truncated = false;
  ASSERT_TRUE(
      ScanRows(context, request_, format_, Options(1000), &rows, &truncated)
          .ok());
  EXPECT_EQ(rows.size(), 100);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(rows.input_dim, FakeCollector::kFeatures);
  EXPECT_EQ(rows.target_width, 1);
  // At the first batch, then not again within 200 ms.
  ASSERT_FALSE(control_.progress().empty());
  EXPECT_EQ(control_.progress()[0].samples_done(), 10);

  Rows cut;
  ASSERT_TRUE(
      ScanRows(context, request_, format_, Options(25), &cut, &truncated).ok());
  EXPECT_EQ(cut.size(), 25);
  EXPECT_TRUE(truncated);

  // A window: only its rows.
  *request_.mutable_window()->mutable_start_time() =
      core::ToProto(FakeCollector::kStart + absl::Seconds(90));
  Rows window;
  ASSERT_TRUE(
      ScanRows(context, request_, format_, Options(1000), &window, &truncated)
          .ok());
  EXPECT_EQ(window.size(), 10);
}

TEST_F(DataScanTest, CollectorErrorsSayWhatWasRead) {
  options_.collector = &failing_;
  RunContext context(options_, run_, control_);
  Rows rows;
  bool truncated = false;
  absl::Status s =
      ScanRows(context, request_, format_, Options(1000), &rows, &truncated);
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_THAT(s.message(),
              HasSubstr("collector: scanning the window: connection reset"));
  absl::Status r = SampleReplay(context, format_, 5, NoneHeldOut).status();
  EXPECT_TRUE(absl::IsUnavailable(r)) << r;
  EXPECT_THAT(r.message(), HasSubstr("collector: replay sample: "));
}

TEST_F(DataScanTest, ReplayIsCappedWithoutHeldOutRows) {
  options_.scan_batch_rows = 7;
  RunContext context(options_, run_, control_);
  absl::StatusOr<ReplaySample> sample =
      SampleReplay(context, format_, 20, NoneHeldOut);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->rows.size(), 20);
  EXPECT_EQ(sample->dropped, 0);
  EXPECT_EQ(collector_.replay_requested(), 20);
  // The fake samples the newest rows: r99, r98, ...; hold out r99.
  sample = SampleReplay(context, format_, 20,
                        [](uint64_t key) { return key == RowKey("r99"); });
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->rows.size(), 19);
  EXPECT_EQ(sample->dropped, 1);

  RowFormat wide = format_;
  wide.input_dim = 3;
  EXPECT_TRUE(absl::IsFailedPrecondition(
      SampleReplay(context, wide, 20, NoneHeldOut).status()));
}

TEST_F(DataScanTest, RetentionRowsAreSplitOffBeforeHeldOutRowsAreDropped) {
  RunContext context(options_, run_, control_);
  // The fake samples r99, r98, ...: rows r80 to r89 may be retention rows,
  // r80 to r99 are held out.
  auto in = [](uint64_t key, int from, int to) {
    for (int r = from; r < to; ++r) {
      if (key == RowKey("r" + std::to_string(r))) return true;
    }
    return false;
  };
  RetentionSplit retention;
  retention.rows = 5;
  retention.min_rows = 5;
  retention.eligible = [&](uint64_t key) { return in(key, 80, 90); };
  auto held_out = [&](uint64_t key) { return in(key, 80, 100); };
  absl::StatusOr<ReplaySample> sample =
      SampleReplay(context, format_, 30, held_out, retention);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->retention_found, 5);
  EXPECT_EQ(sample->retention.size(), 5);  // r89 to r85
  EXPECT_EQ(sample->dropped, 15);          // r99 to r90, r84 to r80
  EXPECT_EQ(sample->rows.size(), 10);      // r79 to r70

  // Too few eligible rows: none is kept, for retention or for replay.
  retention.rows = 20;
  retention.min_rows = 15;
  sample = SampleReplay(context, format_, 30, held_out, retention);
  ASSERT_TRUE(sample.ok()) << sample.status();
  EXPECT_EQ(sample->retention_found, 10);
  EXPECT_EQ(sample->retention.size(), 0);
  EXPECT_EQ(sample->dropped, 10);
  EXPECT_EQ(sample->rows.size(), 10);
}

TEST_F(DataScanTest, AStoppedRunStopsReading) {
  control_.cancel();
  RunContext context(options_, run_, control_);
  Rows rows;
  bool truncated = false;
  EXPECT_TRUE(absl::IsCancelled(
      ScanRows(context, request_, format_, Options(1000), &rows, &truncated)));
  EXPECT_EQ(rows.size(), 0);
  EXPECT_TRUE(absl::IsCancelled(
      SampleReplay(context, format_, 5, NoneHeldOut).status()));
}

}  // namespace
}  // namespace continuum::trainer
