#include "services/collector/stored_record.h"

#include "lib/core/proto_time.h"

namespace continuum::collector {

std::string IngestStamp(int64_t ingest_micros) {
  v1::Record stamp;
  *stamp.mutable_ingest_time() = core::TimestampFromUnixMicros(ingest_micros);
  return stamp.SerializeAsString();
}

store::LogEntry EncodeStoredRecord(const v1::Record& record,
                                   absl::string_view stamp) {
  store::LogEntry entry;
  entry.event_time_micros = core::ToUnixMicros(record.event_time());
  record.SerializeToString(&entry.payload);
  entry.payload.append(stamp.data(), stamp.size());
  return entry;
}

bool DecodeStoredRecord(absl::string_view payload, v1::Record* record) {
  return record->ParseFromArray(payload.data(),
                                static_cast<int>(payload.size()));
}

}  // namespace continuum::collector
