#include "services/registry/audit_chain.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace continuum::registry {
namespace {

// A chain of `n` linked entries.
std::vector<v1::AuditEntry> Chain(int n) {
  std::vector<v1::AuditEntry> entries;
  for (int i = 0; i < n; ++i) {
    v1::AuditEntry e;
    e.set_actor("tester");
    e.set_action(absl::StrCat("action.", i));
    e.set_object("models/fraud");
    e.set_reason(absl::StrCat("step ", i));
    LinkAuditEntry(entries.empty() ? nullptr : &entries.back(), e);
    entries.push_back(e);
  }
  return entries;
}

TEST(AuditChainTest, LinkSetsSequencePrevHashAndHash) {
  std::vector<v1::AuditEntry> entries = Chain(3);
  EXPECT_EQ(entries[0].sequence(), 1);
  EXPECT_EQ(entries[0].prev_hash(), std::string(64, '0'));
  EXPECT_EQ(entries[0].prev_hash(), kAuditGenesisHash);
  EXPECT_EQ(entries[1].sequence(), 2);
  EXPECT_EQ(entries[1].prev_hash(), entries[0].hash());
  EXPECT_EQ(entries[2].hash(), AuditHash(entries[2]));
  EXPECT_EQ(entries[2].hash().size(), 64u);
}

TEST(AuditChainTest, HashIgnoresTheHashFieldAndCoversEveryOther) {
  v1::AuditEntry e = Chain(1)[0];
  const std::string hash = AuditHash(e);
  e.set_hash("something else");
  EXPECT_EQ(AuditHash(e), hash);
  e.set_reason("edited");
  EXPECT_NE(AuditHash(e), hash);
}

TEST(AuditChainTest, FindBrokenLinkReportsTheFirstBadEntry) {
  std::vector<v1::AuditEntry> entries = Chain(5);
  EXPECT_EQ(FindBrokenLink(entries), 0);
  EXPECT_EQ(FindBrokenLink({}), 0);

  std::vector<v1::AuditEntry> edited = entries;
  edited[1].set_actor("mallory");
  EXPECT_EQ(FindBrokenLink(edited), 2);

  std::vector<v1::AuditEntry> removed = entries;
  removed.erase(removed.begin() + 2);
  EXPECT_EQ(FindBrokenLink(removed), 4);

  std::vector<v1::AuditEntry> swapped = entries;
  std::swap(swapped[3], swapped[4]);
  EXPECT_EQ(FindBrokenLink(swapped), 5);

  // A rehashed edit still breaks the next entry's link.
  std::vector<v1::AuditEntry> rehashed = entries;
  rehashed[1].set_reason("rewritten");
  rehashed[1].set_hash(AuditHash(rehashed[1]));
  EXPECT_EQ(FindBrokenLink(rehashed), 3);
}

TEST(AuditChainTest, AVerifiedSuffixStartsFromTheEntryBeforeIt) {
  std::vector<v1::AuditEntry> entries = Chain(6);
  std::vector<v1::AuditEntry> suffix(entries.begin() + 3, entries.end());
  EXPECT_EQ(FindBrokenLink(suffix, entries[2].hash()), 0);
  EXPECT_EQ(FindBrokenLink(suffix), 4);  // Not the genesis link.
}

}  // namespace
}  // namespace continuum::registry
