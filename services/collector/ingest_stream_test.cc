#include "services/collector/ingest_stream.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/collector_testing.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {
namespace {


class IngestStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CollectorOptions options;
    options.data_dir = testing::MakeTempDir("ingest_stream_");
    options.store.seed = 1;
    options.store.metrics = &metrics_;
    auto collector = Collector::Open(options);
    ASSERT_TRUE(collector.ok()) << collector.status();
    collector_ = *std::move(collector);
    for (const char* id : {"a", "b"}) {
      v1::CreateDatasetRequest request;
      request.set_dataset_id(id);
      request.mutable_dataset()->mutable_schema()->set_feature_dim(2);
      request.mutable_dataset()->mutable_schema()->set_label_kind(
          v1::LABEL_KIND_NONE);
      ASSERT_TRUE(collector_->CreateDataset(request).ok());
    }
  }

  int64_t Records(const std::string& id) {
    return (*collector_->Find(id))->Stats({})->record_count();
  }

  prometheus::Registry registry_;
  CollectorMetrics metrics_{registry_};
  std::unique_ptr<Collector> collector_;
};

TEST_F(IngestStreamTest, BatchesInheritOrSwitchTheDataSetAndAddUp) {
  IngestStream stream(collector_.get());
  ASSERT_TRUE(stream.Commit(TestIngestRequest("a", 0, 3)).ok());
  // "2" is a duplicate.
  ASSERT_TRUE(stream.Commit(TestIngestRequest("", 2, 2)).ok());
  ASSERT_TRUE(stream.Commit(TestIngestRequest("b", 0, 1)).ok());
  EXPECT_EQ(stream.response().batches(), 3);
  EXPECT_EQ(stream.response().accepted_records(), 5);
  EXPECT_EQ(stream.response().duplicate_records(), 1);
  EXPECT_GT(stream.response().stored_bytes(), 0);
  EXPECT_EQ(Records("a"), 4);
  EXPECT_EQ(Records("b"), 1);
}

TEST_F(IngestStreamTest, AFailedBatchSaysWhatWasCommitted) {
  IngestStream stream(collector_.get());
  // The first message must name a data set.
  absl::Status s = stream.Commit(TestIngestRequest("", 0, 1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "batch 0: dataset is missing: name a data set id (0 earlier "
            "batches of this stream are committed)");

  IngestStream second(collector_.get());
  ASSERT_TRUE(second.Commit(TestIngestRequest("a", 0, 1)).ok());
  s = second.Commit(TestIngestRequest("nope", 0, 1));
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(),
            "batch 1: data set \"nope\" does not exist; create it with "
            "CreateDataset (1 earlier batches of this stream are committed)");
  v1::IngestRequest bad = TestIngestRequest("a", 5, 2);
  bad.mutable_records(1)->add_features(3);
  s = second.Commit(bad);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(),
                               "batch 1: batch rejected, nothing stored: "
                               "record 1 (id \"6\"): 3 features"))
      << s;
  EXPECT_EQ(Records("a"), 1);
}

TEST_F(IngestStreamTest, AnUnreadableMessageSaysWhatWasCommitted) {
  const absl::Status parse = absl::InvalidArgumentError(
      "message 3 of the stream is not a valid continuum.v1.IngestRequest "
      "(its bytes do not parse as that message)");
  IngestStream stream(collector_.get());
  EXPECT_EQ(stream.Unreadable(parse).message(),
            absl::StrCat(parse.message(),
                         "; nothing of the stream was committed; nothing "
                         "after it was read"));
  ASSERT_TRUE(stream.Commit(TestIngestRequest("a", 0, 2)).ok());
  EXPECT_EQ(stream.Unreadable(parse).message(),
            absl::StrCat(parse.message(),
                         "; the 1 message before it is committed (2 records "
                         "accepted, 0 duplicates); nothing after it was "
                         "read"));
  ASSERT_TRUE(stream.Commit(TestIngestRequest("a", 1, 2)).ok());
  EXPECT_EQ(stream.Unreadable(parse).message(),
            absl::StrCat(parse.message(),
                         "; the 2 messages before it are committed (3 "
                         "records accepted, 1 duplicates); nothing after it "
                         "was read"));
  EXPECT_EQ(stream.Unreadable(parse).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IngestStreamTest, ARejectedBatchIsCountedUnderItsReason) {
  IngestStream stream(collector_.get());
  v1::IngestRequest missing_id = TestIngestRequest("a", 0, 3);
  missing_id.mutable_records(2)->clear_id();
  absl::Status s = stream.Reject(
      missing_id, absl::InvalidArgumentError("records[2].id: required"));
  EXPECT_EQ(s.message(),
            "batch 0: records[2].id: required (0 earlier batches of this "
            "stream are committed)");
  EXPECT_EQ(metrics_.rejected_records
                .Add({{"dataset", "a"}, {"reason", "missing_id"}})
                .Value(),
            3);
  // A rule the schema checks do not know; an unknown data set counts nothing.
  IngestStream other(collector_.get());
  (void)other.Reject(TestIngestRequest("b", 0, 1),
                     absl::InvalidArgumentError("dataset: something"));
  EXPECT_EQ(metrics_.rejected_records
                .Add({{"dataset", "b"}, {"reason", "invalid_request"}})
                .Value(),
            1);
  (void)other.Reject(TestIngestRequest("nope", 0, 1),
                     absl::InvalidArgumentError("dataset: something"));
  EXPECT_EQ(Records("a"), 0);
}

}  // namespace
}  // namespace continuum::collector
