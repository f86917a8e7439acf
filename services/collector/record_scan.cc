#include "services/collector/record_scan.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/collector/record_batch.h"
#include "services/collector/stored_record.h"

namespace continuum::collector {
namespace {

constexpr absl::string_view kAttributesPrefix = "attributes.";

}  // namespace

absl::StatusOr<WindowMicros> ParseWindow(const v1::TimeWindow& window) {
  WindowMicros micros;
  if (window.has_start_time()) {
    micros.start = core::ToUnixMicros(window.start_time());
  }
  if (window.has_end_time()) micros.end = core::ToUnixMicros(window.end_time());
  if (micros.end > 0 && micros.end <= micros.start) {
    return absl::InvalidArgumentError(
        "window.end_time must be after window.start_time");
  }
  return micros;
}

absl::StatusOr<std::unique_ptr<RecordScan>> RecordScan::Create(
    const v1::ScanRequest& request, const v1::DatasetSchema& schema) {
  if (request.follow()) {
    return absl::UnimplementedError(
        "Scan: follow is not supported yet; poll with the last cursor instead");
  }
  if (request.limit() < 0) {
    return absl::InvalidArgumentError("limit must not be negative");
  }
  absl::StatusOr<WindowMicros> window = ParseWindow(request.window());
  if (!window.ok()) return window.status();
  std::optional<store::LogPosition> after;
  if (!request.cursor().empty()) {
    absl::StatusOr<store::LogPosition> decoded =
        store::LogPosition::Decode(request.cursor());
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cursor is malformed: ", decoded.status().message()));
    }
    after = *decoded;
  }
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return absl::StartsWith(key, kAttributesPrefix) &&
               key.size() > kAttributesPrefix.size();
      });
  if (!filter.ok()) return filter.status();
  std::unique_ptr<RecordScan> scan(new RecordScan(
      request, schema, window->start, window->end, *std::move(filter)));
  scan->after_ = after;
  return scan;
}

RecordScan::RecordScan(const v1::ScanRequest& request,
                       const v1::DatasetSchema& schema, int64_t start_micros,
                       int64_t end_micros, core::Filter filter)
    : schema_(schema),
      start_micros_(start_micros),
      end_micros_(end_micros),
      limit_(request.limit()),
      only_labeled_(request.only_labeled()),
      include_attributes_(request.include_attributes()),
      rows_per_batch_(BatchRows(request.batch_size(), schema.feature_dim())),
      filter_(std::move(filter)) {}

bool RecordScan::StoredBeforeStart(const store::LogPosition& pos) const {
  auto it = sizes_at_start_->find(pos.segment_id);
  return it != sizes_at_start_->end() && pos.offset <= it->second;
}

bool RecordScan::Wanted(const v1::Record& record, LabelOf label_of,
                        v1::Label* copy, const v1::Label** label) const {
  *label = label_of(record, copy) ? copy : nullptr;
  if (only_labeled_ && *label == nullptr) return false;
  if (filter_.empty()) return true;
  return filter_.Matches(
      [&](absl::string_view key) -> std::optional<std::string> {
        auto it = record.attributes().find(
            std::string(key.substr(kAttributesPrefix.size())));
        if (it == record.attributes().end()) return std::nullopt;
        return it->second;
      });
}

absl::StatusOr<bool> RecordScan::Next(store::SegmentLog& log, LabelOf label_of,
                                      v1::ScanResponse* response) {
  response->Clear();
  StartBatch(schema_, response->mutable_batch());
  if (done_) return false;
  if (!sizes_at_start_.has_value()) {
    sizes_at_start_.emplace();
    for (const store::SegmentInfo& info : log.Segments()) {
      (*sizes_at_start_)[info.id] = info.bytes;
    }
  }
  v1::RecordBatch* batch = response->mutable_batch();
  bool more = false;  // Stopped at a full batch: there may be more.
  store::ScanStats stats;
  absl::Status s = log.Scan(
      start_micros_, end_micros_, after_ ? &*after_ : nullptr,
      [&](const store::LogPosition& pos, int64_t, absl::string_view payload) {
        if (!StoredBeforeStart(pos)) return true;
        v1::Record record;
        if (!DecodeStoredRecord(payload, &record)) {
          ++stats.skipped_corrupt_records;
          return true;
        }
        v1::Label copy;
        const v1::Label* label = nullptr;
        if (!Wanted(record, label_of, &copy, &label)) return true;
        AppendRow(record, label, include_attributes_, batch);
        after_ = pos;
        ++returned_;
        if (limit_ > 0 && returned_ >= limit_) return false;
        if (batch->num_rows() >= rows_per_batch_) {
          more = true;
          return false;
        }
        return true;
      },
      &stats);
  skipped_ += stats.skipped_corrupt_records;
  if (!s.ok()) return s;
  if (limit_ > 0 && returned_ >= limit_) more = false;
  done_ = !more;
  if (batch->num_rows() == 0) return false;
  response->set_cursor(after_->Encode());
  response->set_skipped_corrupt_records(skipped_ - reported_);
  reported_ = skipped_;
  return true;
}

int64_t RecordScan::TakeSkippedCorrupt() {
  const int64_t skipped = skipped_ - taken_;
  taken_ = skipped_;
  return skipped;
}

}  // namespace continuum::collector
