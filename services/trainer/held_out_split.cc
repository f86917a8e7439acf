#include "services/trainer/held_out_split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace continuum::trainer {
namespace {

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

uint64_t RowKey(absl::string_view record_id) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : record_id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t HeldOutScore(uint64_t key, uint64_t seed) {
  return SplitMix(key ^ SplitMix(seed));
}

HeldOutSplit SplitHeldOut(const std::vector<uint64_t>& keys, uint64_t seed,
                          double fraction) {
  const int64_t n = static_cast<int64_t>(keys.size());
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::vector<uint64_t> score(n);
  for (int64_t i = 0; i < n; ++i) score[i] = HeldOutScore(keys[i], seed);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return score[a] != score[b] ? score[a] < score[b] : a < b;
  });
  int64_t held_out = std::llround(fraction * static_cast<double>(n));
  held_out = std::clamp<int64_t>(held_out, 1, n - 1);
  HeldOutSplit split;
  split.held_out.assign(order.begin(), order.begin() + held_out);
  split.train.assign(order.begin() + held_out, order.end());
  std::sort(split.held_out.begin(), split.held_out.end());
  std::sort(split.train.begin(), split.train.end());
  return split;
}

bool IsHeldOut(uint64_t key, uint64_t seed, double fraction) {
  return static_cast<double>(HeldOutScore(key, seed)) <
         fraction * 18446744073709551616.0;
}

}  // namespace continuum::trainer
