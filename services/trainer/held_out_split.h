// Which rows of a training window are held out for evaluation: chosen by a
// hash of each record's id and the run's seed, so that the same records are
// held out whatever order the collector sends them in, and a replayed copy
// of a held-out record can be recognised and dropped.
//
// Both strategies score a row as HeldOutScore(RowKey(id), seed):
// - a batch run (SplitHeldOut) holds out the lowest-scoring
//   round(fraction * n) rows of its window, at least one and at most n - 1;
// - an online run (IsHeldOut), which never sees its whole window, holds out
//   each row whose score is below fraction * 2^64: about the same share.
//
// Pure functions; thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_HELD_OUT_SPLIT_H_
#define CONTINUUM_SERVICES_TRAINER_HELD_OUT_SPLIT_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace continuum::trainer {

// The key of a record: a 64-bit FNV-1a hash of its id. Its offset basis
// is 1469598103934665603, one digit short of FNV's 14695981039346656037;
// kept as it is, since it decides which records are held out.
uint64_t RowKey(absl::string_view record_id);

// The score of a row with key `key` under `seed` (a SplitMix64 mix of both).
uint64_t HeldOutScore(uint64_t key, uint64_t seed);

// Row indices of a window, each list ascending.
struct HeldOutSplit {
  std::vector<int64_t> train;
  std::vector<int64_t> held_out;
};

// Splits the rows with `keys` (at least 2): the lowest-scoring
// round(fraction * n) rows, clamped to [1, n - 1], are held out (ties by
// index).
HeldOutSplit SplitHeldOut(const std::vector<uint64_t>& keys, uint64_t seed,
                          double fraction);

// Whether the row with key `key` is held out by an online run.
bool IsHeldOut(uint64_t key, uint64_t seed, double fraction);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_HELD_OUT_SPLIT_H_
