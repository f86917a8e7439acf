// Conversions between Abseil's time types and protobuf's well-known types,
// one copy for every service (AIP-142: times are Timestamp, spans Duration).
//
// Precision: a Timestamp or Duration holds nanoseconds; absl::Time and
// absl::Duration hold finer. ToProto rounds towards negative infinity to a
// microsecond (the precision every store and log of Continuum keeps), so a
// time written and read back compares equal to what was stored. The
// *Micros helpers are for code that keeps times as integer microseconds
// since the Unix epoch (the collector's segments, the registry's tables).
#ifndef CONTINUUM_LIB_CORE_PROTO_TIME_H_
#define CONTINUUM_LIB_CORE_PROTO_TIME_H_

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <cstdint>

#include "absl/time/time.h"

namespace continuum::core {

// `t` as a Timestamp, rounded down to the microsecond. Example:
//   *run.mutable_create_time() = core::ToProto(clock->Now());
google::protobuf::Timestamp ToProto(absl::Time t);

// The time a Timestamp names, to the nanosecond. An unset Timestamp is the
// Unix epoch.
absl::Time FromProto(const google::protobuf::Timestamp& t);

// `d` as a Duration, truncated towards zero to the nanosecond.
google::protobuf::Duration ToProtoDuration(absl::Duration d);

// The span a Duration names.
absl::Duration FromProto(const google::protobuf::Duration& d);

// The span a Duration names, or `fallback` when it is unset or zero: the
// rule of every `google.protobuf.Duration` config field with a default.
absl::Duration FromProtoOr(const google::protobuf::Duration& d,
                           absl::Duration fallback);

// Microseconds since the Unix epoch <-> Timestamp (nanoseconds below a
// microsecond are dropped, rounding towards negative infinity).
int64_t ToUnixMicros(const google::protobuf::Timestamp& t);
google::protobuf::Timestamp TimestampFromUnixMicros(int64_t micros);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_PROTO_TIME_H_
