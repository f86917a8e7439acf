// IngestStream: the state of one CollectorService.Ingest call, a client
// stream of IngestRequest batches, apart from gRPC (collector_service.cc
// reads the messages and hands them here one at a time).
//
// What it keeps: the data set a message without `dataset` inherits (the
// previous message's), and the totals of the committed batches that the
// call's one response reports. Each batch is committed on its own, all or
// nothing (DatasetStore::Ingest); the first failure ends the stream and
// the error says what was committed before it. Messages of the errors:
//   batch 1: batch rejected, nothing stored: record 0 (id "a"): 3 features,
//   the data set has 2 (1 earlier batches of this stream are committed)
//   message 2 of the stream is not a valid continuum.v1.IngestRequest (its
//   bytes do not parse as that message); the 1 message before it is
//   committed (3 records accepted, 0 duplicates); nothing after it was read
// Batches count from 0 (as IngestResponse.batches), messages from 1 (as
// core::ParseStreamMessage).
//
// Example (the handler's loop):
//   IngestStream stream(collector);
//   for each message: parse it (on failure: return stream.Unreadable(s));
//     check its field rules (on failure: return stream.Reject(request, s));
//     if (absl::Status s = stream.Commit(request); !s.ok()) return s;
//   reply stream.response();
//
// Thread safety: not thread-safe; one call uses it, one message at a time
// (from any thread). `collector` must outlive it.
#ifndef CONTINUUM_SERVICES_COLLECTOR_INGEST_STREAM_H_
#define CONTINUUM_SERVICES_COLLECTOR_INGEST_STREAM_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "continuum/v1/collector.pb.h"
#include "services/collector/collector.h"

namespace continuum::collector {

class IngestStream {
 public:
  explicit IngestStream(Collector* collector) : collector_(collector) {}

  IngestStream(const IngestStream&) = delete;
  IngestStream& operator=(const IngestStream&) = delete;

  // Commits the batch of the stream's next message to its data set (its
  // `dataset`, or the previous message's when empty) and adds it to the
  // totals. Returns once the batch is durable. On failure nothing of the
  // batch is stored and the stream must end with the error returned:
  // BatchFailed of the data set's or the batch's error (INVALID_ARGUMENT
  // for a missing data set id or a bad record, NOT_FOUND, UNAVAILABLE).
  absl::Status Commit(const v1::IngestRequest& request);

  // The stream's next message was rejected before Commit with `error` (a
  // rule of its field options): counts its records as rejected in its data
  // set (if known) and returns BatchFailed(error).
  absl::Status Reject(const v1::IngestRequest& request,
                      const absl::Status& error);

  // `error` of the next batch, prefixed by its index and followed by how
  // many batches are committed; same code.
  absl::Status BatchFailed(const absl::Status& error) const;

  // The next message could not be read: `error` (core::ParseStreamMessage's)
  // followed by what the messages before it committed; same code.
  absl::Status Unreadable(const absl::Status& error) const;

  // The totals of the committed batches: the call's response.
  const v1::IngestResponse& response() const { return response_; }

 private:
  // The data set of `request`'s batch: its own, else the previous one's.
  const std::string& DatasetOf(const v1::IngestRequest& request);

  Collector* const collector_;
  std::string dataset_;
  v1::IngestResponse response_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_INGEST_STREAM_H_
