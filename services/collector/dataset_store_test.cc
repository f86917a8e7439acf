#include "services/collector/dataset_store.h"

#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/util/time_util.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/clock.h"
#include "lib/store/fault_injection_file_system.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {
namespace {

using google::protobuf::RepeatedPtrField;
using google::protobuf::util::TimeUtil;

// 2026-11-20T00:00:00Z.
const absl::Time kDay0 = absl::FromUnixSeconds(1'795'132'800);

class DatasetStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("dataset_store_") + "/ds";
    clock_.Set(kDay0 + absl::Hours(72));
    options_.clock = &clock_;
    options_.fs = &fs_;
    options_.seed = 1234;
    options_.replay_snapshot_every_batches = 1;
  }

  v1::Dataset Settings() {
    v1::Dataset d;
    d.mutable_schema()->set_feature_dim(2);
    d.mutable_schema()->set_label_kind(v1::LABEL_KIND_CLASS);
    d.mutable_schema()->set_num_classes(3);
    d.mutable_replay()->set_size(5);
    return d;
  }

  std::unique_ptr<DatasetStore> Create(v1::Dataset d) {
    auto store = DatasetStore::Create(dir_, "ds", std::move(d), options_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::unique_ptr<DatasetStore> Reopen() {
    auto store = DatasetStore::Open(dir_, options_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // A record on day `day` (0..3 before "now"), hour `hour`.
  static v1::Record Rec(const std::string& id, int day, int hour, float x,
                        int label = -1, const std::string& site = "eu") {
    v1::Record r;
    r.set_id(id);
    *r.mutable_event_time() = TimeUtil::SecondsToTimestamp(
        absl::ToUnixSeconds(kDay0 + absl::Hours(24 * day + hour)));
    r.add_features(x);
    r.add_features(2 * x);
    if (label >= 0) r.mutable_label()->set_class_index(label);
    (*r.mutable_attributes())["site"] = site;
    return r;
  }

  static RepeatedPtrField<v1::Record> Batch(std::vector<v1::Record> records) {
    RepeatedPtrField<v1::Record> batch;
    for (auto& r : records) *batch.Add() = std::move(r);
    return batch;
  }

  // Scans everything matching `request` and returns ids, labels by id.
  static std::vector<std::string> ScanIds(
      DatasetStore& store, v1::ScanRequest request,
      std::map<std::string, int>* labels = nullptr,
      std::string* last_cursor = nullptr) {
    std::vector<std::string> ids;
    absl::Status s = store.Scan(request, [&](v1::ScanResponse& response) {
      const v1::RecordBatch& b = response.batch();
      EXPECT_EQ(b.features_size(), b.num_rows() * b.feature_dim());
      for (int r = 0; r < b.num_rows(); ++r) {
        ids.push_back(b.ids(r));
        if (labels) (*labels)[b.ids(r)] = b.class_indices(r);
      }
      if (last_cursor) *last_cursor = response.cursor();
      return true;
    });
    EXPECT_TRUE(s.ok()) << s;
    return ids;
  }

  std::string dir_;
  core::FakeClock clock_;
  store::FaultInjectionFileSystem fs_{store::DefaultFileSystem()};
  DatasetStoreOptions options_;
};

TEST_F(DatasetStoreTest, IngestScanWindowAndFilters) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  auto result =
      store->Ingest(Batch({Rec("a", 0, 1, 1, 0), Rec("b", 1, 2, 2),
                           Rec("c", 2, 3, 3, 1, "us"), Rec("d", 2, 4, 4, 2)}));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->accepted, 4);
  EXPECT_EQ(result->duplicates, 0);
  EXPECT_GT(result->stored_bytes, 0);

  v1::ScanRequest all;
  EXPECT_EQ(ScanIds(*store, all),
            (std::vector<std::string>{"a", "b", "c", "d"}));

  // [day 1, day 2 03:30): b and c only.
  v1::ScanRequest window;
  *window.mutable_window()->mutable_start_time() = TimeUtil::SecondsToTimestamp(
      absl::ToUnixSeconds(kDay0 + absl::Hours(24)));
  *window.mutable_window()->mutable_end_time() = TimeUtil::SecondsToTimestamp(
      absl::ToUnixSeconds(kDay0 + absl::Hours(48 + 3) + absl::Minutes(30)));
  EXPECT_EQ(ScanIds(*store, window), (std::vector<std::string>{"b", "c"}));

  v1::ScanRequest labeled;
  labeled.set_only_labeled(true);
  std::map<std::string, int> labels;
  EXPECT_EQ(ScanIds(*store, labeled, &labels),
            (std::vector<std::string>{"a", "c", "d"}));
  EXPECT_EQ(labels["c"], 1);

  v1::ScanRequest filtered;
  filtered.set_filter("attributes.site = \"us\" OR attributes.site = nowhere");
  EXPECT_EQ(ScanIds(*store, filtered), (std::vector<std::string>{"c"}));

  v1::ScanRequest bad_filter;
  bad_filter.set_filter("colour = red");
  EXPECT_EQ(
      store->Scan(bad_filter, [](v1::ScanResponse&) { return true; }).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(DatasetStoreTest, LimitAndCursorResumeExactlyAfter) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  std::vector<v1::Record> records;
  for (int i = 0; i < 50; ++i) {
    records.push_back(Rec(absl::StrCat("r", i), i % 3, i % 24, i));
  }
  ASSERT_TRUE(store->Ingest(Batch(records)).ok());
  v1::ScanRequest first;
  first.set_limit(20);
  first.set_batch_size(7);
  std::string cursor;
  std::vector<std::string> head = ScanIds(*store, first, nullptr, &cursor);
  ASSERT_EQ(head.size(), 20u);
  v1::ScanRequest rest;
  rest.set_cursor(cursor);
  std::vector<std::string> tail = ScanIds(*store, rest);
  EXPECT_EQ(tail.size(), 30u);
  std::set<std::string> all(head.begin(), head.end());
  all.insert(tail.begin(), tail.end());
  EXPECT_EQ(all.size(), 50u);

  v1::ScanRequest bad_cursor;
  bad_cursor.set_cursor("not a cursor");
  EXPECT_EQ(
      store->Scan(bad_cursor, [](v1::ScanResponse&) { return true; }).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(DatasetStoreTest, DuplicatesWithinTheWindowAreNotStoredTwice) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Ingest(Batch({Rec("a", 0, 1, 1)})).ok());
  auto again = store->Ingest(
      Batch({Rec("a", 0, 1, 1), Rec("b", 0, 2, 2), Rec("b", 0, 2, 2)}));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->accepted, 1);
  EXPECT_EQ(again->duplicates, 2);
  EXPECT_EQ(ScanIds(*store, {}).size(), 2u);
  auto stats = store->Stats({});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->duplicate_records(), 2);
  EXPECT_EQ(stats->record_count(), 2);
}

TEST_F(DatasetStoreTest, BadBatchStoresNothing) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  v1::Record bad = Rec("bad", 0, 1, 1);
  bad.add_features(3);
  auto result = store->Ingest(Batch({Rec("ok", 0, 1, 1), bad}));
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "record 1 (id \"bad\")"))
      << result.status();
  EXPECT_TRUE(ScanIds(*store, {}).empty());
}

