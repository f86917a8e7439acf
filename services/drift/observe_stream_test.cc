// One Observe call's batches: counts, and the errors that end the stream.
#include "services/drift/observe_stream.h"

#include <gtest/gtest.h>

#include <cmath>

#include "services/drift/monitor_test_util.h"

namespace continuum::drift_service {
namespace {

v1::ObserveRequest Request(const v1::ObservationBatch& batch) {
  v1::ObserveRequest request;
  *request.mutable_batch() = batch;
  return request;
}

TEST_F(DriftMonitorTest, ObserveStreamCountsEveryBatch) {
  ObserveStream stream(&monitor_);
  EXPECT_EQ(stream.next_message(), 1);
  ASSERT_TRUE(stream.Add(Request(Batch("m", 1, {true, false}))).ok());
  ASSERT_TRUE(stream.Add(Request(Batch("m", 1, {true, true, true}))).ok());
  EXPECT_EQ(stream.next_message(), 3);
  EXPECT_EQ(stream.response().batches(), 2);
  EXPECT_EQ(stream.response().observations(), 5);
  EXPECT_EQ(stream.response().outcomes(), 5);
}

TEST_F(DriftMonitorTest, ObserveStreamErrorsNameTheBatch) {
  ObserveStream stream(&monitor_);
  // A field rule (drift.proto's options), before the monitor sees it.
  v1::ObservationBatch bad = Batch("m", 1, {true});
  bad.set_num_rows(0);
  absl::Status s = stream.Add(Request(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "batch 0: batch.num_rows: required (no earlier batch of this "
            "stream was processed)");

  ASSERT_TRUE(stream.Add(Request(Batch("m", 1, {true}))).ok());
  // The monitor's own checks, with their code.
  bad = Batch("m", 1, {true});
  bad.set_features(1, NAN);
  s = stream.Add(Request(bad));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "batch 1: row 0: feature 1 is nan (must be finite) (1 earlier "
            "batch of this stream was processed)");
  ASSERT_TRUE(stream.Add(Request(Batch("m", 1, {true}))).ok());
  s = stream.Add(v1::ObserveRequest());
  EXPECT_EQ(s.message(),
            "batch 2: batch: required (2 earlier batches of this stream were "
            "processed)");
  EXPECT_EQ(stream.response().batches(), 2);
  EXPECT_EQ(monitor_.GetDriftStatus("models/m", 0)->observations(), 2);
}

TEST_F(DriftMonitorTest, ObserveStreamUnparsableMessage) {
  ObserveStream stream(&monitor_);
  const absl::Status parse_error =
      absl::InvalidArgumentError("message 1 of the stream is not valid");
  EXPECT_EQ(stream.Unparsable(parse_error).message(),
            "message 1 of the stream is not valid; no batch before it was "
            "processed");
  ASSERT_TRUE(stream.Add(Request(Batch("m", 1, {true}))).ok());
  EXPECT_EQ(stream.Unparsable(parse_error).message(),
            "message 1 of the stream is not valid; the 1 batch before it was "
            "processed");
  ASSERT_TRUE(stream.Add(Request(Batch("m", 1, {true}))).ok());
  EXPECT_EQ(stream.Unparsable(parse_error).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stream.Unparsable(parse_error).message(),
            "message 1 of the stream is not valid; the 2 batches before it "
            "were processed");
}

}  // namespace
}  // namespace continuum::drift_service
