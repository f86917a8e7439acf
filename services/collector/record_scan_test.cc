#include "services/collector/record_scan.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/collector/collector_testing.h"
#include "services/collector/stored_record.h"

namespace continuum::collector {
namespace {

constexpr int64_t kDay0 = kTestDay0Micros;
constexpr int64_t kHour = int64_t{3600} * 1'000'000;

class RecordScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto log = OpenTempLog("record_scan_");
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    schema_.set_feature_dim(1);
    schema_.set_label_kind(v1::LABEL_KIND_CLASS);
    schema_.set_num_classes(3);
  }

  // Appends records "<prefix>0".."<prefix>n-1", one an hour from `start`;
  // every even one labelled 1, and attribute site=eu or us.
  void Append(int n, const std::string& prefix = "r", int64_t start = kDay0) {
    std::vector<store::LogEntry> entries;
    for (int i = 0; i < n; ++i) {
      v1::Record r = TestRecord(absl::StrCat(prefix, i), start + i * kHour,
                                {static_cast<float>(i)}, i % 2 == 0 ? 1 : -1);
      (*r.mutable_attributes())["site"] = i % 3 == 0 ? "us" : "eu";
      entries.push_back(EncodeStoredRecord(r, IngestStamp(start)));
    }
    ASSERT_TRUE(log_->Append(entries, /*sync=*/false).ok());
  }

  // Reads `scan` to its end; returns the ids of every message, in order.
  std::vector<std::vector<std::string>> ReadAll(
      RecordScan& scan, std::vector<v1::ScanResponse>* responses = nullptr) {
    std::vector<std::vector<std::string>> messages;
    while (!scan.done()) {
      v1::ScanResponse response;
      absl::StatusOr<bool> send = scan.Next(*log_, IngestLabel, &response);
      EXPECT_TRUE(send.ok()) << send.status();
      if (!send.ok()) break;
      if (!*send) {
        EXPECT_TRUE(scan.done());
        EXPECT_EQ(response.batch().num_rows(), 0);
        break;
      }
      messages.emplace_back(response.batch().ids().begin(),
                            response.batch().ids().end());
      if (responses != nullptr) responses->push_back(response);
    }
    return messages;
  }

  std::unique_ptr<RecordScan> Start(const v1::ScanRequest& request) {
    auto scan = RecordScan::Create(request, schema_);
    EXPECT_TRUE(scan.ok()) << scan.status();
    return scan.ok() ? *std::move(scan) : nullptr;
  }

  std::unique_ptr<store::SegmentLog> log_;
  v1::DatasetSchema schema_;
};

TEST_F(RecordScanTest, BadRequestsAreRejectedBeforeReading) {
  auto code = [&](const v1::ScanRequest& request) {
    return RecordScan::Create(request, schema_).status().code();
  };
  v1::ScanRequest follow;
  follow.set_follow(true);
  EXPECT_EQ(code(follow), absl::StatusCode::kUnimplemented);
  v1::ScanRequest limit;
  limit.set_limit(-1);
  EXPECT_EQ(code(limit), absl::StatusCode::kInvalidArgument);
  v1::ScanRequest window;
  *window.mutable_window()->mutable_start_time() =
      core::TimestampFromUnixMicros(kDay0 + kHour);
  *window.mutable_window()->mutable_end_time() =
      core::TimestampFromUnixMicros(kDay0);
  absl::Status s = RecordScan::Create(window, schema_).status();
  EXPECT_EQ(s.message(), "window.end_time must be after window.start_time");
  v1::ScanRequest cursor;
  cursor.set_cursor("not a cursor");
  s = RecordScan::Create(cursor, schema_).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(s.message(), "cursor is malformed: ")) << s;
  v1::ScanRequest filter;
  filter.set_filter("colour = red");
  EXPECT_EQ(code(filter), absl::StatusCode::kInvalidArgument);
  filter.set_filter("attributes. = red");
  EXPECT_EQ(code(filter), absl::StatusCode::kInvalidArgument);
}

TEST_F(RecordScanTest, BatchesCarryCursorsThatResumeExactlyAfter) {
  Append(10);
  v1::ScanRequest request;
  request.set_batch_size(4);
  std::vector<v1::ScanResponse> responses;
  auto scan = Start(request);
  EXPECT_EQ(
      ReadAll(*scan, &responses),
      (std::vector<std::vector<std::string>>{
          {"r0", "r1", "r2", "r3"}, {"r4", "r5", "r6", "r7"}, {"r8", "r9"}}));
  EXPECT_EQ(responses[0].batch().class_indices(0), 1);
  EXPECT_EQ(responses[0].batch().class_indices(1), -1);

  v1::ScanRequest rest;
  rest.set_cursor(responses[0].cursor());
  rest.set_batch_size(100);
  auto resumed = Start(rest);
  EXPECT_EQ(ReadAll(*resumed), (std::vector<std::vector<std::string>>{
                                   {"r4", "r5", "r6", "r7", "r8", "r9"}}));
}