TEST_F(DatasetStoreTest, OutcomesJoinWaitReplaceAndExpire) {
  v1::Dataset settings = Settings();
  settings.mutable_outcome_grace_period()->set_seconds(3600);
  auto store = Create(settings);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->Ingest(Batch({Rec("a", 2, 1, 1), Rec("b", 2, 2, 2, 0)})).ok());

  auto outcome = [&](const std::string& id, int label) {
    v1::ReportOutcomeRequest request;
    request.set_dataset("ds");
    request.set_id(id);
    request.mutable_label()->set_class_index(label);
    return store->ReportOutcome(request);
  };
  EXPECT_EQ(outcome("a", 2).value(), v1::OUTCOME_DISPOSITION_JOINED);
  EXPECT_EQ(outcome("a", 2).value(), v1::OUTCOME_DISPOSITION_DUPLICATE);
  EXPECT_EQ(outcome("b", 1).value(), v1::OUTCOME_DISPOSITION_REPLACED);
  EXPECT_EQ(outcome("late", 0).value(), v1::OUTCOME_DISPOSITION_PENDING);
  EXPECT_EQ(outcome("never", 0).value(), v1::OUTCOME_DISPOSITION_PENDING);
  EXPECT_EQ(outcome("a", 7).status().code(),
            absl::StatusCode::kInvalidArgument);

  // The late record arrives: its outcome joins.
  ASSERT_TRUE(store->Ingest(Batch({Rec("late", 2, 3, 3)})).ok());
  std::map<std::string, int> labels;
  ScanIds(*store, {}, &labels);
  EXPECT_EQ(labels["a"], 2);
  EXPECT_EQ(labels["b"], 1);
  EXPECT_EQ(labels["late"], 0);

  auto stats = store->Stats({});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->labeled_count(), 3);
  EXPECT_EQ(stats->pending_outcomes(), 1);
  EXPECT_EQ(stats->class_counts().at(2), 1);
  EXPECT_EQ(stats->class_counts().at(1), 1);
  EXPECT_FALSE(stats->class_counts().contains(0) &&
               stats->class_counts().at(0) != 1);

  // After the grace period the orphan is dropped and counted.
  clock_.Advance(absl::Hours(2));
  ASSERT_TRUE(store->RunMaintenance().ok());
  stats = store->Stats({});
  EXPECT_EQ(stats->pending_outcomes(), 0);
  EXPECT_EQ(stats->dropped_outcomes(), 1);
}

