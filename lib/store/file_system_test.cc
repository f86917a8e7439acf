#include "lib/store/file_system.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/store/fault_injection_file_system.h"

namespace continuum::store {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::string UniqueTempDir() {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return JoinPath(::testing::TempDir(),
                  absl::StrCat("store_fs_", info->name(), "_", ::getpid(), "_",
                               counter.fetch_add(1)));
}

class FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = UniqueTempDir();
    ASSERT_TRUE(fs_->CreateDirs(dir_).ok());
  }
  void TearDown() override { EXPECT_TRUE(fs_->DeleteRecursively(dir_).ok()); }

  std::string Path(absl::string_view name) { return JoinPath(dir_, name); }

  FileSystem* fs_ = DefaultFileSystem();
  std::string dir_;
};

TEST_F(FileSystemTest, AppendableFileCreatesAndAppends) {
  const std::string path = Path("a.log");
  {
    auto file = fs_->NewAppendableFile(path);
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->size(), 0u);
    ASSERT_TRUE((*file)->Append("hello ").ok());
    ASSERT_TRUE((*file)->Append("world").ok());
    EXPECT_EQ((*file)->size(), 11u);
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE((*file)->Close().ok());
    EXPECT_FALSE((*file)->Append("x").ok());
  }
  {
    auto file = fs_->NewAppendableFile(path);
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->size(), 11u);
    ASSERT_TRUE((*file)->Append("!").ok());
  }  // The destructor closes.
  auto content = fs_->ReadFileToString(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "hello world!");
  auto size = fs_->GetFileSize(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 12u);
}

// Bytes that differ at every offset (so a misplaced block shows).
std::string Pattern(size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

TEST_F(FileSystemTest, UnbufferedFileWritesAnySizeInAnyPieces) {
  // Around the 4 KiB block and the 4 MiB buffer, in pieces of several
  // sizes (some crossing buffers).
  const size_t kMiB = size_t{1} << 20;
  int n = 0;
  for (size_t size : {size_t{1}, size_t{4095}, size_t{4096}, size_t{4097},
                      4 * kMiB - 1, 4 * kMiB, 4 * kMiB + 1, 9 * kMiB + 123}) {
    for (size_t piece : {size_t{1000}, kMiB, 5 * kMiB}) {
      const std::string path = Path(absl::StrCat("u", n++));
      const std::string data = Pattern(size, static_cast<uint32_t>(n));
      auto file = fs_->NewUnbufferedFile(path);
      ASSERT_TRUE(file.ok()) << file.status();
      for (size_t at = 0; at < size; at += piece) {
        ASSERT_TRUE(
            (*file)->Append(absl::string_view(data).substr(at, piece)).ok());
      }
      EXPECT_EQ((*file)->size(), size);
      ASSERT_TRUE((*file)->Sync().ok());
      ASSERT_TRUE((*file)->Close().ok());
      auto content = fs_->ReadFileToString(path);
      ASSERT_TRUE(content.ok());
      ASSERT_EQ(content->size(), size) << "piece " << piece;
      EXPECT_TRUE(*content == data) << "size " << size << " piece " << piece;
    }
  }
}

TEST_F(FileSystemTest, UnbufferedFileAppendsAfterSyncAndClosesWithoutSync) {
  const std::string path = Path("tail");
  const std::string data = Pattern(5 * 4096 + 300, 1);
  auto file = fs_->NewUnbufferedFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(absl::string_view(data).substr(0, 5000)).ok());
  ASSERT_TRUE((*file)->Sync().ok());
  auto size = fs_->GetFileSize(path);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 5000u);  // Padded blocks cut back to the size.
  // The partial block written by Sync is rewritten by the next bytes.
  ASSERT_TRUE((*file)->Append(absl::string_view(data).substr(5000)).ok());
  file->reset();  // Closed by the destructor, without Sync.
  auto content = fs_->ReadFileToString(path);
  ASSERT_TRUE(content.ok());
  EXPECT_TRUE(*content == data);
  EXPECT_EQ(content->size(), data.size());
}

