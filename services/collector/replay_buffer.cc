#include "services/collector/replay_buffer.h"

#include <algorithm>

namespace continuum::collector {

ReplayBuffer::ReplayBuffer(int64_t capacity, int num_classes, uint64_t seed)
    : capacity_(std::max<int64_t>(capacity, 0)),
      num_classes_(std::max(num_classes, 0)),
      rng_(seed) {}

ReplayBuffer::Reservoir& ReplayBuffer::ReservoirFor(int class_index) {
  auto [it, inserted] = reservoirs_.try_emplace(class_index);
  if (inserted) {
    it->second.capacity = num_classes_ > 0
                              ? std::max<int64_t>(capacity_ / num_classes_, 1)
                              : capacity_;
  }
  return it->second;
}

void ReplayBuffer::Offer(const store::LogPosition& position, int class_index) {
  if (capacity_ == 0) return;
  if (num_classes_ > 0 && (class_index < 0 || class_index >= num_classes_)) {
    return;
  }
  Reservoir& r = ReservoirFor(num_classes_ > 0 ? class_index : -1);
  ++r.seen;
  if (static_cast<int64_t>(r.positions.size()) < r.capacity) {
    r.positions.push_back(position);
    return;
  }
  // Keep the new record with probability capacity / seen.
  std::uniform_int_distribution<int64_t> pick(0, r.seen - 1);
  int64_t j = pick(rng_);
  if (j < r.capacity) r.positions[j] = position;
}

std::vector<store::LogPosition> ReplayBuffer::Positions() const {
  std::vector<store::LogPosition> all;
  for (const auto& [key, r] : reservoirs_) {
    all.insert(all.end(), r.positions.begin(), r.positions.end());
  }
  return all;
}

int64_t ReplayBuffer::size() const {
  int64_t n = 0;
  for (const auto& [key, r] : reservoirs_) n += r.positions.size();
  return n;
}

void ReplayBuffer::RemoveIf(
    const std::function<bool(const store::LogPosition&)>& gone) {
  for (auto& [key, r] : reservoirs_) {
    r.positions.erase(
        std::remove_if(r.positions.begin(), r.positions.end(), gone),
        r.positions.end());
  }
}

void ReplayBuffer::SaveTo(internal::v1::DatasetStateSnapshot* snapshot) const {
  snapshot->clear_reservoirs();
  for (const auto& [key, r] : reservoirs_) {
    internal::v1::ReservoirProto* proto = snapshot->add_reservoirs();
    proto->set_class_index(key);
    proto->set_seen(r.seen);
    for (const store::LogPosition& p : r.positions) {
      internal::v1::LogPositionProto* pp = proto->add_positions();
      pp->set_segment_id(p.segment_id);
      pp->set_offset(p.offset);
      pp->set_frame_bytes(p.frame_bytes);
    }
  }
}

void ReplayBuffer::RestoreFrom(
    const internal::v1::DatasetStateSnapshot& snapshot) {
  reservoirs_.clear();
  for (const internal::v1::ReservoirProto& proto : snapshot.reservoirs()) {
    Reservoir& r = ReservoirFor(proto.class_index());
    r.seen = proto.seen();
    for (const auto& pp : proto.positions()) {
      if (static_cast<int64_t>(r.positions.size()) >= r.capacity) break;
      store::LogPosition p;
      p.segment_id = pp.segment_id();
      p.offset = pp.offset();
      p.frame_bytes = pp.frame_bytes();
      r.positions.push_back(p);
    }
  }
}

uint64_t SeedOrRandom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace continuum::collector