TEST_F(DatasetStoreTest, RestartRecoversRecordsOutcomesStatsAndReplay) {
  v1::DatasetStats before;
  {
    auto store = Create(Settings());
    ASSERT_NE(store, nullptr);
    for (int b = 0; b < 4; ++b) {
      std::vector<v1::Record> records;
      for (int i = 0; i < 10; ++i) {
        records.push_back(
            Rec(absl::StrCat(b, "-", i), i % 3, i, b * 10 + i, i % 3));
      }
      ASSERT_TRUE(store->Ingest(Batch(records)).ok());
    }
    v1::ReportOutcomeRequest request;
    request.set_id("0-0");
    request.mutable_label()->set_class_index(2);
    ASSERT_TRUE(store->ReportOutcome(request).ok());
    before = store->Stats({}).value();
  }
  auto store = Reopen();
  ASSERT_NE(store, nullptr);
  v1::DatasetStats after = store->Stats({}).value();
  EXPECT_EQ(after.record_count(), 40);
  EXPECT_EQ(after.replay_buffer_size(), 5);
  // Recovery reads day by day, not in ingest order, so the running means
  // may differ in the last bits; everything else is exact.
  ASSERT_EQ(after.feature_means_size(), before.feature_means_size());
  for (int f = 0; f < after.feature_means_size(); ++f) {
    EXPECT_NEAR(after.feature_means(f), before.feature_means(f), 1e-9);
    EXPECT_NEAR(after.feature_variances(f), before.feature_variances(f), 1e-9);
  }
  after.clear_feature_means();
  after.clear_feature_variances();
  before.clear_feature_means();
  before.clear_feature_variances();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(after, before))
      << after.DebugString() << "\nvs\n"
      << before.DebugString();
  std::map<std::string, int> labels;
  ScanIds(*store, {}, &labels);
  EXPECT_EQ(labels["0-0"], 2);
  // Ids are still known: a re-sent record is a duplicate.
  EXPECT_EQ(store->Ingest(Batch({Rec("1-1", 1, 1, 11, 1)}))->duplicates, 1);
}

