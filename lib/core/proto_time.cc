#include "lib/core/proto_time.h"

namespace continuum::core {
namespace {

constexpr int64_t kMicrosPerSecond = 1'000'000;

}  // namespace

google::protobuf::Timestamp TimestampFromUnixMicros(int64_t micros) {
  int64_t seconds = micros / kMicrosPerSecond;
  int64_t rest = micros % kMicrosPerSecond;
  if (rest < 0) {
    rest += kMicrosPerSecond;
    --seconds;
  }
  google::protobuf::Timestamp out;
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(rest * 1000));
  return out;
}

int64_t ToUnixMicros(const google::protobuf::Timestamp& t) {
  int64_t nanos = t.nanos();
  int64_t micros = nanos / 1000;
  if (nanos % 1000 < 0) --micros;  // floor for a (non-canonical) negative
  return t.seconds() * kMicrosPerSecond + micros;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimestampFromUnixMicros(absl::ToUnixMicros(t));
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  google::protobuf::Duration out;
  out.set_seconds(nanos / 1'000'000'000);
  out.set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
  return out;
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::Duration FromProtoOr(const google::protobuf::Duration& d,
                           absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return FromProto(d);
}

}  // namespace continuum::core
