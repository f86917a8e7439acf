#include "lib/store/blob_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/store/fault_injection_file_system.h"

namespace continuum::store {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

constexpr char kEmptySha[] =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kAbcSha[] =
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

std::string UniqueTempDir() {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return JoinPath(::testing::TempDir(),
                  absl::StrCat("store_blob_", info->name(), "_", ::getpid(),
                               "_", counter.fetch_add(1)));
}

// Deterministic pseudo-random bytes.
std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(gen() & 0xff);
  return out;
}

// Reads the whole blob `sha` in chunks of `chunk_size`; the status of the
// last Next goes to *final.
std::string ReadAll(const BlobStore& store, const std::string& sha,
                    size_t chunk_size, absl::Status* final) {
  auto reader = store.Open(sha);
  if (!reader.ok()) {
    *final = reader.status();
    return "";
  }
  std::string out;
  std::string chunk;
  for (;;) {
    *final = (*reader)->Next(chunk_size, &chunk);
    if (!final->ok() || chunk.empty()) return out;
    EXPECT_LE(chunk.size(), chunk_size);
    out += chunk;
  }
}

class BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = UniqueTempDir();
    ASSERT_TRUE(Reopen().ok());
  }
  void TearDown() override {
    store_.reset();
    EXPECT_TRUE(DefaultFileSystem()->DeleteRecursively(dir_).ok());
  }

  absl::Status Reopen() {
    store_.reset();
    BlobStoreOptions options;
    options.fs = &fs_;
    options.dir = dir_;
    auto store = BlobStore::Open(options);
    if (!store.ok()) return store.status();
    store_ = *std::move(store);
    return absl::OkStatus();
  }

  // Uploads `data` in chunks of `chunk_size`.
  absl::StatusOr<std::string> Upload(absl::string_view data,
                                     absl::string_view claimed = "",
                                     size_t chunk_size = 1000) {
    auto writer = store_->NewWriter();
    if (!writer.ok()) return writer.status();
    for (size_t i = 0; i < data.size(); i += chunk_size) {
      if (absl::Status s = (*writer)->Append(data.substr(i, chunk_size));
          !s.ok()) {
        return s;
      }
    }
    return (*writer)->Finish(claimed);
  }

  std::string BlobFile(absl::string_view sha) {
    return JoinPath(JoinPath(JoinPath(dir_, "sha256"), sha.substr(0, 2)),
                    sha.substr(2));
  }

  std::vector<std::string> TempFiles() {
    auto names = DefaultFileSystem()->GetChildren(JoinPath(dir_, "tmp"));
    EXPECT_TRUE(names.ok()) << names.status();
    return names.ok() ? *names : std::vector<std::string>{};
  }

  std::vector<std::string> Listed() {
    auto list = store_->List();
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? *list : std::vector<std::string>{};
  }

  FaultInjectionFileSystem fs_{DefaultFileSystem()};
  std::string dir_;
  std::unique_ptr<BlobStore> store_;
};

// ------------------------------------------------------------ SHA-256

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), kEmptySha);
  EXPECT_EQ(Sha256Hex("abc"), kAbcSha);
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // FIPS 180-2: one million 'a', streamed.
  Sha256 hash;
  const std::string thousand(1000, 'a');
  for (int i = 0; i < 1000; ++i) hash.Update(thousand);
  EXPECT_EQ(hash.FinishHex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, StreamedEqualsOneShot) {
  const std::string data = RandomBytes(1 << 20, 1);
  Sha256 hash;
  size_t chunk = 1;
  for (size_t i = 0; i < data.size(); i += chunk, chunk = chunk * 3 + 1) {
    hash.Update(absl::string_view(data).substr(i, chunk));
  }
  hash.Update("");
  EXPECT_EQ(hash.FinishHex(), Sha256Hex(data));
}

TEST(Sha256Test, FinishHexStartsOver) {
  Sha256 hash;
  hash.Update("a");
  hash.FinishHex();
  hash.Update("abc");
  EXPECT_EQ(hash.FinishHex(), kAbcSha);
  EXPECT_EQ(hash.FinishHex(), kEmptySha);
}

TEST(Sha256Test, ValidateSha256Hex) {
  EXPECT_TRUE(ValidateSha256Hex(kAbcSha).ok());
  std::string upper = kAbcSha;
  upper[0] = 'B';
  const std::string bad[] = {
      "",
      "abc",
      std::string(kAbcSha).substr(1),
      absl::StrCat(kAbcSha, "0"),
      upper,
      std::string(63, 'a') + "g",
      std::string(63, 'a') + "/",
      std::string(63, 'a') + std::string(1, '\0'),
      std::string(1000, 'x'),
  };
  for (const std::string& digest : bad) {
    absl::Status status = ValidateSha256Hex(digest);
    EXPECT_TRUE(absl::IsInvalidArgument(status)) << digest;
    EXPECT_THAT(status.message(), HasSubstr("64 lowercase hex"));
    EXPECT_LT(status.message().size(), 200u);  // Long input is cut.
  }
}

