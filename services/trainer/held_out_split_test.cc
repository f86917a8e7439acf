#include "services/trainer/held_out_split.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace continuum::trainer {
namespace {

std::vector<uint64_t> Keys(int n) {
  std::vector<uint64_t> keys;
  for (int i = 0; i < n; ++i) keys.push_back(RowKey("r" + std::to_string(i)));
  return keys;
}

// The keys of the records stay what they were: they decide the split.
TEST(HeldOutSplitTest, RowKeyIsFnv1aFromItsOwnBasis) {
  EXPECT_EQ(RowKey(""), 1469598103934665603ull);
  EXPECT_EQ(RowKey("a"), 4953267810257967366ull);
}

TEST(HeldOutSplitTest, HoldsOutTheShareWhateverTheOrder) {
  const std::vector<uint64_t> keys = Keys(200);
  const HeldOutSplit split = SplitHeldOut(keys, 11, 0.1);
  ASSERT_EQ(split.held_out.size(), 20u);
  ASSERT_EQ(split.train.size(), 180u);
  EXPECT_TRUE(std::is_sorted(split.held_out.begin(), split.held_out.end()));
  EXPECT_TRUE(std::is_sorted(split.train.begin(), split.train.end()));
  std::set<int64_t> all(split.held_out.begin(), split.held_out.end());
  all.insert(split.train.begin(), split.train.end());
  EXPECT_EQ(all.size(), 200u);

  // The same records in another order: the same records held out.
  std::vector<uint64_t> reversed(keys.rbegin(), keys.rend());
  const HeldOutSplit again = SplitHeldOut(reversed, 11, 0.1);
  std::set<uint64_t> first, second;
  for (int64_t i : split.held_out) first.insert(keys[i]);
  for (int64_t i : again.held_out) second.insert(reversed[i]);
  EXPECT_EQ(first, second);
  // Another seed, other records.
  const HeldOutSplit other = SplitHeldOut(keys, 12, 0.1);
  EXPECT_NE(other.held_out, split.held_out);
}

TEST(HeldOutSplitTest, KeepsAtLeastOneRowEachSide) {
  const std::vector<uint64_t> keys = Keys(10);
  EXPECT_EQ(SplitHeldOut(keys, 1, 0.0).held_out.size(), 1u);
  EXPECT_EQ(SplitHeldOut(keys, 1, 1.0).held_out.size(), 9u);
  EXPECT_EQ(SplitHeldOut(Keys(2), 1, 0.5).train.size(), 1u);
}

TEST(HeldOutSplitTest, OnlineRowsAreHeldOutAtAboutTheShare) {
  const std::vector<uint64_t> keys = Keys(10000);
  int held = 0;
  for (uint64_t key : keys) held += IsHeldOut(key, 11, 0.1) ? 1 : 0;
  EXPECT_NEAR(held, 1000, 100);
  for (uint64_t key : keys) {
    EXPECT_FALSE(IsHeldOut(key, 11, 0.0));
    EXPECT_EQ(IsHeldOut(key, 11, 0.1), IsHeldOut(key, 11, 0.1));
  }
}

}  // namespace
}  // namespace continuum::trainer
