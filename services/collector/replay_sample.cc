#include "services/collector/replay_sample.h"

#include <algorithm>
#include <random>
#include <tuple>
#include <utility>

#include "lib/core/logging.h"
#include "services/collector/record_batch.h"
#include "services/collector/replay_buffer.h"
#include "services/collector/stored_record.h"
#include "spdlog/spdlog.h"

namespace continuum::collector {

absl::Status ReplaySample::Validate(const v1::SampleReplayRequest& request) {
  if (request.count() < 0) {
    return absl::InvalidArgumentError("count must not be negative");
  }
  return absl::OkStatus();
}

ReplaySample::ReplaySample(const v1::SampleReplayRequest& request,
                           const v1::DatasetSchema& schema,
                           std::string dataset_id,
                           std::vector<store::LogPosition> positions)
    : schema_(schema),
      dataset_id_(std::move(dataset_id)),
      count_(request.count()),
      only_labeled_(request.only_labeled()),
      rows_per_batch_(BatchRows(request.batch_size(), schema.feature_dim())),
      buffer_size_(static_cast<int64_t>(positions.size())),
      positions_(std::move(positions)) {
  // Sorting first makes the sample depend only on the buffer's content and
  // the seed, not on the order the reservoirs hold it in.
  std::sort(positions_.begin(), positions_.end(),
            [](const store::LogPosition& a, const store::LogPosition& b) {
              return std::tie(a.segment_id, a.offset) <
                     std::tie(b.segment_id, b.offset);
            });
  std::mt19937_64 rng(SeedOrRandom(request.seed()));
  std::shuffle(positions_.begin(), positions_.end(), rng);
}

bool ReplaySample::Next(store::SegmentLog& log, LabelOf label_of,
                        v1::SampleReplayResponse* response) {
  response->Clear();
  response->set_buffer_size(buffer_size_);
  StartBatch(schema_, response->mutable_batch());
  if (done_) return false;
  v1::RecordBatch* batch = response->mutable_batch();
  std::string payload;
  while (next_ < positions_.size() && !(count_ > 0 && returned_ >= count_)) {
    const store::LogPosition& pos = positions_[next_++];
    absl::Status read = log.ReadAt(pos, &payload);
    if (absl::IsNotFound(read)) continue;  // Deleted by retention meanwhile.
    if (!read.ok()) {
      spdlog::warn("data set {}: replay record unreadable: {}", dataset_id_,
                   read.message());
      continue;
    }
    v1::Record record;
    if (!DecodeStoredRecord(payload, &record)) continue;
    v1::Label copy;
    const v1::Label* label = label_of(record, &copy) ? &copy : nullptr;
    if (only_labeled_ && label == nullptr) continue;
    AppendRow(record, label, false, batch);
    ++returned_;
    if (batch->num_rows() >= rows_per_batch_) return true;
  }
  done_ = true;
  // The last rows, or one message with buffer_size when nothing matched.
  return batch->num_rows() > 0 || returned_ == 0;
}

}  // namespace continuum::collector
