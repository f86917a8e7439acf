#include "lib/store/segment_set.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "lib/store/segment_files.h"

namespace continuum::store {

log_format::SegmentIndex SegmentState::Index() const {
  return log_format::SegmentIndex{min_event_time_micros, max_event_time_micros,
                                  records, bytes, checkpoints};
}

void ExtendTimeRange(bool empty, int64_t lo, int64_t hi, int64_t* min,
                     int64_t* max) {
  if (empty) {
    *min = lo;
    *max = hi;
  } else {
    *min = std::min(*min, lo);
    *max = std::max(*max, hi);
  }
}

void MaybeAddCheckpoint(uint64_t offset, std::vector<uint64_t>* checkpoints) {
  if (checkpoints->empty() ||
      offset >= checkpoints->back() + log_format::kCheckpointInterval) {
    checkpoints->push_back(offset);
  }
}

SegmentState* SegmentSet::ActiveSegment(int64_t day) {
  auto d = days_.find(day);
  if (d == days_.end() || d->second.active_id < 0) return nullptr;
  return &segments_.at(d->second.active_id);
}

int64_t SegmentSet::NewestActiveId() const {
  for (auto it = days_.rbegin(); it != days_.rend(); ++it) {
    if (it->second.active_id >= 0) return it->second.active_id;
  }
  return -1;
}

SegmentState& SegmentSet::Add(SegmentState segment) {
  total_bytes_ += segment.bytes;
  total_records_ += segment.records;
  const int64_t id = segment.id;
  return segments_.emplace(id, std::move(segment)).first->second;
}

void SegmentSet::CountAppended(SegmentState* segment, int64_t records,
                               uint64_t bytes, int64_t min_event_time_micros,
                               int64_t max_event_time_micros,
                               const std::vector<uint64_t>& new_checkpoints) {
  ExtendTimeRange(segment->records == 0, min_event_time_micros,
                  max_event_time_micros, &segment->min_event_time_micros,
                  &segment->max_event_time_micros);
  segment->records += records;
  segment->bytes += bytes;
  segment->checkpoints.insert(segment->checkpoints.end(),
                              new_checkpoints.begin(), new_checkpoints.end());
  segment->dirty = true;
  total_bytes_ += bytes;
  total_records_ += records;
}

void SegmentSet::Remove(int64_t id) {
  auto it = segments_.find(id);
  const int64_t day = it->second.day;
  total_bytes_ -= it->second.bytes;
  total_records_ -= it->second.records;
  segments_.erase(it);
  DayState& d = days_[day];
  if (d.active_id == id) {
    // The day's newest remaining segment (if any) becomes its active one.
    d.active_id = -1;
    auto end = segments_.lower_bound((day + 1) * kSegmentsPerDay);
    if (end != segments_.begin() &&
        std::prev(end)->first >= day * kSegmentsPerDay) {
      d.active_id = std::prev(end)->first;
    }
  }
}

void SegmentSet::Clear() {
  segments_.clear();
  days_.clear();
  total_bytes_ = 0;
  total_records_ = 0;
}

std::vector<SegmentInfo> SegmentSet::Describe() const {
  std::vector<SegmentInfo> infos;
  infos.reserve(segments_.size());
  for (const auto& [id, seg] : segments_) {
    SegmentInfo info;
    info.id = id;
    info.path = seg.path;
    info.day = seg.day;
    info.min_event_time_micros = seg.min_event_time_micros;
    info.max_event_time_micros = seg.max_event_time_micros;
    info.records = seg.records;
    info.bytes = seg.bytes;
    auto d = days_.find(seg.day);
    info.active = d != days_.end() && d->second.active_id == id;
    infos.push_back(std::move(info));
  }
  return infos;
}

}  // namespace continuum::store
