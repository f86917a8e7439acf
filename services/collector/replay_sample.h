// ReplaySample: one SampleReplay call: a random sample of the records in a
// data set's replay buffer, read one message at a time (like RecordScan), so
// a server stream holds no thread and no lock between messages.
//
// The sample: the buffer's positions as they were when the sample began,
// sorted, then shuffled with the request's seed (random when 0), so that it
// depends only on the buffer's content and the seed; read in that order,
// skipping records gone meanwhile (retention) or unreadable (logged), and,
// if only_labeled, those without a label; at most `count` (0: all). Every
// message carries buffer_size, the buffer's size when the sample began, and
// up to BatchRows(batch_size, feature_dim) rows. A sample that returns no
// record still sends one message (with buffer_size).
//
// Thread safety: not thread-safe: one stream reads it, one call at a time
// (from any thread). Next() reads the log, which is thread-safe; the caller
// keeps the log open meanwhile (DatasetStore holds its rebuild lock shared).
#ifndef CONTINUUM_SERVICES_COLLECTOR_REPLAY_SAMPLE_H_
#define CONTINUUM_SERVICES_COLLECTOR_REPLAY_SAMPLE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/v1/collector.pb.h"
#include "lib/store/segment_log.h"
#include "services/collector/record_scan.h"

namespace continuum::collector {

class ReplaySample {
 public:
  // Checks `request`: INVALID_ARGUMENT "count must not be negative".
  static absl::Status Validate(const v1::SampleReplayRequest& request);

  // A sample of `positions` (the replay buffer's content) for data set
  // `dataset_id` (named in log lines); `request` must be valid.
  ReplaySample(const v1::SampleReplayRequest& request,
               const v1::DatasetSchema& schema, std::string dataset_id,
               std::vector<store::LogPosition> positions);

  ReplaySample(const ReplaySample&) = delete;
  ReplaySample& operator=(const ReplaySample&) = delete;

  // Reads the next message from `log` into *response (which it clears).
  // Returns true if *response is a message to send; done() says whether the
  // sample has ended (it has whenever Next returns false). Read errors skip
  // the record, so there is no error to return.
  bool Next(store::SegmentLog& log, LabelOf label_of,
            v1::SampleReplayResponse* response);

  // Whether every message was read.
  bool done() const { return done_; }

  // Records returned so far.
  int64_t returned() const { return returned_; }

 private:
  const v1::DatasetSchema schema_;
  const std::string dataset_id_;
  const int64_t count_;
  const bool only_labeled_;
  const int rows_per_batch_;
  const int64_t buffer_size_;
  // In sample order; next_ is the first not read yet.
  std::vector<store::LogPosition> positions_;
  size_t next_ = 0;
  int64_t returned_ = 0;
  bool done_ = false;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_REPLAY_SAMPLE_H_