// ------------------------------------------------------------ Round trip

TEST_F(BlobStoreTest, UploadInChunksReadBackInOtherChunks) {
  const std::string data = RandomBytes((1 << 20) + 123, 2);
  const std::string sha = Sha256Hex(data);
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t i = 0; i < data.size(); i += 4093) {
    ASSERT_TRUE(
        (*writer)->Append(absl::string_view(data).substr(i, 4093)).ok());
  }
  EXPECT_EQ((*writer)->size(), data.size());
  auto digest = (*writer)->Finish(sha, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, sha);
  EXPECT_THAT(TempFiles(), IsEmpty());

  // The layout: sha256/ab/cdef...
  auto on_disk = DefaultFileSystem()->ReadFileToString(BlobFile(sha));
  ASSERT_TRUE(on_disk.ok()) << on_disk.status();
  EXPECT_TRUE(*on_disk == data);

  EXPECT_TRUE(store_->Exists(sha));
  auto size = store_->Size(sha);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, data.size());
  for (size_t chunk : {size_t{1} << 16, size_t{7}, size_t{3} << 20}) {
    absl::Status final;
    const std::string back = ReadAll(*store_, sha, chunk, &final);
    EXPECT_TRUE(final.ok()) << final;
    EXPECT_TRUE(back == data) << "chunk " << chunk;
  }
  auto reader = store_->Open(sha);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->size(), data.size());
  EXPECT_TRUE(store_->Verify(sha).ok());
  EXPECT_THAT(Listed(), ElementsAre(sha));
}

TEST_F(BlobStoreTest, WithoutClaimsFinishReturnsTheDigest) {
  auto digest = Upload("abc");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, kAbcSha);
  absl::Status final;
  EXPECT_EQ(ReadAll(*store_, kAbcSha, 1, &final), "abc");
  EXPECT_TRUE(final.ok());
}

TEST_F(BlobStoreTest, ReaderRepeatsItsFinalAnswerAndRejectsZero) {
  ASSERT_TRUE(Upload("abc").ok());
  auto reader = store_->Open(kAbcSha);
  ASSERT_TRUE(reader.ok());
  std::string chunk = "junk";
  EXPECT_TRUE(absl::IsInvalidArgument((*reader)->Next(0, &chunk)));
  ASSERT_TRUE((*reader)->Next(10, &chunk).ok());
  EXPECT_EQ(chunk, "abc");
  ASSERT_TRUE((*reader)->Next(10, &chunk).ok());
  EXPECT_EQ(chunk, "");
  ASSERT_TRUE((*reader)->Next(10, &chunk).ok());
  EXPECT_EQ(chunk, "");
}

TEST_F(BlobStoreTest, ReaderKeepsReadingADeletedBlob) {
  const std::string data = RandomBytes(100000, 3);
  auto sha = Upload(data);
  ASSERT_TRUE(sha.ok());
  auto reader = store_->Open(*sha);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(store_->Delete(*sha).ok());
  std::string chunk, back;
  for (;;) {
    ASSERT_TRUE((*reader)->Next(4096, &chunk).ok());
    if (chunk.empty()) break;
    back += chunk;
  }
  EXPECT_TRUE(back == data);
}

// ------------------------------------------------------------ Bad uploads

TEST_F(BlobStoreTest, ClaimedDigestMismatchIsDataLossAndStoresNothing) {
  const std::string data = RandomBytes(5000, 4);
  const std::string actual = Sha256Hex(data);
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append(data).ok());
  ASSERT_THAT(TempFiles(), testing::SizeIs(1));
  auto digest = (*writer)->Finish(kAbcSha);
  EXPECT_TRUE(absl::IsDataLoss(digest.status())) << digest.status();
  EXPECT_EQ(digest.status().message(),
            absl::StrCat("checksum mismatch: claimed ", kAbcSha, ", received ",
                         actual, " over 5000 bytes"));
  EXPECT_FALSE(store_->Exists(actual));
  EXPECT_FALSE(store_->Exists(kAbcSha));
  EXPECT_THAT(Listed(), IsEmpty());
  EXPECT_THAT(TempFiles(), IsEmpty());
  // The writer is finished: later calls fail the same way.
  EXPECT_TRUE(absl::IsDataLoss((*writer)->Finish("").status()));
  EXPECT_TRUE(absl::IsDataLoss((*writer)->Append("x")));
}