TEST_F(DatasetStoreTest, StatisticsMatchADirectComputation) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  std::vector<v1::Record> records;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < 100; ++i) {
    float x = 0.37f * i - 5;
    sum += x;
    sum_sq += static_cast<double>(x) * x;
    records.push_back(
        Rec(absl::StrCat(i), i % 2, i % 24, x, i % 4 == 0 ? 1 : -1));
  }
  ASSERT_TRUE(store->Ingest(Batch(records)).ok());
  v1::DatasetStats stats = store->Stats({}).value();
  double mean = sum / 100;
  EXPECT_NEAR(stats.feature_means(0), mean, 1e-9);
  EXPECT_NEAR(stats.feature_variances(0), sum_sq / 100 - mean * mean, 1e-6);
  EXPECT_NEAR(stats.feature_means(1), 2 * mean, 1e-9);
  EXPECT_EQ(stats.labeled_count(), 25);
  EXPECT_DOUBLE_EQ(stats.labeled_fraction(), 0.25);
  ASSERT_EQ(stats.daily_counts_size(), 2);
  EXPECT_EQ(stats.daily_counts(0).date(), "2026-11-20");
  EXPECT_EQ(stats.daily_counts(0).records(), 50);
  EXPECT_EQ(stats.class_counts().at(1), 25);

  // A window is computed by scanning it.
  v1::TimeWindow day1;
  *day1.mutable_start_time() = TimeUtil::SecondsToTimestamp(
      absl::ToUnixSeconds(kDay0 + absl::Hours(24)));
  v1::DatasetStats windowed = store->Stats(day1).value();
  EXPECT_EQ(windowed.record_count(), 50);
  EXPECT_EQ(windowed.daily_counts_size(), 1);
}

TEST_F(DatasetStoreTest, RetentionDeletesOldDaysAndUpdatesEverything) {
  v1::Dataset settings = Settings();
  settings.mutable_retention()->mutable_max_age()->set_seconds(2 * 86400);
  auto store = Create(settings);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->Ingest(Batch({Rec("old", 0, 1, 1, 0), Rec("mid", 1, 1, 2, 1),
                          Rec("new", 2, 1, 3, 2)}))
          .ok());
  // Now = day 3; max age 2 days: day 0 goes.
  ASSERT_TRUE(store->RunMaintenance().ok());
  EXPECT_EQ(ScanIds(*store, {}), (std::vector<std::string>{"mid", "new"}));
  v1::DatasetStats stats = store->Stats({}).value();
  EXPECT_EQ(stats.record_count(), 2);
  EXPECT_EQ(stats.retention_deleted_records(), 1);
  EXPECT_FALSE(stats.class_counts().contains(0));
  // Its id is forgotten too: an outcome for it now waits.
  v1::ReportOutcomeRequest request;
  request.set_id("old");
  request.mutable_label()->set_class_index(1);
  EXPECT_EQ(store->ReportOutcome(request).value(),
            v1::OUTCOME_DISPOSITION_PENDING);
}

TEST_F(DatasetStoreTest, FsyncFailureAcknowledgesNothingAndTheStoreRecovers) {
  {
    auto store = Create(Settings());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Ingest(Batch({Rec("before", 2, 1, 1)})).ok());
    fs_.FailSyncs(absl::UnavailableError("injected fsync error"));
    auto failed = store->Ingest(Batch({Rec("lost", 2, 2, 2)}));
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_TRUE(absl::StrContains(failed.status().message(), "retry is safe"))
        << failed.status();
    fs_.Clear();
  }
  auto store = Reopen();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ScanIds(*store, {}), (std::vector<std::string>{"before"}));
  // The retry of the failed batch is stored, not taken for a duplicate.
  auto retry = store->Ingest(Batch({Rec("lost", 2, 2, 2)}));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->accepted, 1);
}

TEST_F(DatasetStoreTest, DiskFullFailsTheCallAndLaterCallsWork) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  fs_.SetDiskFull(true);
  EXPECT_EQ(store->Ingest(Batch({Rec("x", 2, 1, 1)})).status().code(),
            absl::StatusCode::kUnavailable);
  fs_.Clear();
  ASSERT_TRUE(store->Ingest(Batch({Rec("y", 2, 1, 1)})).ok());
  EXPECT_EQ(ScanIds(*store, {}), (std::vector<std::string>{"y"}));
}

