#include "lib/core/grpc_status.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"

namespace continuum::core {
namespace {

TEST(GrpcStatusTest, OkMapsToOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(GrpcStatusTest, EveryCanonicalCodeRoundTrips) {
  for (int code = 1; code <= 16; ++code) {
    absl::Status in(static_cast<absl::StatusCode>(code),
                    "message " + std::to_string(code));
    grpc::Status wire = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(wire.error_code()), code);
    EXPECT_EQ(wire.error_message(), in.message());
    absl::Status back = FromGrpcStatus(wire);
    EXPECT_EQ(back, in);
  }
}

TEST(GrpcStatusTest, SpecificCodesKeepTheirMeaning) {
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcStatus(absl::DataLossError("x")).error_code(),
            grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(FromGrpcStatus(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                        "queue full"))
                .code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(GrpcStatusTest, OutOfRangeCodeBecomesUnknown) {
  absl::Status s =
      FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(99), "odd"));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(s.message(), "odd");
}

TEST(GrpcStatusTest, LongMessagesAreTruncatedWithANote) {
  std::string message(10000, 'a');
  grpc::Status wire = ToGrpcStatus(absl::InvalidArgumentError(message));
  EXPECT_LE(wire.error_message().size(), kMaxStatusMessageBytes);
  EXPECT_TRUE(absl::StartsWith(wire.error_message(), "aaaa"));
  EXPECT_TRUE(absl::StrContains(wire.error_message(), "bytes truncated]"));
}

TEST(GrpcStatusTest, ShortMessagesAreUntouched) {
  EXPECT_EQ(TruncateStatusMessage("record 3: NaN in feature 7"),
            "record 3: NaN in feature 7");
  std::string exact(kMaxStatusMessageBytes, 'x');
  EXPECT_EQ(TruncateStatusMessage(exact), exact);
}

TEST(GrpcStatusTest, TruncationKeepsUtf8Whole) {
  // "é" is two bytes; a cut in the middle would leave invalid UTF-8.
  std::string message;
  for (int i = 0; i < 100; ++i) message += "\xC3\xA9";
  std::string cut = TruncateStatusMessage(message, 64 + 1);
  size_t body = cut.find("...");
  ASSERT_NE(body, std::string::npos);
  EXPECT_EQ(body % 2, 0u) << cut;
  EXPECT_LE(cut.size(), 65u);
}

}  // namespace
}  // namespace continuum::core

namespace continuum::core {
namespace {

TEST(ReplyTest, MovesTheValueOrConvertsTheError) {
  std::string out = "untouched";
  grpc::Status ok = Reply([] { return absl::StatusOr<std::string>("value"); },
                          &out);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(out, "value");

  out = "untouched";
  grpc::Status failed = Reply(
      [] {
        return absl::StatusOr<std::string>(absl::NotFoundError("no model"));
      },
      &out);
  EXPECT_EQ(failed.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(failed.error_message(), "no model");
  EXPECT_EQ(out, "untouched");
}

}  // namespace
}  // namespace continuum::core
