#include "services/collector/stored_record.h"

#include <gtest/gtest.h>

#include "lib/core/proto_time.h"

namespace continuum::collector {
namespace {

TEST(StoredRecordTest, RoundTripAddsTheIngestTime) {
  v1::Record record;
  record.set_id("r1");
  record.mutable_event_time()->set_seconds(1'700'000'000);
  record.mutable_event_time()->set_nanos(250'000);
  record.add_features(1.5);
  (*record.mutable_attributes())["site"] = "eu";
  const std::string stamp = IngestStamp(1'700'000'001'000'123);
  store::LogEntry entry = EncodeStoredRecord(record, stamp);
  EXPECT_EQ(entry.event_time_micros, 1'700'000'000'000'250);

  v1::Record back;
  ASSERT_TRUE(DecodeStoredRecord(entry.payload, &back));
  EXPECT_EQ(core::ToUnixMicros(back.ingest_time()), 1'700'000'001'000'123);
  back.clear_ingest_time();
  EXPECT_EQ(back.SerializeAsString(), record.SerializeAsString());
}

TEST(StoredRecordTest, GarbageIsNotARecord) {
  v1::Record record;
  EXPECT_FALSE(DecodeStoredRecord("\xff\xff\xff", &record));
}

}  // namespace
}  // namespace continuum::collector