TEST_F(BlobStoreTest, SizeMismatchIsDataLossAndStoresNothing) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abc").ok());
  auto digest = (*writer)->Finish(kAbcSha, 4);
  EXPECT_TRUE(absl::IsDataLoss(digest.status())) << digest.status();
  EXPECT_THAT(digest.status().message(),
              HasSubstr("size mismatch: claimed 4 bytes, received 3 bytes"));
  EXPECT_FALSE(store_->Exists(kAbcSha));
  EXPECT_THAT(TempFiles(), IsEmpty());
}

TEST_F(BlobStoreTest, EmptyUploadIsInvalid) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("").ok());
  auto digest = (*writer)->Finish(kEmptySha, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(digest.status())) << digest.status();
  EXPECT_THAT(digest.status().message(), HasSubstr("empty upload"));
  EXPECT_FALSE(store_->Exists(kEmptySha));
  EXPECT_THAT(TempFiles(), IsEmpty());
  EXPECT_THAT(Listed(), IsEmpty());
}

TEST_F(BlobStoreTest, MalformedClaimedDigestIsInvalid) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abc").ok());
  std::string upper = kAbcSha;
  upper[0] = 'B';
  auto digest = (*writer)->Finish(upper);
  EXPECT_TRUE(absl::IsInvalidArgument(digest.status())) << digest.status();
  EXPECT_FALSE(store_->Exists(kAbcSha));
  EXPECT_THAT(TempFiles(), IsEmpty());
}

TEST_F(BlobStoreTest, MalformedDigestsAreRejected) {
  for (const std::string& bad :
       {std::string(""), std::string("ab"), std::string(64, 'A'),
        std::string("../") + std::string(61, 'a'), std::string(64, 'g'),
        std::string(65, 'a')}) {
    EXPECT_FALSE(store_->Exists(bad)) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Open(bad).status())) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Size(bad).status())) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Delete(bad))) << bad;
    EXPECT_TRUE(absl::IsInvalidArgument(store_->Verify(bad))) << bad;
  }
}

TEST_F(BlobStoreTest, AbsentBlobIsNotFound) {
  EXPECT_FALSE(store_->Exists(kAbcSha));
  EXPECT_TRUE(absl::IsNotFound(store_->Open(kAbcSha).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Size(kAbcSha).status()));
  EXPECT_TRUE(absl::IsNotFound(store_->Delete(kAbcSha)));
  EXPECT_TRUE(absl::IsNotFound(store_->Verify(kAbcSha)));
  EXPECT_THAT(store_->Open(kAbcSha).status().message(),
              HasSubstr(absl::StrCat("blob ", kAbcSha, " not found")));
}

// ------------------------------------------------------------ Dedup

TEST_F(BlobStoreTest, SameContentTwiceIsOneBlob) {
  const std::string data = RandomBytes(10000, 5);
  auto first = Upload(data, "", 333);
  auto second = Upload(data, Sha256Hex(data), 4096);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*first, *second);
  EXPECT_THAT(Listed(), ElementsAre(*first));
  auto shard = DefaultFileSystem()->GetChildren(
      JoinPath(JoinPath(dir_, "sha256"), first->substr(0, 2)));
  ASSERT_TRUE(shard.ok());
  EXPECT_THAT(*shard, ElementsAre(first->substr(2)));
  EXPECT_THAT(TempFiles(), IsEmpty());
  EXPECT_TRUE(store_->Verify(*first).ok());
}

TEST_F(BlobStoreTest, AnUploadRepairsATruncatedCopy) {
  const std::string data = RandomBytes(10000, 6);
  auto sha = Upload(data);
  ASSERT_TRUE(sha.ok());
  ASSERT_TRUE(DefaultFileSystem()->Truncate(BlobFile(*sha), 5000).ok());
  EXPECT_TRUE(absl::IsDataLoss(store_->Verify(*sha)));
  ASSERT_TRUE(Upload(data).ok());
  EXPECT_TRUE(store_->Verify(*sha).ok());
}