TEST_F(RecordScanTest, LimitWindowLabelsAndFilter) {
  Append(10);
  v1::ScanRequest limited;
  limited.set_limit(5);
  limited.set_batch_size(2);
  auto scan = Start(limited);
  EXPECT_EQ(ReadAll(*scan), (std::vector<std::vector<std::string>>{
                                {"r0", "r1"}, {"r2", "r3"}, {"r4"}}));

  v1::ScanRequest window;
  *window.mutable_window()->mutable_start_time() =
      core::TimestampFromUnixMicros(kDay0 + 2 * kHour);
  *window.mutable_window()->mutable_end_time() =
      core::TimestampFromUnixMicros(kDay0 + 5 * kHour);
  window.set_only_labeled(true);
  scan = Start(window);
  EXPECT_EQ(ReadAll(*scan),
            (std::vector<std::vector<std::string>>{{"r2", "r4"}}));

  v1::ScanRequest filtered;
  filtered.set_filter("attributes.site = us");
  filtered.set_include_attributes(true);
  std::vector<v1::ScanResponse> responses;
  scan = Start(filtered);
  EXPECT_EQ(ReadAll(*scan, &responses),
            (std::vector<std::vector<std::string>>{{"r0", "r3", "r6", "r9"}}));
  EXPECT_EQ(responses[0].batch().attributes(1).values().at("site"), "us");
}

TEST_F(RecordScanTest, AnEmptyWindowSendsNothing) {
  Append(3);
  v1::ScanRequest request;
  *request.mutable_window()->mutable_start_time() =
      core::TimestampFromUnixMicros(kDay0 + 100 * kHour);
  auto scan = Start(request);
  v1::ScanResponse response;
  absl::StatusOr<bool> send = scan->Next(*log_, IngestLabel, &response);
  ASSERT_TRUE(send.ok());
  EXPECT_FALSE(*send);
  EXPECT_TRUE(scan->done());
}

TEST_F(RecordScanTest, RecordsStoredAfterTheFirstBatchAreNotReturned) {
  Append(4);
  v1::ScanRequest request;
  request.set_batch_size(2);
  auto scan = Start(request);
  v1::ScanResponse response;
  ASSERT_TRUE(scan->Next(*log_, IngestLabel, &response).value());
  // Later records, in the same day's segment and on a later day.
  Append(2, "late", kDay0 + 5 * kHour);
  Append(2, "later", kDay0 + 48 * kHour);
  EXPECT_EQ(ReadAll(*scan),
            (std::vector<std::vector<std::string>>{{"r2", "r3"}}));
}

TEST_F(RecordScanTest, CorruptPayloadsAreSkippedAndReported) {
  Append(2);
  store::LogEntry garbage;
  garbage.event_time_micros = kDay0 + 3 * kHour;
  garbage.payload = "\xff\xff\xff";
  ASSERT_TRUE(log_->Append({garbage}, false).ok());
  Append(2, "s", kDay0 + 4 * kHour);
  v1::ScanRequest request;
  request.set_batch_size(3);
  std::vector<v1::ScanResponse> responses;
  auto scan = Start(request);
  EXPECT_EQ(ReadAll(*scan, &responses), (std::vector<std::vector<std::string>>{
                                            {"r0", "r1", "s0"}, {"s1"}}));
  EXPECT_EQ(responses[0].skipped_corrupt_records(), 1);
  EXPECT_EQ(responses[1].skipped_corrupt_records(), 0);
  EXPECT_EQ(scan->TakeSkippedCorrupt(), 1);
  EXPECT_EQ(scan->TakeSkippedCorrupt(), 0);
}

TEST(ParseWindowTest, UnsetBoundsAreZero) {
  v1::TimeWindow window;
  absl::StatusOr<WindowMicros> micros = ParseWindow(window);
  ASSERT_TRUE(micros.ok());
  EXPECT_EQ(micros->start, 0);
  EXPECT_EQ(micros->end, 0);
  window.mutable_end_time()->set_seconds(5);
  EXPECT_EQ(ParseWindow(window)->end, 5'000'000);
  window.mutable_start_time()->set_seconds(5);
  EXPECT_EQ(ParseWindow(window).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::collector
