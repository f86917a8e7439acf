// Encryption at rest: the key ring (encryption.h), sealed segment logs
// (segment_log.h, segment_reencrypt.h) and encrypted blob stores
// (blob_store.h), on real files: no plaintext on disk, round trips, a
// tampered byte, a missing or wrong key, key rotation and re-encryption.
#include "lib/store/encryption.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/store/blob_store.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_log_test_util.h"
#include "lib/store/segment_reencrypt.h"

namespace continuum::store {
namespace {

using ::testing::HasSubstr;
using segment_log_testing::At;

constexpr char kKey1[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kKey2[] =
    "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

std::shared_ptr<const KeyRing> Ring(absl::string_view text,
                                    absl::string_view active) {
  absl::StatusOr<std::shared_ptr<const KeyRing>> ring =
      KeyRing::Parse(text, active, "test keys");
  EXPECT_TRUE(ring.ok()) << ring.status();
  return ring.ok() ? *ring : nullptr;
}

std::string TempDir() {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return JoinPath(::testing::TempDir(),
                  absl::StrCat("store_enc_", info->name(), "_", ::getpid(),
                               "_", counter.fetch_add(1)));
}

// Every byte of every regular file under `dir`, concatenated.
std::string AllFileBytes(const std::string& dir) {
  FileSystem* fs = DefaultFileSystem();
  std::string out;
  absl::StatusOr<std::vector<std::string>> names = fs->GetChildren(dir);
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir, name);
    absl::StatusOr<std::string> bytes = fs->ReadFileToString(path);
    if (bytes.ok()) {
      out += *bytes;
    } else {
      out += AllFileBytes(path);  // A directory.
    }
  }
  return out;
}

// ------------------------------------------------------------------ KeyRing

TEST(KeyRingTest, SealOpenRoundTripWithAssociatedData) {
  auto ring = Ring(absl::StrCat("k1 ", kKey1, "\n"), "k1");
  ASSERT_NE(ring, nullptr);
  std::string sealed;
  ring->Seal("feature values 0.25 0.5", "ctx", &sealed);
  EXPECT_EQ(sealed.size(), 23 + kSealOverheadBytes);
  EXPECT_FALSE(absl::StrContains(sealed, "feature values"));
  EXPECT_EQ(*KeyRing::KeyIdOf(sealed), "k1");
  std::string plain;
  ASSERT_TRUE(ring->Open(sealed, "ctx", &plain).ok());
  EXPECT_EQ(plain, "feature values 0.25 0.5");
  // Other associated data: not authentic.
  EXPECT_EQ(ring->Open(sealed, "other", &plain).code(),
            absl::StatusCode::kDataLoss);
  // An empty plaintext seals and opens too.
  std::string empty_sealed;
  ring->Seal("", "", &empty_sealed);
  ASSERT_TRUE(ring->Open(empty_sealed, "", &plain).ok());
  EXPECT_EQ(plain, "");
}

TEST(KeyRingTest, EveryChangedByteIsDataLoss) {
  auto ring = Ring(absl::StrCat("k1 ", kKey1), "k1");
  std::string sealed;
  ring->Seal("0123456789", "ctx", &sealed);
  std::string plain;
  // The key-id and key-check bytes (1..20) name another key when changed,
  // and are checked before decryption; every other byte fails
  // authentication.
  for (size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] ^= 0x01;
    absl::Status s = ring->Open(bad, "ctx", &plain);
    EXPECT_FALSE(s.ok()) << "byte " << i;
    if (i == 0 || i > kKeyIdMaxBytes + kKeyCheckBytes) {
      EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "byte " << i;
    }
  }
  EXPECT_EQ(ring->Open(sealed.substr(0, sealed.size() - 1), "ctx", &plain)
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ring->Open("short", "ctx", &plain).code(),
            absl::StatusCode::kDataLoss);
}

