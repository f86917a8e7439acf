// The stored form of a record in a data set's records log: the v1::Record
// as the client sent it, followed by the encoding of a Record that holds
// only its ingest time. Protobuf merges concatenated messages, so decoding
// the payload gives the record with ingest_time set, and storing it costs
// no copy of the record. The log entry's event time is the record's.
//
// Pure functions, thread-safe.
//
// Example:
//   const std::string stamp = IngestStamp(now_micros);
//   store::LogEntry entry = EncodeStoredRecord(record, stamp);
//   ...
//   v1::Record back;
//   if (!DecodeStoredRecord(payload, &back)) { /* corrupt */ }
#ifndef CONTINUUM_SERVICES_COLLECTOR_STORED_RECORD_H_
#define CONTINUUM_SERVICES_COLLECTOR_STORED_RECORD_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"
#include "lib/store/segment_log.h"

namespace continuum::collector {

// The bytes appended to every record of a batch ingested at `ingest_micros`
// (microseconds since the Unix epoch).
std::string IngestStamp(int64_t ingest_micros);

// The log entry of `record`, with `stamp` (from IngestStamp) appended.
store::LogEntry EncodeStoredRecord(const v1::Record& record,
                                   absl::string_view stamp);

// Parses a payload of the records log into *record; false if it is not a
// valid record (counted as corrupt by the callers).
bool DecodeStoredRecord(absl::string_view payload, v1::Record* record);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_STORED_RECORD_H_
