// The file system behind the storage code, as an injectable interface in the
// manner of LevelDB's Env: production code uses DefaultFileSystem() (POSIX);
// tests wrap it (FaultInjectionFileSystem, in fault_injection_file_system.h)
// to inject full disks, fsync errors and short writes.
//
// Errors, for every method:
//   NOT_FOUND          the file or directory does not exist;
//   PERMISSION_DENIED  the process may not access it;
//   UNAVAILABLE        any other I/O error (ENOSPC, EIO, a failed fsync...).
// Messages name the operation, the path and strerror, e.g.
// "fdatasync /data/records/20260101/2045900000.log: Input/output error".
//
// Implementations are thread-safe; a single file object (WritableFile,
// SequentialFile) is used by one thread at a time.
#ifndef CONTINUUM_LIB_STORE_FILE_SYSTEM_H_
#define CONTINUUM_LIB_STORE_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::store {

// A file open for appending. Not thread-safe.
class WritableFile {
 public:
  virtual ~WritableFile();

  // Appends `data` at the end of the file. On error some prefix of `data`
  // may have been written (a short write); size() tells how much.
  virtual absl::Status Append(absl::string_view data) = 0;

  // Makes everything appended so far durable (fdatasync).
  virtual absl::Status Sync() = 0;

  // Closes the file; later calls fail. The destructor closes an open file
  // and ignores errors.
  virtual absl::Status Close() = 0;

  // Bytes in the file: its size when opened plus the bytes appended since.
  virtual uint64_t size() const = 0;
};

// A file read from the start to the end. Not thread-safe.
class SequentialFile {
 public:
  virtual ~SequentialFile();

  // Reads up to `n` bytes into `*scratch` and returns them; the result points
  // into `*scratch` (valid until the next call with the same scratch) and is
  // shorter than `n` only at the end of the file, empty at the end.
  virtual absl::StatusOr<absl::string_view> Read(size_t n,
                                                 std::string* scratch) = 0;

  // Reads up to `n` bytes into dst[0, n) and returns how many were read;
  // fewer than `n` only at the end of the file. The default implementation
  // calls Read and copies; implementations override it to avoid the copy.
  virtual absl::StatusOr<size_t> ReadInto(char* dst, size_t n);

  // Skips `n` bytes. Skipping past the end is not an error; later reads
  // return nothing.
  virtual absl::Status Skip(uint64_t n) = 0;
};

// An exclusive lock on a file, held until the object is destroyed.
class FileLock {
 public:
  virtual ~FileLock();
};

// The file system. Paths are plain strings ("/data/x/y.log"); directories are
// separated by '/'.
class FileSystem {
 public:
  virtual ~FileSystem();

  // Opens `path` for appending, creating it (mode 0644) if missing. The
  // directory must exist (NOT_FOUND otherwise).
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) = 0;

  // Creates `path` (which must not exist: ALREADY_EXISTS otherwise) for
  // writing once from start to end, around the page cache where the
  // platform allows: on Linux with O_DIRECT, appends are gathered in an
  // aligned 4 MiB buffer and written by the device's DMA in whole blocks,
  // so writing costs the CPU one memory copy instead of the kernel's page
  // cache copy (what large uploads spend most of their time on). Sync and
  // Close write the partial tail block and truncate the file to its size.
  // Falls back to a buffered file where O_DIRECT is refused (e.g. tmpfs).
  // The default is NewAppendableFile on a file that must not exist.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewUnbufferedFile(
      const std::string& path);

  // Opens `path` for reading from its start.
  virtual absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) = 0;

  // Returns the whole content of `path`.
  virtual absl::StatusOr<std::string> ReadFileToString(
      const std::string& path) = 0;

  // Replaces `path` with `data` so that a crash leaves either the old or the
  // new content: writes a temporary file "<path>.<unique>.tmp", fsyncs it,
  // renames it over `path` and fsyncs the directory. On error the temporary
  // file is removed.
  virtual absl::Status WriteFileAtomically(const std::string& path,
                                           absl::string_view data) = 0;

  // Returns the names (not paths) of the entries of directory `dir`, without
  // "." and "..", in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) = 0;

  // Creates `dir` and any missing parents (mode 0755); OK if it exists.
  virtual absl::Status CreateDirs(const std::string& dir) = 0;

  // Removes the file `path`.
  virtual absl::Status DeleteFile(const std::string& path) = 0;

  // Removes `path` and, if it is a directory, everything under it. OK if
  // `path` does not exist.
  virtual absl::Status DeleteRecursively(const std::string& path) = 0;

  // Renames `from` to `to`, replacing `to` if it exists.
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;

  // Returns the size of the file `path` in bytes.
  virtual absl::StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;

  // Cuts (or extends with zeros) the file `path` to `size` bytes.
  virtual absl::Status Truncate(const std::string& path, uint64_t size) = 0;

  // Makes the entries of directory `dir` (files created, renamed or deleted
  // in it) durable (fsync of the directory).
  virtual absl::Status SyncDir(const std::string& dir) = 0;

  // True if `path` exists (file or directory).
  virtual bool FileExists(const std::string& path) = 0;

  // Takes an exclusive lock on `path` (created if missing), held until the
  // returned object is destroyed or the process exits. FAILED_PRECONDITION
  // if another holder (this process or another) has it. The POSIX file system
  // uses flock(2).
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) = 0;
};

// Returns the POSIX file system, a process-lifetime singleton (never freed).
FileSystem* DefaultFileSystem();

// Returns the status for a failed system call: `operation` ("open",
// "fdatasync"...), `path` and strerror(error_number) in the message, and the
// code that error_number maps to (NOT_FOUND for ENOENT/ENOTDIR,
// PERMISSION_DENIED for EACCES/EPERM, UNAVAILABLE otherwise).
absl::Status PosixError(absl::string_view operation, absl::string_view path,
                        int error_number);

// Returns the directory part of `path`: "a/b/c" -> "a/b", "c" -> ".",
// "/c" -> "/".
std::string DirName(absl::string_view path);

// Joins path components with '/': JoinPath("a", "b") == "a/b".
std::string JoinPath(absl::string_view dir, absl::string_view name);

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_FILE_SYSTEM_H_
