// LogPosition's cursor encoding and ordering.
#include "lib/store/log_position.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace continuum::store {
namespace {

TEST(LogPositionTest, PositionEncodingRoundTripsAndRejectsGarbage) {
  LogPosition pos{2000012345, 987654321, 77};
  auto decoded = LogPosition::Decode(pos.Encode());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->segment_id, pos.segment_id);
  EXPECT_EQ(decoded->offset, pos.offset);
  EXPECT_EQ(decoded->frame_bytes, pos.frame_bytes);
  for (absl::string_view bad : {"", "garbage", "AAAA", "!!!!!!!!", "AQ"}) {
    EXPECT_EQ(LogPosition::Decode(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  std::string truncated = pos.Encode();
  truncated.pop_back();
  truncated.pop_back();
  EXPECT_EQ(LogPosition::Decode(truncated).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Positions compare by segment, then offset.
  EXPECT_LT((LogPosition{1, 500}), (LogPosition{2, 10}));
  EXPECT_LT((LogPosition{2, 10}), (LogPosition{2, 11}));
  EXPECT_EQ((LogPosition{2, 10, 0}), (LogPosition{2, 10, 30}));
}

TEST(LogPositionTest, RejectsAFrameSizeThatCannotEndAtTheOffset) {
  // A frame is at least a header long and cannot start before the file.
  EXPECT_EQ(LogPosition::Decode(LogPosition{1, 100, 19}.Encode())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LogPosition::Decode(LogPosition{1, 100, 101}.Encode())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LogPosition::Decode(LogPosition{-1, 100, 0}.Encode())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(LogPosition::Decode(LogPosition{1, 100, 100}.Encode()).ok());
  EXPECT_TRUE(LogPosition::Decode(LogPosition{0, 0, 0}.Encode()).ok());
}

}  // namespace
}  // namespace continuum::store