TEST(KeyRingTest, MissingAndWrongKeysAreNamed) {
  auto ring1 = Ring(absl::StrCat("k1 ", kKey1), "k1");
  std::string sealed;
  ring1->Seal("secret", "", &sealed);
  std::string plain;

  auto other_id = Ring(absl::StrCat("k2 ", kKey2), "k2");
  absl::Status missing = other_id->Open(sealed, "", &plain);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("key k1"));
  EXPECT_THAT(missing.message(), HasSubstr("not in the configured keys"));

  auto wrong_bytes = Ring(absl::StrCat("k1 ", kKey2), "k1");
  absl::Status wrong = wrong_bytes->Open(sealed, "", &plain);
  EXPECT_EQ(wrong.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong.message(), HasSubstr("key k1"));
  EXPECT_THAT(wrong.message(), HasSubstr("wrong key bytes"));
  EXPECT_THAT(wrong.message(), ::testing::Not(HasSubstr(kKey1)));
  EXPECT_THAT(wrong.message(), ::testing::Not(HasSubstr(kKey2)));
}

TEST(KeyRingTest, NoncesDoNotRepeat) {
  auto ring = Ring(absl::StrCat("k1 ", kKey1), "k1");
  std::set<std::string> nonces;
  for (int i = 0; i < 1000; ++i) {
    std::string sealed;
    ring->Seal("same plaintext", "", &sealed);
    nonces.insert(sealed.substr(1 + kKeyIdMaxBytes + kKeyCheckBytes,
                                kNonceBytes));
  }
  EXPECT_EQ(nonces.size(), 1000u);
}

