#include "services/collector/record_index.h"

#include <utility>

namespace continuum::collector {
namespace {

bool SameLabel(const v1::Label& a, const v1::Label& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

}  // namespace

bool HasLabel(const v1::Label& label) {
  return label.value_case() != v1::Label::VALUE_NOT_SET;
}

int ClassOf(const v1::Label& label) {
  return label.value_case() == v1::Label::kClassIndex ? label.class_index()
                                                      : -1;
}

const RecordMeta* RecordIndex::Find(absl::string_view id) const {
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second;
}

bool RecordIndex::IngestedWithin(absl::string_view id, int64_t now_micros,
                                 int64_t window_micros) const {
  const RecordMeta* meta = Find(id);
  return meta != nullptr && now_micros - meta->ingest_micros <= window_micros;
}

bool RecordIndex::Insert(const std::string& id, const RecordMeta& meta) {
  return records_.try_emplace(id, meta).second;
}

void RecordIndex::Put(const std::string& id, const RecordMeta& meta) {
  records_[id] = meta;
}

const v1::Label* RecordIndex::EffectiveLabel(
    absl::string_view id, const v1::Label& ingest_label) const {
  auto it = outcomes_.find(id);
  if (it != outcomes_.end()) return &it->second;
  return HasLabel(ingest_label) ? &ingest_label : nullptr;
}

RecordIndex::Join RecordIndex::JoinOutcome(const std::string& id,
                                           const v1::Label& label,
                                           int64_t arrival_micros) {
  Join join;
  const RecordMeta* meta = Find(id);
  if (meta == nullptr) {
    pending_[id] = PendingOutcome{label, arrival_micros};
    join.disposition = v1::OUTCOME_DISPOSITION_PENDING;
    return join;
  }
  const v1::Label* current = EffectiveLabel(id, meta->ingest_label);
  if (current != nullptr && SameLabel(*current, label)) {
    join.disposition = v1::OUTCOME_DISPOSITION_DUPLICATE;
    return join;
  }
  join.position = meta->position;
  join.event_micros = meta->event_micros;
  if (current != nullptr) {
    join.replaced = *current;
    join.disposition = v1::OUTCOME_DISPOSITION_REPLACED;
  } else {
    join.disposition = v1::OUTCOME_DISPOSITION_JOINED;
  }
  outcomes_[id] = label;
  return join;
}

std::optional<PendingOutcome> RecordIndex::TakePending(absl::string_view id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  PendingOutcome outcome = std::move(it->second);
  pending_.erase(it);
  return outcome;
}

int64_t RecordIndex::ExpirePending(int64_t now_micros, int64_t grace_micros) {
  int64_t expired = 0;
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.arrival_micros + grace_micros < now_micros) {
      pending_.erase(it++);
      ++expired;
    } else {
      ++it;
    }
  }
  return expired;
}

void RecordIndex::RemoveSegmentsNotIn(
    const absl::flat_hash_set<int64_t>& live) {
  for (auto it = records_.begin(); it != records_.end();) {
    if (!live.contains(it->second.position.segment_id)) {
      outcomes_.erase(it->first);
      records_.erase(it++);
    } else {
      ++it;
    }
  }
}

void RecordIndex::Clear() {
  records_.clear();
  outcomes_.clear();
  pending_.clear();
}

}  // namespace continuum::collector