TEST_F(FileSystemTest, UnbufferedFileMustBeNew) {
  ASSERT_TRUE(fs_->WriteFileAtomically(Path("taken"), "keep").ok());
  EXPECT_EQ(fs_->NewUnbufferedFile(Path("taken")).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto content = fs_->ReadFileToString(Path("taken"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "keep");
  EXPECT_EQ(fs_->NewUnbufferedFile(Path("no/such/dir/f")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(FileSystemTest, SequentialFileReadsAndSkips) {
  ASSERT_TRUE(fs_->WriteFileAtomically(Path("s"), "0123456789").ok());
  auto file = fs_->NewSequentialFile(Path("s"));
  ASSERT_TRUE(file.ok());
  std::string scratch;
  auto r = (*file)->Read(3, &scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "012");
  ASSERT_TRUE((*file)->Skip(4).ok());
  r = (*file)->Read(100, &scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "789");
  r = (*file)->Read(100, &scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  ASSERT_TRUE((*file)->Skip(100).ok());
  r = (*file)->Read(1, &scratch);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(FileSystemTest, MissingFilesAreNotFoundWithPath) {
  const std::string missing = Path("missing");
  auto read = fs_->ReadFileToString(missing);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(missing));
  EXPECT_EQ(fs_->NewSequentialFile(missing).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->GetFileSize(missing).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->DeleteFile(missing).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->NewAppendableFile(Path("no/such/dir/f")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(fs_->GetChildren(Path("nodir")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(fs_->FileExists(missing));
  EXPECT_TRUE(fs_->DeleteRecursively(missing).ok());
}

TEST_F(FileSystemTest, WriteFileAtomicallyReplacesAndLeavesNoTemporary) {
  const std::string path = Path("state");
  ASSERT_TRUE(fs_->WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(fs_->WriteFileAtomically(path, "two, longer").ok());
  EXPECT_EQ(*fs_->ReadFileToString(path), "two, longer");
  ASSERT_TRUE(fs_->WriteFileAtomically(path, "").ok());
  EXPECT_EQ(*fs_->ReadFileToString(path), "");
  EXPECT_THAT(*fs_->GetChildren(dir_), UnorderedElementsAre("state"));
}

TEST_F(FileSystemTest, DirectoriesRenameTruncate) {
  ASSERT_TRUE(fs_->CreateDirs(Path("x/y/z")).ok());
  ASSERT_TRUE(fs_->CreateDirs(Path("x/y/z")).ok());  // Exists: fine.
  ASSERT_TRUE(fs_->WriteFileAtomically(Path("x/y/z/f"), "abcdef").ok());
  ASSERT_TRUE(fs_->WriteFileAtomically(Path("x/g"), "g").ok());
  EXPECT_THAT(*fs_->GetChildren(Path("x")), UnorderedElementsAre("y", "g"));
  ASSERT_TRUE(fs_->SyncDir(Path("x/y/z")).ok());

  ASSERT_TRUE(fs_->Truncate(Path("x/y/z/f"), 2).ok());
  EXPECT_EQ(*fs_->ReadFileToString(Path("x/y/z/f")), "ab");
  ASSERT_TRUE(fs_->RenameFile(Path("x/y/z/f"), Path("x/h")).ok());
  EXPECT_FALSE(fs_->FileExists(Path("x/y/z/f")));
  EXPECT_EQ(*fs_->ReadFileToString(Path("x/h")), "ab");
  ASSERT_TRUE(fs_->DeleteFile(Path("x/h")).ok());
  EXPECT_FALSE(fs_->FileExists(Path("x/h")));

  ASSERT_TRUE(fs_->DeleteRecursively(Path("x")).ok());
  EXPECT_FALSE(fs_->FileExists(Path("x")));
}

TEST_F(FileSystemTest, LockIsExclusiveUntilReleased) {
  const std::string path = Path("LOCK");
  auto first = fs_->LockFile(path);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = fs_->LockFile(path);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  first->reset();
  auto third = fs_->LockFile(path);
  EXPECT_TRUE(third.ok()) << third.status();
}

TEST(PathTest, DirNameAndJoinPath) {
  EXPECT_EQ(DirName("a/b/c"), "a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
}

TEST(PosixErrorTest, MapsErrnoToCodes) {
  EXPECT_EQ(PosixError("open", "/p", ENOENT).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(PosixError("open", "/p", EACCES).code(),
            absl::StatusCode::kPermissionDenied);
  absl::Status nospace = PosixError("write", "/p", ENOSPC);
  EXPECT_EQ(nospace.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(nospace.message()),
              HasSubstr("write /p: No space left"));
  EXPECT_EQ(PosixError("fsync", "/p", EIO).code(),
            absl::StatusCode::kUnavailable);
}

// FaultInjectionFileSystem

class FaultInjectionTest : public FileSystemTest {
 protected:
  FaultInjectionFileSystem faulty_{DefaultFileSystem()};
};

TEST_F(FaultInjectionTest, FailSyncsUntilCleared) {
  auto file = faulty_.NewAppendableFile(Path("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("x").ok());
  EXPECT_TRUE((*file)->Sync().ok());
  faulty_.FailSyncs(absl::UnavailableError("injected EIO"));
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(faulty_.SyncDir(dir_).ok());
  EXPECT_FALSE(faulty_.WriteFileAtomically(Path("g"), "g").ok());
  EXPECT_FALSE(faulty_.FileExists(Path("g")));
  faulty_.Clear();
  EXPECT_TRUE((*file)->Sync().ok());
  EXPECT_EQ(faulty_.sync_count(), 4);
  EXPECT_EQ(faulty_.dir_sync_count(), 1);
  faulty_.ResetCounters();
  EXPECT_EQ(faulty_.sync_count(), 0);
}

// The default NewUnbufferedFile (a buffered file that must be new) goes
// through the wrapper's NewAppendableFile, so its faults apply.
TEST_F(FaultInjectionTest, DefaultUnbufferedFileIsABufferedNewFile) {
  auto file = faulty_.NewUnbufferedFile(Path("f"));
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append("abc").ok());
  faulty_.FailSyncs(absl::UnavailableError("injected EIO"));
  EXPECT_EQ((*file)->Sync().code(), absl::StatusCode::kUnavailable);
  faulty_.Clear();
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(faulty_.NewUnbufferedFile(Path("f")).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto content = faulty_.ReadFileToString(Path("f"));
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "abc");
}

TEST_F(FaultInjectionTest, ShortWriteWritesOnlyWhatFits) {
  auto file = faulty_.NewAppendableFile(Path("f"));
  ASSERT_TRUE(file.ok());
  faulty_.FailWritesAfter(5, absl::UnavailableError("injected short write"));
  ASSERT_TRUE((*file)->Append("abc").ok());
  absl::Status s = (*file)->Append("defgh");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ((*file)->size(), 5u);
  EXPECT_FALSE((*file)->Append("more").ok());
  EXPECT_EQ(*faulty_.ReadFileToString(Path("f")), "abcde");
  faulty_.Clear();
  ASSERT_TRUE((*file)->Append("!").ok());
  EXPECT_EQ(*faulty_.ReadFileToString(Path("f")), "abcde!");
  EXPECT_EQ(faulty_.append_count(), 4);
}

TEST_F(FaultInjectionTest, DiskFullWritesNothing) {
  auto file = faulty_.NewAppendableFile(Path("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("abc").ok());
  faulty_.SetDiskFull(true);
  absl::Status s = (*file)->Append("def");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("No space left on device"));
  EXPECT_EQ((*file)->size(), 3u);
  EXPECT_FALSE(faulty_.WriteFileAtomically(Path("g"), "g").ok());
  faulty_.SetDiskFull(false);
  ASSERT_TRUE((*file)->Append("def").ok());
  EXPECT_EQ(*faulty_.ReadFileToString(Path("f")), "abcdef");
}

TEST_F(FaultInjectionTest, FailTruncates) {
  ASSERT_TRUE(faulty_.WriteFileAtomically(Path("f"), "abcdef").ok());
  faulty_.FailTruncates(absl::UnavailableError("injected"));
  EXPECT_FALSE(faulty_.Truncate(Path("f"), 1).ok());
  faulty_.Clear();
  EXPECT_TRUE(faulty_.Truncate(Path("f"), 1).ok());
  EXPECT_EQ(*faulty_.ReadFileToString(Path("f")), "a");
  EXPECT_EQ(faulty_.sequential_open_count(),
            0);  // ReadFileToString is not counted.
  ASSERT_TRUE(faulty_.NewSequentialFile(Path("f")).ok());
  EXPECT_EQ(faulty_.sequential_open_count(), 1);
}

}  // namespace
}  // namespace continuum::store