TEST(KeyRingTest, ParseErrorsNameTheEntryNeverTheKey) {
  struct Case {
    std::string text;
    std::string active;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"", "k1", "lists no key"},
      {"# only a comment\n", "k1", "lists no key"},
      {absl::StrCat("k1 ", kKey1, " extra"), "k1", "two fields"},
      {"k1 abcd", "k1", "must be 64 hex digits"},
      {absl::StrCat("k1 ", std::string(64, 'z')), "k1", "hex digits"},
      {absl::StrCat("bad/id ", kKey1), "bad/id", "key id must be"},
      {absl::StrCat(std::string(17, 'a'), " ", kKey1), "a", "key id must be"},
      {absl::StrCat("k1 ", kKey1, "\nk1 ", kKey2), "k1", "listed twice"},
      {absl::StrCat("k1 ", kKey1), "", "active_key_id is required"},
      {absl::StrCat("k1 ", kKey1), "k9", "active_key_id k9 is not in"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::shared_ptr<const KeyRing>> ring =
        KeyRing::Parse(c.text, c.active, "key file /k");
    ASSERT_FALSE(ring.ok()) << c.text;
    EXPECT_EQ(ring.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(ring.status().message(), HasSubstr(c.expected)) << c.text;
    EXPECT_THAT(ring.status().message(), ::testing::Not(HasSubstr(kKey1)));
    EXPECT_THAT(ring.status().message(), ::testing::Not(HasSubstr(kKey2)));
  }
  // Comments, blank lines and `;` separators (for environment variables).
  auto ring = Ring(absl::StrCat("# keys\n\nold ", kKey1, " # retired\n;new ",
                                kKey2, ";"),
                   "new");
  ASSERT_NE(ring, nullptr);
  EXPECT_EQ(ring->key_ids(), (std::vector<std::string>{"old", "new"}));
  EXPECT_EQ(ring->active_key_id(), "new");
}

TEST(KeyRingTest, LoadFromFileOrEnvironment) {
  EXPECT_EQ(*KeyRing::Load("", "", ""), nullptr);
  const std::string dir = TempDir();
  ASSERT_TRUE(DefaultFileSystem()->CreateDirs(dir).ok());
  const std::string path = JoinPath(dir, "keys");
  ASSERT_TRUE(DefaultFileSystem()
                  ->WriteFileAtomically(path, absl::StrCat("k1 ", kKey1, "\n"))
                  .ok());
  auto from_file = KeyRing::Load(path, "", "k1");
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ((*from_file)->active_key_id(), "k1");

  ::setenv("CONTINUUM_TEST_KEYS", absl::StrCat("k2 ", kKey2).c_str(), 1);
  auto from_env = KeyRing::Load("", "CONTINUUM_TEST_KEYS", "k2");
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ((*from_env)->active_key_id(), "k2");

  EXPECT_THAT(KeyRing::Load(path, "CONTINUUM_TEST_KEYS", "k1")
                  .status()
                  .message(),
              HasSubstr("not both"));
  EXPECT_THAT(KeyRing::Load("", "CONTINUUM_TEST_UNSET_KEYS", "k1")
                  .status()
                  .message(),
              HasSubstr("CONTINUUM_TEST_UNSET_KEYS is not set"));
  EXPECT_THAT(KeyRing::Load(JoinPath(dir, "absent"), "", "k1")
                  .status()
                  .message(),
              HasSubstr("absent: cannot be read"));
}

// -------------------------------------------------------------- SegmentLog

std::unique_ptr<SegmentLog> OpenLog(const std::string& dir,
                                    std::shared_ptr<const KeyRing> keys,
                                    absl::Status* error = nullptr) {
  SegmentLogOptions options;
  options.dir = dir;
  options.max_segment_bytes = 4096;
  options.keys = std::move(keys);
  absl::StatusOr<std::unique_ptr<SegmentLog>> log =
      SegmentLog::Open(options, nullptr);
  if (error != nullptr) *error = log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

struct Read {
  LogPosition pos;
  std::string payload;
};

absl::Status ScanAll(SegmentLog& log, std::vector<Read>* out,
                     ScanStats* stats = nullptr) {
  out->clear();
  return log.Scan(0, 0, nullptr,
                  [&](const LogPosition& pos, int64_t, absl::string_view p) {
                    out->push_back({pos, std::string(p)});
                    return true;
                  },
                  stats);
}

std::vector<LogEntry> Records(int first, int n) {
  std::vector<LogEntry> entries;
  for (int i = first; i < first + n; ++i) {
    entries.push_back(
        {At(i % 3, i), absl::StrCat("feature=", 1000003 * i, ";label=x")});
  }
  return entries;
}

TEST(SealedSegmentLogTest, NoPlaintextOnDiskAndRecordsReadBack) {
  const std::string dir = TempDir();
  auto keys = Ring(absl::StrCat("k1 ", kKey1), "k1");
  std::vector<LogPosition> positions;
  {
    auto log = OpenLog(dir, keys);
    ASSERT_NE(log, nullptr);
    for (int b = 0; b < 10; ++b) {
      auto p = log->Append(Records(b * 20, 20), /*sync=*/true);
      ASSERT_TRUE(p.ok()) << p.status();
      positions.insert(positions.end(), p->begin(), p->end());
    }
    std::string payload;
    ASSERT_TRUE(log->ReadAt(positions[57], &payload, nullptr).ok());
    EXPECT_EQ(payload, absl::StrCat("feature=", 1000003 * 57, ";label=x"));
  }
  const std::string disk = AllFileBytes(dir);
  EXPECT_GT(disk.size(), 200 * kSealOverheadBytes);
  for (int i = 1; i < 200; ++i) {
    ASSERT_FALSE(absl::StrContains(disk, absl::StrCat(1000003 * i))) << i;
  }
  EXPECT_FALSE(absl::StrContains(disk, "feature="));

  // Reopened (index sidecars, recovery) with the same keys: every record.
  auto log = OpenLog(dir, keys);
  ASSERT_NE(log, nullptr);
  std::vector<Read> rows;
  ASSERT_TRUE(ScanAll(*log, &rows).ok());
  ASSERT_EQ(rows.size(), 200u);
  std::set<std::string> payloads;
  for (const Read& r : rows) payloads.insert(r.payload);
  EXPECT_TRUE(payloads.count(absl::StrCat("feature=", 1000003 * 199,
                                          ";label=x")));
}

TEST(SealedSegmentLogTest, MissingOrWrongKeyFailsNamingIt) {
  const std::string dir = TempDir();
  std::vector<LogPosition> positions;
  {
    auto log = OpenLog(dir, Ring(absl::StrCat("k1 ", kKey1), "k1"));
    positions = *log->Append(Records(0, 5), true);
  }
  for (const auto& keys :
       {std::shared_ptr<const KeyRing>(),
        Ring(absl::StrCat("k2 ", kKey2), "k2"),
        Ring(absl::StrCat("k1 ", kKey2), "k1")}) {
    auto log = OpenLog(dir, keys);
    ASSERT_NE(log, nullptr);  // Recovery reads frames, not payloads.
    std::vector<Read> rows;
    absl::Status scan = ScanAll(*log, &rows);
    EXPECT_EQ(scan.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(scan.message(), HasSubstr("key k1"));
    std::string payload;
    absl::Status read = log->ReadAt(positions[2], &payload, nullptr);
    EXPECT_EQ(read.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(read.message(), HasSubstr("key k1"));
  }
}

TEST(SealedSegmentLogTest, TamperedCiphertextWithFixedCrcIsCorruption) {
  const std::string dir = TempDir();
  auto keys = Ring(absl::StrCat("k1 ", kKey1), "k1");
  std::vector<LogPosition> positions;
  std::string path;
  {
    auto log = OpenLog(dir, keys);
    positions = *log->Append({{At(0, 1), "first record"},
                              {At(0, 2), "second record"},
                              {At(0, 3), "third record"}},
                             true);
    ASSERT_EQ(log->Segments().size(), 1u);
    path = log->Segments()[0].path;
  }
  // Flip one ciphertext byte of the second record and write a valid CRC over
  // the changed bytes: only the authentication tag can tell.
  FileSystem* fs = DefaultFileSystem();
  std::string data = *fs->ReadFileToString(path);
  const uint64_t start = positions[1].offset - positions[1].frame_bytes;
  log_format::Frame frame;
  ASSERT_TRUE(log_format::ParseExactFrame(
                  absl::string_view(data).substr(start,
                                                 positions[1].frame_bytes),
                  &frame)
                  .ok());
  std::string payload(frame.payload);
  payload[kSealOverheadBytes] ^= 0x20;
  std::string reframed;
  log_format::AppendFrame(frame.event_time_micros, payload, &reframed, true);
  data.replace(start, reframed.size(), reframed);
  ASSERT_TRUE(fs->WriteFileAtomically(path, data).ok());
  (void)fs->DeleteFile(path.substr(0, path.size() - 3) + "idx");

  auto log = OpenLog(dir, keys);
  ASSERT_NE(log, nullptr);
  std::string read;
  absl::Status s = log->ReadAt(positions[1], &read, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("fails authentication"));
  ASSERT_TRUE(log->ReadAt(positions[2], &read, nullptr).ok());
  std::vector<Read> rows;
  ScanStats stats;
  ASSERT_TRUE(ScanAll(*log, &rows, &stats).ok());
  EXPECT_EQ(rows.size(), 2u);
  EXPECT_EQ(stats.skipped_corrupt_records, 1);
}

TEST(SealedSegmentLogTest, RotationThenReencryptionRetiresTheOldKey) {
  const std::string dir = TempDir();
  const std::string both = absl::StrCat("k1 ", kKey1, "\nk2 ", kKey2);
  std::vector<Read> before;
  {
    // Plaintext records from before encryption was turned on, then k1.
    auto plain = OpenLog(dir, nullptr);
    ASSERT_TRUE(plain->Append(Records(0, 10), true).ok());
  }
  {
    auto log = OpenLog(dir, Ring(absl::StrCat("k1 ", kKey1), "k1"));
    ASSERT_TRUE(log->Append(Records(10, 30), true).ok());
  }
  {
    // Rotated: k2 active, k1 still listed; old records read, new use k2.
    auto log = OpenLog(dir, Ring(both, "k2"));
    ASSERT_TRUE(log->Append(Records(40, 10), true).ok());
    ASSERT_TRUE(ScanAll(*log, &before).ok());
    ASSERT_EQ(before.size(), 50u);
    // While the log is open, re-encryption refuses.
    absl::StatusOr<SegmentReencryptResult> busy =
        ReencryptSegmentLog(DefaultFileSystem(), dir, *Ring(both, "k2"));
    EXPECT_EQ(busy.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(busy.status().message(), HasSubstr("stop it first"));
  }
  absl::StatusOr<SegmentReencryptResult> result =
      ReencryptSegmentLog(DefaultFileSystem(), dir, *Ring(both, "k2"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->rekeyed_records, 30);
  EXPECT_EQ(result->plaintext_records, 10);
  EXPECT_GT(result->rewritten_segments, 0);
  // A second pass has nothing left to do.
  absl::StatusOr<SegmentReencryptResult> again =
      ReencryptSegmentLog(DefaultFileSystem(), dir, *Ring(both, "k2"));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->rekeyed_records, 0);
  EXPECT_EQ(again->rewritten_segments, 0);

  // k1 retired: every record reads with k2 alone, at the same positions.
  auto log = OpenLog(dir, Ring(absl::StrCat("k2 ", kKey2), "k2"));
  ASSERT_NE(log, nullptr);
  std::vector<Read> after;
  ASSERT_TRUE(ScanAll(*log, &after).ok());
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].pos, before[i].pos);
    EXPECT_EQ(after[i].payload, before[i].payload);
    std::string payload;
    ASSERT_TRUE(log->ReadAt(after[i].pos, &payload, nullptr).ok());
    EXPECT_EQ(payload, before[i].payload);
  }
}

// ---------------------------------------------------------------- BlobStore

std::unique_ptr<BlobStore> OpenBlobs(const std::string& dir,
                                     std::shared_ptr<const KeyRing> keys) {
  BlobStoreOptions options;
  options.dir = dir;
  options.keys = std::move(keys);
  absl::StatusOr<std::unique_ptr<BlobStore>> store = BlobStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

absl::StatusOr<std::string> Put(BlobStore& store, absl::string_view data,
                                size_t chunk) {
  absl::StatusOr<std::unique_ptr<BlobWriter>> w = store.NewWriter();
  if (!w.ok()) return w.status();
  for (size_t i = 0; i < data.size(); i += chunk) {
    if (absl::Status s = (*w)->Append(data.substr(i, chunk)); !s.ok()) {
      return s;
    }
  }
  return (*w)->Finish(Sha256Hex(data), static_cast<int64_t>(data.size()));
}

absl::StatusOr<std::string> Get(const BlobStore& store,
                                const std::string& digest) {
  absl::StatusOr<std::unique_ptr<BlobReader>> r = store.Open(digest);
  if (!r.ok()) return r.status();
  std::string out;
  std::string chunk;
  for (;;) {
    if (absl::Status s = (*r)->Next(10000, &chunk); !s.ok()) return s;
    if (chunk.empty()) return out;
    out += chunk;
  }
}

std::string Artifact(size_t n) {
  std::string out;
  for (size_t i = 0; out.size() < n; ++i) out += absl::StrCat("w", i, ";");
  out.resize(n);
  return out;
}

TEST(EncryptedBlobStoreTest, RoundTripsAtBlockEdgesWithoutPlaintextOnDisk) {
  const std::string dir = TempDir();
  auto keys = Ring(absl::StrCat("k1 ", kKey1), "k1");
  auto store = OpenBlobs(dir, keys);
  const size_t block = 64 << 10;
  for (size_t n : {size_t{1}, block - 1, block, block + 1, 3 * block,
                   3 * block + 17}) {
    const std::string data = Artifact(n);
    for (size_t chunk : {size_t{1000}, block, size_t{1} << 20}) {
      absl::StatusOr<std::string> digest = Put(*store, data, chunk);
      ASSERT_TRUE(digest.ok()) << digest.status();
      EXPECT_EQ(*digest, Sha256Hex(data));  // The plaintext's digest.
      EXPECT_EQ(*store->Size(*digest), n);
      EXPECT_EQ(*store->KeyIdOf(*digest), "k1");
      EXPECT_EQ(*Get(*store, *digest), data) << n << " " << chunk;
      EXPECT_TRUE(store->Verify(*digest).ok());
    }
  }
  const std::string disk = AllFileBytes(dir);
  EXPECT_FALSE(absl::StrContains(disk, "w100;w101;"));
  // Reopened without keys: refused, naming what is missing.
  store.reset();
  auto bare = OpenBlobs(dir, nullptr);
  absl::StatusOr<std::string> read = Get(*bare, Sha256Hex(Artifact(1)));
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(read.status().message(), HasSubstr("encrypted"));
  EXPECT_EQ(bare->CheckKeys().code(), absl::StatusCode::kFailedPrecondition);
  bare.reset();
  // The start-up check names the key that is missing or wrong.
  for (const auto& ring : {Ring(absl::StrCat("k2 ", kKey2), "k2"),
                           Ring(absl::StrCat("k1 ", kKey2), "k1")}) {
    auto wrong = OpenBlobs(dir, ring);
    absl::Status check = wrong->CheckKeys();
    EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(check.message(), HasSubstr("key k1"));
  }
  EXPECT_TRUE(OpenBlobs(dir, keys)->CheckKeys().ok());
}

TEST(EncryptedBlobStoreTest, TamperingAndTruncationAreDataLoss) {
  const std::string dir = TempDir();
  auto keys = Ring(absl::StrCat("k1 ", kKey1), "k1");
  auto store = OpenBlobs(dir, keys);
  const std::string data = Artifact((64 << 10) * 2 + 100);
  const std::string digest = *Put(*store, data, 4096);
  const std::string path = JoinPath(
      JoinPath(JoinPath(dir, "sha256"), digest.substr(0, 2)), digest.substr(2));
  FileSystem* fs = DefaultFileSystem();
  const std::string original = *fs->ReadFileToString(path);

  std::string flipped = original;
  flipped[16 + kSealOverheadBytes + 70000] ^= 0x01;  // Inside block 1.
  ASSERT_TRUE(fs->WriteFileAtomically(path, flipped).ok());
  absl::StatusOr<std::string> read = Get(*store, digest);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(read.status().message(), HasSubstr("block 1"));

  // Cut at a block boundary: the new last block was not sealed as last.
  const size_t two_blocks = 16 + 2 * ((64 << 10) + kSealOverheadBytes);
  ASSERT_TRUE(fs->WriteFileAtomically(path, original.substr(0, two_blocks)).ok());
  read = Get(*store, digest);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);

  // Blocks swapped.
  const size_t b = (64 << 10) + kSealOverheadBytes;
  std::string swapped = original;
  swapped.replace(16, b, original.substr(16 + b, b));
  swapped.replace(16 + b, b, original.substr(16, b));
  ASSERT_TRUE(fs->WriteFileAtomically(path, swapped).ok());
  EXPECT_EQ(Get(*store, digest).status().code(), absl::StatusCode::kDataLoss);

  ASSERT_TRUE(fs->WriteFileAtomically(path, original).ok());
  EXPECT_EQ(*Get(*store, digest), data);
}

TEST(EncryptedBlobStoreTest, ReencryptMovesPlaintextAndOldKeysToTheActiveKey) {
  const std::string dir = TempDir();
  const std::string both = absl::StrCat("k1 ", kKey1, "\nk2 ", kKey2);
  const std::string plain_data = Artifact(100000);
  const std::string k1_data = Artifact(200000).substr(1000);
  {
    auto store = OpenBlobs(dir, nullptr);
    ASSERT_TRUE(Put(*store, plain_data, 8192).ok());
  }
  {
    auto store = OpenBlobs(dir, Ring(absl::StrCat("k1 ", kKey1), "k1"));
    ASSERT_TRUE(Put(*store, k1_data, 8192).ok());
    // The plaintext blob stays readable beside it.
    EXPECT_EQ(*Get(*store, Sha256Hex(plain_data)), plain_data);
    EXPECT_EQ(*store->KeyIdOf(Sha256Hex(plain_data)), "");
  }
  {
    auto store = OpenBlobs(dir, Ring(both, "k2"));
    absl::StatusOr<BlobStore::ReencryptResult> result = store->Reencrypt();
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->blobs, 2);
    EXPECT_EQ(result->encrypted, 1);
    EXPECT_EQ(result->rekeyed, 1);
    EXPECT_EQ(store->Reencrypt()->rekeyed, 0);
  }
  auto store = OpenBlobs(dir, Ring(absl::StrCat("k2 ", kKey2), "k2"));
  EXPECT_EQ(*Get(*store, Sha256Hex(plain_data)), plain_data);
  EXPECT_EQ(*Get(*store, Sha256Hex(k1_data)), k1_data);
  EXPECT_EQ(*store->KeyIdOf(Sha256Hex(k1_data)), "k2");
  EXPECT_FALSE(absl::StrContains(AllFileBytes(dir), "w1000;w1001;"));
}

TEST(EncryptedBlobStoreTest, PlaintextStoreRefusesTheEncryptedMarker) {
  auto store = OpenBlobs(TempDir(), nullptr);
  const std::string marker("\x89" "CTMBLOB-AESGCM\n", 16);
  absl::StatusOr<std::string> digest =
      Put(*store, absl::StrCat(marker, "rest"), 4);
  EXPECT_EQ(digest.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(digest.status().message(), HasSubstr("marker"));
}

}  // namespace
}  // namespace continuum::store