TEST_F(BlobStoreTest, ConcurrentUploads) {
  constexpr int kThreads = 8;
  const std::string shared = RandomBytes(200000, 7);
  std::vector<std::string> own(kThreads);
  for (int i = 0; i < kThreads; ++i) own[i] = RandomBytes(50000, 100 + i);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      if (!Upload(shared, Sha256Hex(shared), 1 << 12).ok()) ++failures;
      if (!Upload(own[i], Sha256Hex(own[i]), 1 << 12).ok()) ++failures;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Listed().size(), static_cast<size_t>(kThreads + 1));
  EXPECT_TRUE(store_->Verify(Sha256Hex(shared)).ok());
  for (const std::string& data : own) {
    EXPECT_TRUE(store_->Verify(Sha256Hex(data)).ok());
  }
  EXPECT_THAT(TempFiles(), IsEmpty());
}

// ------------------------------------------------------------ Corruption

TEST_F(BlobStoreTest, FlippedByteIsDataLossOnReadAndVerify) {
  const std::string data = RandomBytes(300000, 8);
  auto sha = Upload(data);
  ASSERT_TRUE(sha.ok());
  ASSERT_TRUE(store_->Verify(*sha).ok());
  {
    std::fstream file(BlobFile(*sha),
                      std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(file.is_open());
    file.seekp(123456);
    file.put(static_cast<char>(data[123456] ^ 0x01));
  }
  absl::Status final;
  const std::string back = ReadAll(*store_, *sha, 1 << 16, &final);
  EXPECT_EQ(back.size(), data.size());  // Every byte came, then the verdict.
  EXPECT_TRUE(absl::IsDataLoss(final)) << final;
  std::string corrupt = data;
  corrupt[123456] ^= 0x01;
  EXPECT_EQ(final.message(),
            absl::StrCat("blob ", *sha, " is corrupt: its content hashes to ",
                         Sha256Hex(corrupt), " over 300000 bytes"));
  absl::Status verified = store_->Verify(*sha);
  EXPECT_TRUE(absl::IsDataLoss(verified)) << verified;
  EXPECT_THAT(verified.message(), HasSubstr("is corrupt"));
}

// ------------------------------------------------------------ Abort, crash

TEST_F(BlobStoreTest, AbortAndDestructorLeaveNoTempFile) {
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("partial").ok());
    EXPECT_THAT(TempFiles(), testing::SizeIs(1));
    (*writer)->Abort();
    EXPECT_THAT(TempFiles(), IsEmpty());
    (*writer)->Abort();  // Idempotent.
    EXPECT_TRUE(absl::IsFailedPrecondition((*writer)->Append("x")));
    EXPECT_TRUE(absl::IsFailedPrecondition((*writer)->Finish("").status()));
  }
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("partial").ok());
    EXPECT_THAT(TempFiles(), testing::SizeIs(1));
  }
  EXPECT_THAT(TempFiles(), IsEmpty());
  EXPECT_THAT(Listed(), IsEmpty());
  // A finished writer's destructor and Abort keep the blob.
  {
    auto writer = store_->NewWriter();
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("abc").ok());
    ASSERT_TRUE((*writer)->Finish(kAbcSha).ok());
    (*writer)->Abort();
    EXPECT_TRUE(absl::IsFailedPrecondition((*writer)->Finish("").status()));
  }
  EXPECT_TRUE(store_->Verify(kAbcSha).ok());
}

TEST_F(BlobStoreTest, OpenRemovesLeftoverPartFiles) {
  ASSERT_TRUE(Upload("abc").ok());
  store_.reset();
  FileSystem* fs = DefaultFileSystem();
  const std::string tmp = JoinPath(dir_, "tmp");
  ASSERT_TRUE(fs->WriteFileAtomically(JoinPath(tmp, "0123.part"), "half").ok());
  ASSERT_TRUE(fs->WriteFileAtomically(JoinPath(tmp, "4567.part"), "").ok());
  ASSERT_TRUE(fs->WriteFileAtomically(JoinPath(tmp, "notes.txt"), "x").ok());
  ASSERT_TRUE(Reopen().ok());
  EXPECT_THAT(TempFiles(), ElementsAre("notes.txt"));
  EXPECT_THAT(Listed(), ElementsAre(kAbcSha));  // Blobs are kept.
  EXPECT_TRUE(store_->Verify(kAbcSha).ok());
}

TEST_F(BlobStoreTest, OneStorePerDirectory) {
  BlobStoreOptions options;
  options.dir = dir_;
  auto second = BlobStore::Open(options);
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  store_.reset();
  second = BlobStore::Open(options);
  EXPECT_TRUE(second.ok()) << second.status();
}

TEST(BlobStoreOpenTest, BadOptions) {
  BlobStoreOptions options;
  EXPECT_TRUE(absl::IsInvalidArgument(BlobStore::Open(options).status()));
  options.dir = UniqueTempDir();
  options.fs = nullptr;
  EXPECT_TRUE(absl::IsInvalidArgument(BlobStore::Open(options).status()));
}

