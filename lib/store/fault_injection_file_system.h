// FaultInjectionFileSystem: a FileSystem for tests that wraps another one and
// makes chosen operations fail the way real disks do (LevelDB's
// db/fault_injection_test.cc): fsync errors, short writes, a full disk,
// failing truncations. It also counts syncs and appends, so tests can check
// that group commit batched them.
//
// Example:
//   FaultInjectionFileSystem fs(DefaultFileSystem());
//   fs.FailSyncs(absl::UnavailableError("injected EIO"));
//   ... the code under test sees every WritableFile::Sync fail ...
//   fs.Clear();
//
// Test-only: part of the library continuum_store_testing. Thread-safe. Files
// opened through it must not outlive it.
#ifndef CONTINUUM_LIB_STORE_FAULT_INJECTION_FILE_SYSTEM_H_
#define CONTINUUM_LIB_STORE_FAULT_INJECTION_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "lib/store/file_system.h"

namespace continuum::store {

class FaultInjectionFileSystem : public FileSystem {
 public:
  // Wraps `base` (not owned; must outlive this object). No faults at first.
  explicit FaultInjectionFileSystem(FileSystem* base);

  // Makes every WritableFile::Sync, SyncDir and WriteFileAtomically fail
  // with `status` (nothing is synced) until cleared. An OK status clears.
  void FailSyncs(absl::Status status);

  // Lets `bytes` more bytes be appended (counted from now, over all files),
  // then fails: the append that crosses the budget writes only the part that
  // fits to the underlying file (a real short write) and returns `status`;
  // later appends write nothing and return `status`. WriteFileAtomically
  // fails without writing if its data does not fit.
  void FailWritesAfter(uint64_t bytes, absl::Status status);

  // While `full`, appends and WriteFileAtomically write nothing and fail with
  // UNAVAILABLE "No space left on device".
  void SetDiskFull(bool full);

  // Makes every Truncate fail with `status` until cleared (OK clears).
  void FailTruncates(absl::Status status);

  // Makes every WritableFile::Sync sleep `delay` first (0 turns it off), so
  // that concurrent callers pile up behind a slow disk. Not a fault: Clear
  // leaves it.
  void DelaySyncs(absl::Duration delay);

  // Removes every fault. Counters are kept.
  void Clear();

  // Number of WritableFile::Sync calls so far (failed ones included).
  int64_t sync_count() const;
  // Number of SyncDir calls so far (failed ones included).
  int64_t dir_sync_count() const;
  // Number of WritableFile::Append calls so far (failed ones included).
  int64_t append_count() const;
  // Number of NewSequentialFile calls so far (files opened for reading;
  // ReadFileToString is not counted).
  int64_t sequential_open_count() const;
  // Sets every counter to zero.
  void ResetCounters();

  // FileSystem: forwards to the wrapped file system, applying the faults.
  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override;
  absl::StatusOr<std::string> ReadFileToString(
      const std::string& path) override;
  absl::Status WriteFileAtomically(const std::string& path,
                                   absl::string_view data) override;
  absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) override;
  absl::Status CreateDirs(const std::string& dir) override;
  absl::Status DeleteFile(const std::string& path) override;
  absl::Status DeleteRecursively(const std::string& path) override;
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override;
  absl::Status Truncate(const std::string& path, uint64_t size) override;
  absl::Status SyncDir(const std::string& dir) override;
  bool FileExists(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) override;

 private:
  friend class FaultInjectionWritableFile;

  // Decides the fate of an append of `n` bytes to `path`: sets *allowed to
  // how many bytes may be written and returns the error to report after
  // writing them (OK if all may be written).
  absl::Status OnAppend(const std::string& path, size_t n, size_t* allowed);
  // Counts a file sync and returns the injected error, if any.
  absl::Status OnSync();

  FileSystem* const base_;

  // State below is protected by mu_.
  mutable absl::Mutex mu_;
  absl::Status sync_error_ ABSL_GUARDED_BY(mu_);
  bool write_budget_set_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t write_budget_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status write_error_ ABSL_GUARDED_BY(mu_);
  bool disk_full_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status truncate_error_ ABSL_GUARDED_BY(mu_);
  int64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dir_syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t sequential_opens_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration sync_delay_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_FAULT_INJECTION_FILE_SYSTEM_H_
