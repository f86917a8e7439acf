#include "lib/store/segment_retention.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "lib/store/segment_files.h"

namespace continuum::store {

std::set<int64_t> ChooseRetentionVictims(const SegmentSet& set,
                                         int64_t min_event_time_micros,
                                         uint64_t max_bytes) {
  // The active segment of the newest day is never deleted.
  const int64_t protected_id = set.NewestActiveId();
  std::set<int64_t> victims;  // Ordered: oldest first.
  uint64_t remaining = set.total_bytes();
  for (const auto& [id, seg] : set.segments()) {
    if (id == protected_id) continue;
    const int64_t newest =
        seg.records > 0 ? seg.max_event_time_micros : seg.day * kMicrosPerDay;
    if (newest < min_event_time_micros) {
      victims.insert(id);
      remaining -= seg.bytes;
    }
  }
  if (max_bytes > 0) {
    for (const auto& [id, seg] : set.segments()) {
      if (remaining <= max_bytes) break;
      if (id == protected_id || victims.contains(id)) continue;
      victims.insert(id);
      remaining -= seg.bytes;
    }
  }
  return victims;
}

RetentionPass::RetentionPass(FileSystem* fs, std::string dir)
    : fs_(fs), dir_(std::move(dir)) {}

void RetentionPass::Plan(SegmentSet* set, int64_t min_event_time_micros,
                         uint64_t max_bytes) {
  for (int64_t id :
       ChooseRetentionVictims(*set, min_event_time_micros, max_bytes)) {
    SegmentState& seg = set->segments().at(id);
    const DayState& d = set->days().at(seg.day);
    victims_.push_back(Victim{id, seg.day, seg.path, std::move(seg.file),
                              d.active_id == id, d.tomb_id});
  }
}

absl::Status RetentionPass::DeleteVictim(Victim& v) {
  v.file.reset();
  if (v.needs_tomb) {
    absl::Status status =
        fs_->WriteFileAtomically(SegmentFilePath(dir_, v.id, "tomb"), "");
    if (!status.ok()) return status;
    if (v.old_tomb >= 0) {
      absl::Status s =
          fs_->DeleteFile(SegmentFilePath(dir_, v.old_tomb, "tomb"));
      if (!s.ok() && !absl::IsNotFound(s)) {
        spdlog::warn("segment log {}: {}", dir_, std::string(s.message()));
      }
    }
    tombs_.emplace_back(v.day, v.id);
  }
  absl::Status status = fs_->DeleteFile(SegmentFilePath(dir_, v.id, "idx"));
  if (absl::IsNotFound(status)) status = absl::OkStatus();
  if (status.ok()) status = fs_->DeleteFile(v.path);
  if (absl::IsNotFound(status)) status = absl::OkStatus();
  return status;
}

void RetentionPass::SyncDayDirs() {
  std::vector<int64_t> days_touched;
  for (const Victim& v : victims_) days_touched.push_back(v.day);
  std::sort(days_touched.begin(), days_touched.end());
  days_touched.erase(std::unique(days_touched.begin(), days_touched.end()),
                     days_touched.end());
  for (int64_t day : days_touched) {
    if (absl::Status s = fs_->SyncDir(DayDirPath(dir_, day)); !s.ok()) {
      spdlog::warn("segment log {}: {}", dir_, std::string(s.message()));
    }
  }
}

absl::Status RetentionPass::DeleteFiles() {
  absl::Status status;
  for (Victim& v : victims_) {
    status = DeleteVictim(v);
    if (!status.ok()) break;
    deleted_.push_back(v.id);
  }
  // Make the deletions durable (best effort: a deletion that is lost in a
  // crash is redone by the next retention pass).
  SyncDayDirs();
  return status;
}

RetentionResult RetentionPass::Publish(SegmentSet* set) {
  for (const auto& [day, tomb] : tombs_) set->day(day).tomb_id = tomb;
  RetentionResult result;
  for (int64_t id : deleted_) {
    const SegmentState& seg = set->segments().at(id);
    result.deleted_segments += 1;
    result.deleted_records += seg.records;
    result.deleted_bytes += seg.bytes;
    set->Remove(id);
  }
  return result;
}

}  // namespace continuum::store
