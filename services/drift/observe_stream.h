// ObserveStream: the batches of one DriftService.Observe call, applied in
// order, and what the call answers (drift.proto's Observe contract).
//
// Each message is checked against drift.proto's field rules
// (core::CheckFieldRules) and then handed to DriftMonitor::Observe, which
// checks the batch as a whole before it changes anything. The first
// message that fails ends the stream: the gRPC handler stops reading and
// answers the status Add returned, which names the batch (0-based) and
// says how many batches before it were processed:
//   batch 2: row 3: feature 1 is nan (must be finite) (2 earlier batches
//   of this stream were processed)
//   batch 0: batch.version: required (no earlier batch of this stream was
//   processed)
// A message that did not parse (the handler reads raw bytes, so it can
// tell one from the client's half-close) is answered by Unparsable:
//   message 2 of the stream is not a valid continuum.v1.ObserveRequest
//   (its bytes do not parse as that message); the 1 batch before it was
//   processed
// A stream whose messages all pass answers response(): the batches, rows
// and outcomes processed.
//
// Not thread-safe: one call reads its messages one at a time.
#ifndef CONTINUUM_SERVICES_DRIFT_OBSERVE_STREAM_H_
#define CONTINUUM_SERVICES_DRIFT_OBSERVE_STREAM_H_

#include <cstdint>

#include "absl/status/status.h"
#include "continuum/v1/drift.pb.h"
#include "services/drift/drift_monitor.h"

namespace continuum::drift_service {

class ObserveStream {
 public:
  // `monitor` must outlive the stream.
  explicit ObserveStream(DriftMonitor* monitor) : monitor_(monitor) {}

  // Checks and applies the next message. On error (INVALID_ARGUMENT for a
  // field rule; the monitor's code otherwise: INVALID_ARGUMENT,
  // RESOURCE_EXHAUSTED, FAILED_PRECONDITION) nothing of this batch was
  // applied and the stream must end with the returned status.
  absl::Status Add(const v1::ObserveRequest& request);

  // The status that ends the stream when its next message did not parse:
  // `parse_error` (core::ParseStreamMessage's, which names the message)
  // and the batches processed before it.
  absl::Status Unparsable(const absl::Status& parse_error) const;

  // 1-based index of the next message (for core::ParseStreamMessage).
  int64_t next_message() const { return response_.batches() + 1; }

  // What the stream processed so far.
  const v1::ObserveResponse& response() const { return response_; }

 private:
  DriftMonitor* const monitor_;
  v1::ObserveResponse response_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_OBSERVE_STREAM_H_
