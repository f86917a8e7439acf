#include "services/collector/replay_sample.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/collector/collector_testing.h"
#include "services/collector/stored_record.h"

namespace continuum::collector {
namespace {

class ReplaySampleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = OpenTempLog("replay_sample_");
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    schema_.set_feature_dim(1);
    schema_.set_label_kind(v1::LABEL_KIND_CLASS);
    schema_.set_num_classes(2);
    std::vector<store::LogEntry> entries;
    for (int i = 0; i < 20; ++i) {
      v1::Record r = TestRecord(absl::StrCat(i), kTestDay0Micros + i,
                                {static_cast<float>(i)}, i % 2 == 0 ? 1 : -1);
      entries.push_back(EncodeStoredRecord(r, IngestStamp(kTestDay0Micros)));
    }
    auto positions = log_->Append(entries, false);
    ASSERT_TRUE(positions.ok());
    positions_ = *positions;
  }

  // Reads a whole sample: the ids of each message, and the buffer sizes.
  std::vector<std::vector<std::string>> Sample(
      const v1::SampleReplayRequest& request,
      std::vector<store::LogPosition> positions, int64_t* buffer_size) {
    ReplaySample sample(request, schema_, "ds", std::move(positions));
    std::vector<std::vector<std::string>> messages;
    while (!sample.done()) {
      v1::SampleReplayResponse response;
      if (!sample.Next(*log_, IngestLabel, &response)) {
        EXPECT_TRUE(sample.done());
        break;
      }
      *buffer_size = response.buffer_size();
      messages.emplace_back(response.batch().ids().begin(),
                            response.batch().ids().end());
    }
    return messages;
  }

  static std::vector<std::string> Flat(
      const std::vector<std::vector<std::string>>& messages) {
    std::vector<std::string> ids;
    for (const auto& m : messages) ids.insert(ids.end(), m.begin(), m.end());
    return ids;
  }

  std::unique_ptr<store::SegmentLog> log_;
  v1::DatasetSchema schema_;
  std::vector<store::LogPosition> positions_;
};

TEST_F(ReplaySampleTest, NegativeCountIsRejected) {
  v1::SampleReplayRequest request;
  request.set_count(-1);
  EXPECT_EQ(ReplaySample::Validate(request).message(),
            "count must not be negative");
  request.set_count(0);
  EXPECT_TRUE(ReplaySample::Validate(request).ok());
}

TEST_F(ReplaySampleTest, SameSeedSameSampleWhateverTheBufferOrder) {
  v1::SampleReplayRequest request;
  request.set_seed(7);
  request.set_count(8);
  request.set_batch_size(3);
  int64_t buffer_size = 0;
  auto first = Sample(request, positions_, &buffer_size);
  EXPECT_EQ(buffer_size, 20);
  ASSERT_EQ(first.size(), 3u);
  EXPECT_EQ(first[0].size(), 3u);
  EXPECT_EQ(first[2].size(), 2u);
  std::vector<store::LogPosition> reversed(positions_.rbegin(),
                                           positions_.rend());
  EXPECT_EQ(Flat(Sample(request, reversed, &buffer_size)), Flat(first));
  request.set_seed(8);
  EXPECT_NE(Flat(Sample(request, positions_, &buffer_size)), Flat(first));
}

TEST_F(ReplaySampleTest, OnlyLabeledAndEverythingWhenCountIsZero) {
  v1::SampleReplayRequest request;
  request.set_seed(1);
  request.set_only_labeled(true);
  int64_t buffer_size = 0;
  std::vector<std::string> ids =
      Flat(Sample(request, positions_, &buffer_size));
  EXPECT_EQ(ids.size(), 10u);
  for (const std::string& id : ids) EXPECT_EQ(std::stoi(id) % 2, 0) << id;
}

TEST_F(ReplaySampleTest, GonePositionsAreSkippedAndAnEmptySampleSendsOnce) {
  store::LogPosition gone;
  gone.segment_id = 99;
  gone.offset = 10;
  v1::SampleReplayRequest request;
  request.set_seed(1);
  int64_t buffer_size = -1;
  auto messages = Sample(request, {gone}, &buffer_size);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_TRUE(messages[0].empty());
  EXPECT_EQ(buffer_size, 1);

  // A full last batch is not followed by an empty message.
  request.set_batch_size(2);
  std::vector<store::LogPosition> two = {positions_[0], gone, positions_[1]};
  messages = Sample(request, two, &buffer_size);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].size(), 2u);
}

}  // namespace
}  // namespace continuum::collector
