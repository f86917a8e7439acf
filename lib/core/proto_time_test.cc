#include "lib/core/proto_time.h"

#include <gtest/gtest.h>

namespace continuum::core {
namespace {

TEST(ProtoTimeTest, TimestampRoundTripsAtMicrosecondPrecision) {
  const absl::Time t = absl::FromUnixMicros(1'700'000'123'456'789);
  const google::protobuf::Timestamp ts = ToProto(t);
  EXPECT_EQ(ts.seconds(), 1'700'000'123);
  EXPECT_EQ(ts.nanos(), 456'789'000);
  EXPECT_EQ(FromProto(ts), t);
  EXPECT_EQ(ToUnixMicros(ts), 1'700'000'123'456'789);
}

TEST(ProtoTimeTest, SubMicrosecondIsRoundedDown) {
  const absl::Time t = absl::FromUnixNanos(1'000'000'001'999);
  EXPECT_EQ(ToProto(t).nanos(), 1'000);
  EXPECT_EQ(ToProto(t).seconds(), 1'000);
}

TEST(ProtoTimeTest, TimesBeforeTheEpochHaveNonNegativeNanos) {
  const google::protobuf::Timestamp ts = TimestampFromUnixMicros(-1);
  EXPECT_EQ(ts.seconds(), -1);
  EXPECT_EQ(ts.nanos(), 999'999'000);
  EXPECT_EQ(ToUnixMicros(ts), -1);
  EXPECT_EQ(FromProto(ts), absl::FromUnixMicros(-1));
  EXPECT_EQ(ToProto(absl::FromUnixMicros(-1'500'000)).seconds(), -2);
  EXPECT_EQ(ToProto(absl::FromUnixMicros(-1'500'000)).nanos(), 500'000'000);
}

TEST(ProtoTimeTest, FromProtoKeepsNanoseconds) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(10);
  ts.set_nanos(123);
  EXPECT_EQ(FromProto(ts), absl::FromUnixSeconds(10) + absl::Nanoseconds(123));
  EXPECT_EQ(FromProto(google::protobuf::Timestamp()), absl::UnixEpoch());
}

TEST(ProtoTimeTest, DurationRoundTrips) {
  for (absl::Duration d :
       {absl::ZeroDuration(), absl::Milliseconds(1500), absl::Nanoseconds(7),
        -absl::Milliseconds(2500), absl::Hours(49)}) {
    const google::protobuf::Duration p = ToProtoDuration(d);
    EXPECT_EQ(FromProto(p), d) << d;
    // Seconds and nanos share a sign (protobuf's rule).
    EXPECT_TRUE((p.seconds() >= 0 && p.nanos() >= 0) ||
                (p.seconds() <= 0 && p.nanos() <= 0))
        << d;
  }
}

TEST(ProtoTimeTest, FromProtoOrUsesTheFallbackOnlyForUnsetOrZero) {
  google::protobuf::Duration unset;
  EXPECT_EQ(FromProtoOr(unset, absl::Seconds(5)), absl::Seconds(5));
  google::protobuf::Duration some;
  some.set_nanos(1);
  EXPECT_EQ(FromProtoOr(some, absl::Seconds(5)), absl::Nanoseconds(1));
  some.set_nanos(0);
  some.set_seconds(-3);
  EXPECT_EQ(FromProtoOr(some, absl::Seconds(5)), absl::Seconds(-3));
}

}  // namespace
}  // namespace continuum::core