// ------------------------------------------------------------ I/O faults

TEST_F(BlobStoreTest, FsyncFailureDuringFinishStoresNothing) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("abc").ok());
  fs_.FailSyncs(absl::UnavailableError("fdatasync: injected EIO"));
  auto digest = (*writer)->Finish(kAbcSha, 3);
  EXPECT_TRUE(absl::IsUnavailable(digest.status())) << digest.status();
  EXPECT_THAT(digest.status().message(), HasSubstr("injected EIO"));
  EXPECT_FALSE(store_->Exists(kAbcSha));
  EXPECT_THAT(Listed(), IsEmpty());
  EXPECT_THAT(TempFiles(), IsEmpty());

  // The store keeps working once the disk does.
  fs_.Clear();
  auto retried = Upload("abc", kAbcSha);
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_TRUE(store_->Verify(kAbcSha).ok());
}

TEST_F(BlobStoreTest, FinishSyncsFileAndDirectory) {
  fs_.ResetCounters();
  ASSERT_TRUE(Upload("abc").ok());
  EXPECT_EQ(fs_.sync_count(), 1);
  EXPECT_GE(fs_.dir_sync_count(), 1);
}

TEST_F(BlobStoreTest, DiskFullDuringAppendIsUnavailable) {
  auto writer = store_->NewWriter();
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Append("first chunk").ok());
  fs_.SetDiskFull(true);
  absl::Status status = (*writer)->Append("second chunk");
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("No space left on device"));
  // The temp file is gone at once (it held space), and the upload is dead.
  EXPECT_THAT(TempFiles(), IsEmpty());
  fs_.Clear();
  EXPECT_TRUE(absl::IsUnavailable((*writer)->Append("third")));
  EXPECT_TRUE(absl::IsUnavailable((*writer)->Finish("").status()));
  EXPECT_THAT(Listed(), IsEmpty());
  EXPECT_THAT(TempFiles(), IsEmpty());
}

TEST_F(BlobStoreTest, ShortWriteIsUnavailable) {
  const std::string data = RandomBytes(10000, 9);
  fs_.FailWritesAfter(2500, absl::UnavailableError("injected short write"));
  auto digest = Upload(data, "", 1000);
  EXPECT_TRUE(absl::IsUnavailable(digest.status())) << digest.status();
  EXPECT_THAT(Listed(), IsEmpty());
  EXPECT_THAT(TempFiles(), IsEmpty());
  fs_.Clear();
  EXPECT_TRUE(Upload(data).ok());
}

// ------------------------------------------------------------ Delete, List

TEST_F(BlobStoreTest, DeleteAndList) {
  EXPECT_THAT(Listed(), IsEmpty());
  std::vector<std::string> digests;
  for (uint32_t i = 0; i < 5; ++i) {
    auto sha = Upload(RandomBytes(1000 + i, 200 + i));
    ASSERT_TRUE(sha.ok());
    digests.push_back(*sha);
  }
  // Stray files are not blobs.
  FileSystem* fs = DefaultFileSystem();
  const std::string blobs = JoinPath(dir_, "sha256");
  ASSERT_TRUE(fs->WriteFileAtomically(JoinPath(blobs, "README"), "x").ok());
  ASSERT_TRUE(fs->CreateDirs(JoinPath(blobs, "zz")).ok());
  ASSERT_TRUE(
      fs->WriteFileAtomically(
            JoinPath(JoinPath(blobs, digests[0].substr(0, 2)), "short"), "x")
          .ok());
  EXPECT_THAT(Listed(), UnorderedElementsAre(digests[0], digests[1], digests[2],
                                             digests[3], digests[4]));
  auto sorted = Listed();
  EXPECT_TRUE(std::is_sorted(sorted.begin(), sorted.end()));

  ASSERT_TRUE(store_->Delete(digests[2]).ok());
  EXPECT_FALSE(store_->Exists(digests[2]));
  EXPECT_TRUE(absl::IsNotFound(store_->Delete(digests[2])));
  EXPECT_TRUE(absl::IsNotFound(store_->Open(digests[2]).status()));
  EXPECT_THAT(Listed(), UnorderedElementsAre(digests[0], digests[1], digests[3],
                                             digests[4]));
  // A deleted blob can be uploaded again.
  ASSERT_TRUE(Upload(RandomBytes(1002, 202)).ok());
  EXPECT_TRUE(store_->Verify(digests[2]).ok());
  EXPECT_EQ(Listed().size(), 5u);
}

}  // namespace
}  // namespace continuum::store
