// The replay buffer of a data set: a uniform reservoir sample (Vitter's
// Algorithm R) of the positions of its records in the records log, either
// one reservoir or one per class. Records themselves stay in the log; the
// buffer is a list of positions, small enough to snapshot often.
#ifndef CONTINUUM_SERVICES_COLLECTOR_REPLAY_BUFFER_H_
#define CONTINUUM_SERVICES_COLLECTOR_REPLAY_BUFFER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <vector>

#include "continuum/internal/v1/collector_state.pb.h"
#include "lib/store/segment_log.h"

namespace continuum::collector {

// Not thread-safe: the owning data set guards it.
class ReplayBuffer {
 public:
  // `capacity` records in all; with `num_classes` > 0 each class has its own
  // reservoir of capacity / num_classes (at least 1). `seed` drives the
  // replacement choices.
  ReplayBuffer(int64_t capacity, int num_classes, uint64_t seed);

  // Offers one record. With per-class reservoirs, a record without a class
  // (class_index < 0) is not taken; offer it again once its label is known.
  void Offer(const store::LogPosition& position, int class_index);

  // Every position held, reservoir by reservoir.
  std::vector<store::LogPosition> Positions() const;

  // Records held.
  int64_t size() const;

  // Drops the positions for which `gone` is true (their segment was deleted
  // by retention).
  void RemoveIf(const std::function<bool(const store::LogPosition&)>& gone);

  // Writes the reservoirs into `snapshot` / restores them from it.
  void SaveTo(internal::v1::DatasetStateSnapshot* snapshot) const;
  void RestoreFrom(const internal::v1::DatasetStateSnapshot& snapshot);

 private:
  struct Reservoir {
    int64_t capacity = 0;
    int64_t seen = 0;
    std::vector<store::LogPosition> positions;
  };

  Reservoir& ReservoirFor(int class_index);

  int64_t capacity_;
  int num_classes_;
  std::mt19937_64 rng_;
  // Key -1 holds the single reservoir when num_classes_ == 0.
  std::map<int, Reservoir> reservoirs_;
};

// The seed of a ReplayBuffer or a replay sample: `seed`, or a random one
// when it is 0.
uint64_t SeedOrRandom(uint64_t seed);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_REPLAY_BUFFER_H_