TEST_F(DatasetStoreTest, AFailedLogIsReopenedWithoutARestart) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Ingest(Batch({Rec("kept", 2, 1, 1, 1)})).ok());
  // The fsync fails and so does the undo: the log enters its failed state.
  fs_.FailSyncs(absl::UnavailableError("injected fsync error"));
  fs_.FailTruncates(absl::UnavailableError("injected truncate error"));
  EXPECT_EQ(store->Ingest(Batch({Rec("lost", 2, 2, 2)})).status().code(),
            absl::StatusCode::kUnavailable);
  fs_.Clear();
  // The next call reopens the log and works.
  auto next = store->Ingest(Batch({Rec("next", 2, 3, 3, 2)}));
  ASSERT_TRUE(next.ok()) << next.status();
  std::vector<std::string> ids = ScanIds(*store, {});
  EXPECT_TRUE(std::count(ids.begin(), ids.end(), "kept") == 1);
  EXPECT_TRUE(std::count(ids.begin(), ids.end(), "next") == 1);
  EXPECT_EQ(store->Stats({})->labeled_count(), 2);
}

TEST_F(DatasetStoreTest, SampleReplayIsDeterministicPerSeed) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  std::vector<v1::Record> records;
  for (int i = 0; i < 40; ++i) {
    records.push_back(Rec(absl::StrCat(i), 2, i % 24, i, i % 2 == 0 ? 1 : -1));
  }
  ASSERT_TRUE(store->Ingest(Batch(records)).ok());
  auto sample = [&](int64_t count, uint64_t seed, bool only_labeled) {
    v1::SampleReplayRequest request;
    request.set_count(count);
    request.set_seed(seed);
    request.set_only_labeled(only_labeled);
    std::vector<std::string> ids;
    int64_t buffer = 0;
    EXPECT_TRUE(store
                    ->SampleReplay(request,
                                   [&](v1::SampleReplayResponse& r) {
                                     buffer = r.buffer_size();
                                     for (const std::string& id :
                                          r.batch().ids())
                                       ids.push_back(id);
                                     return true;
                                   })
                    .ok());
    EXPECT_EQ(buffer, 5);
    return ids;
  };
  EXPECT_EQ(sample(3, 9, false).size(), 3u);
  EXPECT_EQ(sample(3, 9, false), sample(3, 9, false));
  EXPECT_EQ(sample(100, 9, false).size(), 5u);
  for (const std::string& id : sample(100, 9, true)) {
    EXPECT_EQ(std::stoi(id) % 2, 0) << id;
  }
}

TEST_F(DatasetStoreTest, ConcurrentIngestStoresEveryRecordOnce) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < 20; ++b) {
        // Every thread also re-sends one id of thread 0's batches.
        auto result =
            store->Ingest(Batch({Rec(absl::StrCat(t, "-", b), 2, 1, 1),
                                 Rec(absl::StrCat("0-", b), 2, 1, 1)}));
        ASSERT_TRUE(result.ok()) << result.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<std::string> ids = ScanIds(*store, {});
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(ids.size(), unique.size());
  EXPECT_EQ(unique.size(), 6u * 20u);
}

TEST_F(DatasetStoreTest, LateLabelsDoNotEnterTheReplayBufferTwice) {
  v1::Dataset settings = Settings();
  settings.mutable_replay()->set_size(1000);
  auto store = Create(settings);
  ASSERT_NE(store, nullptr);
  std::vector<v1::Record> records;
  for (int i = 0; i < 20; ++i) records.push_back(Rec(absl::StrCat(i), 2, 1, i));
  ASSERT_TRUE(store->Ingest(Batch(records)).ok());
  for (int i = 0; i < 20; ++i) {
    v1::ReportOutcomeRequest request;
    request.set_id(absl::StrCat(i));
    request.mutable_label()->set_class_index(i % 3);
    ASSERT_TRUE(store->ReportOutcome(request).ok());
  }
  EXPECT_EQ(store->Stats({})->replay_buffer_size(), 20);
}

TEST_F(DatasetStoreTest, FollowIsNotSupportedYet) {
  auto store = Create(Settings());
  ASSERT_NE(store, nullptr);
  v1::ScanRequest request;
  request.set_follow(true);
  EXPECT_EQ(store->Scan(request, [](v1::ScanResponse&) { return true; }).code(),
            absl::StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace continuum::collector
