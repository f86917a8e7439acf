#include "lib/store/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace continuum::store {

WritableFile::~WritableFile() = default;
SequentialFile::~SequentialFile() = default;

absl::StatusOr<size_t> SequentialFile::ReadInto(char* dst, size_t n) {
  std::string scratch;
  absl::StatusOr<absl::string_view> data = Read(n, &scratch);
  if (!data.ok()) return data.status();
  std::memcpy(dst, data->data(), data->size());
  return data->size();
}
FileLock::~FileLock() = default;
FileSystem::~FileSystem() = default;

absl::StatusOr<std::unique_ptr<WritableFile>> FileSystem::NewUnbufferedFile(
    const std::string& path) {
  if (FileExists(path)) {
    return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
  }
  return NewAppendableFile(path);
}

namespace {

std::string ErrnoText(int error_number) {
  char buffer[256];
  // GNU strerror_r returns a pointer to the message (maybe not `buffer`).
  return strerror_r(error_number, buffer, sizeof(buffer));
}

}  // namespace

absl::Status PosixError(absl::string_view operation, absl::string_view path,
                        int error_number) {
  std::string message =
      absl::StrCat(operation, " ", path, ": ", ErrnoText(error_number));
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    default:
      return absl::UnavailableError(message);
  }
}

std::string DirName(absl::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

std::string JoinPath(absl::string_view dir, absl::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

namespace {

// Writes all of `data` to `fd`, retrying on EINTR and partial writes. Adds
// the bytes actually written to *written.
absl::Status WriteAll(int fd, const std::string& path, absl::string_view data,
                      uint64_t* written) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return PosixError("write", path, errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
    *written += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

// fdatasync(2), retried on EINTR.
absl::Status DataSync(int fd, const std::string& path) {
  while (::fdatasync(fd) != 0) {
    if (errno != EINTR) return PosixError("fdatasync", path, errno);
  }
  return absl::OkStatus();
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("append to closed file " + path_);
    return WriteAll(fd_, path_, data, &size_);
  }

  absl::Status Sync() override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("sync of closed file " + path_);
    return DataSync(fd_, path_);
  }

  absl::Status Close() override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("close of closed file " + path_);
    const int fd = fd_;
    fd_ = -1;
    // close(2) must not be retried on EINTR on Linux: the descriptor is gone.
    if (::close(fd) != 0 && errno != EINTR) {
      return PosixError("close", path_, errno);
    }
    return absl::OkStatus();
  }

  uint64_t size() const override { return size_; }

 private:
  const std::string path_;
  int fd_;
  uint64_t size_;
};

// Written with O_DIRECT through two aligned buffers: appends fill one; a
// full one is handed to a writer thread, which writes it at its (aligned)
// file offset while appends fill the other, so the device's write overlaps
// the caller's work (the write itself costs the CPU nothing). Sync and Close
// wait for the writer, write the partial tail rounded up to whole blocks
// (zero padded), truncate the file to its size and keep the tail buffered,
// so that later appends rewrite that block.
class DirectWritableFile : public WritableFile {
 public:
  static constexpr size_t kBlock = 4096;
  static constexpr size_t kBufferBytes = size_t{4} << 20;

  // `buffers` holds 2 * kBufferBytes, kBlock-aligned; owned (std::free).
  DirectWritableFile(std::string path, int fd, char* buffers)
      : path_(std::move(path)), fd_(fd), buffers_(buffers) {}
  ~DirectWritableFile() override {
    if (fd_ >= 0) (void)Close();
    StopWriter();
    std::free(buffers_);
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("append to closed file " + path_);
    while (!data.empty()) {
      const size_t n = std::min(data.size(), kBufferBytes - used_);
      std::memcpy(Current() + used_, data.data(), n);
      used_ += n;
      size_ += n;
      data.remove_prefix(n);
      if (used_ == kBufferBytes) {
        if (absl::Status s = HandOff(); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("sync of closed file " + path_);
    if (absl::Status s = WriteTail(); !s.ok()) return s;
    return DataSync(fd_, path_);
  }

  absl::Status Close() override {
    if (fd_ < 0)
      return absl::FailedPreconditionError("close of closed file " + path_);
    absl::Status status = WriteTail();
    StopWriter();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 && errno != EINTR && status.ok()) {
      status = PosixError("close", path_, errno);
    }
    return status;
  }

  uint64_t size() const override { return size_; }

 private:
  char* Current() { return buffers_ + current_ * kBufferBytes; }

  absl::Status WriteAt(const char* data, uint64_t offset, size_t length) {
    size_t done = 0;
    while (done < length) {
      const ssize_t n = ::pwrite(fd_, data + done, length - done,
                                 static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EINVAL && !buffered_) {
          // The device wants larger alignment than 4 KiB blocks: go on
          // through the page cache (the padding and truncation still hold).
          // Calls are never concurrent: the writer thread and the tail
          // write take turns.
          const int flags = ::fcntl(fd_, F_GETFL);
          if (flags >= 0 && ::fcntl(fd_, F_SETFL, flags & ~O_DIRECT) == 0) {
            buffered_ = true;
            continue;
          }
        }
        return PosixError("write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  // Waits until the writer is idle; returns its first error (sticky).
  absl::Status WaitForWriter() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](bool* busy) { return !*busy; }, &busy_));
    return error_;
  }

  // Hands the full current buffer to the writer and switches buffers.
  absl::Status HandOff() {
    if (absl::Status s = WaitForWriter(); !s.ok()) return s;
    if (!writer_.joinable()) writer_ = std::thread([this] { WriterLoop(); });
    {
      absl::MutexLock lock(&mu_);
      job_data_ = Current();
      job_offset_ = buffer_start_;
      busy_ = true;
    }
    current_ ^= 1;
    buffer_start_ += kBufferBytes;
    used_ = 0;
    return absl::OkStatus();
  }

  void WriterLoop() {
    absl::MutexLock lock(&mu_);
    while (true) {
      mu_.Await(absl::Condition(this, &DirectWritableFile::HasWorkOrStop));
      if (!busy_) return;  // Stopped with nothing to write.
      const char* data = job_data_;
      const uint64_t offset = job_offset_;
      mu_.Unlock();
      absl::Status s = WriteAt(data, offset, kBufferBytes);
      mu_.Lock();
      if (error_.ok()) error_ = s;
      busy_ = false;
    }
  }

  bool HasWorkOrStop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return busy_ || stop_;
  }

  void StopWriter() {
    if (!writer_.joinable()) return;
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    writer_.join();
  }

  // Writes the buffered tail (whole blocks, zero padded) and cuts the file
  // back to size_.
  absl::Status WriteTail() {
    if (absl::Status s = WaitForWriter(); !s.ok()) return s;
    if (used_ == 0 || written_tail_ == size_) return absl::OkStatus();
    const size_t padded = (used_ + kBlock - 1) / kBlock * kBlock;
    std::memset(Current() + used_, 0, padded - used_);
    if (absl::Status s = WriteAt(Current(), buffer_start_, padded); !s.ok()) {
      return s;
    }
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
      return PosixError("ftruncate", path_, errno);
    }
    written_tail_ = size_;
    return absl::OkStatus();
  }

  const std::string path_;
  int fd_;
  char* const buffers_;
  int current_ = 0;            // The buffer appends fill.
  uint64_t buffer_start_ = 0;  // File offset of the current buffer, aligned.
  size_t used_ = 0;            // Bytes in the current buffer.
  uint64_t size_ = 0;
  uint64_t written_tail_ = 0;  // size_ when the tail was last written.
  bool buffered_ = false;      // O_DIRECT was refused at a write.

  absl::Mutex mu_;
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // The writer holds a job.
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  const char* job_data_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t job_offset_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  std::thread writer_;
};

class PosixSequentialFile : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }

  absl::StatusOr<absl::string_view> Read(size_t n,
                                         std::string* scratch) override {
    // Grow only: shrinking and regrowing would zero-fill the buffer each call.
    if (scratch->size() < n) scratch->resize(n);
    absl::StatusOr<size_t> got = ReadInto(scratch->data(), n);
    if (!got.ok()) return got.status();
    return absl::string_view(scratch->data(), *got);
  }

  absl::StatusOr<size_t> ReadInto(char* dst, size_t n) override {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::read(fd_, dst + got, n - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return PosixError("read", path_, errno);
      }
      if (r == 0) break;
      got += static_cast<size_t>(r);
    }
    return got;
  }

  absl::Status Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) {
      return PosixError("lseek", path_, errno);
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // Releases the flock.

 private:
  const int fd_;
};

absl::Status FsyncPath(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return PosixError("open", path, errno);
  absl::Status status;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      status = PosixError("fsync", path, errno);
      break;
    }
  }
  ::close(fd);
  return status;
}

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewUnbufferedFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(),
                    O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EINVAL) {
      // The file system refuses O_DIRECT (it was not created).
      return FileSystem::NewUnbufferedFile(path);
    }
    if (fd < 0) return PosixError("open", path, errno);
    void* buffer = nullptr;
    if (::posix_memalign(&buffer, DirectWritableFile::kBlock,
                         2 * DirectWritableFile::kBufferBytes) != 0) {
      ::close(fd);
      ::unlink(path.c_str());
      return absl::ResourceExhaustedError(
          "cannot allocate the write buffer of " + path);
    }
    return std::make_unique<DirectWritableFile>(path, fd,
                                                static_cast<char*>(buffer));
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("open", path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      absl::Status status = PosixError("fstat", path, errno);
      ::close(fd);
      return status;
    }
    return std::make_unique<PosixWritableFile>(
        path, fd, static_cast<uint64_t>(st.st_size));
  }

  absl::StatusOr<std::unique_ptr<SequentialFile>> NewSequentialFile(
      const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("open", path, errno);
    return std::make_unique<PosixSequentialFile>(path, fd);
  }

  absl::StatusOr<std::string> ReadFileToString(
      const std::string& path) override {
    absl::StatusOr<std::unique_ptr<SequentialFile>> file =
        NewSequentialFile(path);
    if (!file.ok()) return file.status();
    std::string content;
    std::string scratch;
    for (;;) {
      absl::StatusOr<absl::string_view> chunk =
          (*file)->Read(1 << 16, &scratch);
      if (!chunk.ok()) return chunk.status();
      if (chunk->empty()) break;
      content.append(chunk->data(), chunk->size());
    }
    return content;
  }

  absl::Status WriteFileAtomically(const std::string& path,
                                   absl::string_view data) override {
    static std::atomic<uint64_t> counter{0};
    const std::string tmp =
        absl::StrCat(path, ".", ::getpid(), "-", counter.fetch_add(1), ".tmp");
    const int fd =
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("open", tmp, errno);
    uint64_t written = 0;
    absl::Status status = WriteAll(fd, tmp, data, &written);
    while (status.ok() && ::fsync(fd) != 0) {
      if (errno != EINTR) status = PosixError("fsync", tmp, errno);
    }
    if (::close(fd) != 0 && status.ok() && errno != EINTR) {
      status = PosixError("close", tmp, errno);
    }
    if (status.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
      status = PosixError("rename", tmp, errno);
    }
    if (!status.ok()) {
      ::unlink(tmp.c_str());
      return status;
    }
    return SyncDir(DirName(path));
  }

  absl::StatusOr<std::vector<std::string>> GetChildren(
      const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError("opendir", dir, errno);
    std::vector<std::string> names;
    for (;;) {
      errno = 0;
      struct dirent* entry = ::readdir(d);
      if (entry == nullptr) {
        const int error = errno;
        ::closedir(d);
        if (error != 0) return PosixError("readdir", dir, error);
        break;
      }
      if (std::strcmp(entry->d_name, ".") == 0 ||
          std::strcmp(entry->d_name, "..") == 0) {
        continue;
      }
      names.emplace_back(entry->d_name);
    }
    return names;
  }

  absl::Status CreateDirs(const std::string& dir) override {
    if (dir.empty())
      return absl::InvalidArgumentError("CreateDirs: empty path");
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode)) return absl::OkStatus();
      return absl::FailedPreconditionError(
          absl::StrCat("CreateDirs ", dir, ": exists and is not a directory"));
    }
    const std::string parent = DirName(dir);
    if (parent != dir && parent != "." && parent != "/") {
      if (absl::Status s = CreateDirs(parent); !s.ok()) return s;
    }
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return PosixError("mkdir", dir, errno);
    }
    return absl::OkStatus();
  }

  absl::Status DeleteFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("unlink", path, errno);
    return absl::OkStatus();
  }

  absl::Status DeleteRecursively(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return absl::OkStatus();
      return PosixError("lstat", path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      absl::StatusOr<std::vector<std::string>> children = GetChildren(path);
      if (!children.ok()) return children.status();
      for (const std::string& child : *children) {
        if (absl::Status s = DeleteRecursively(JoinPath(path, child));
            !s.ok()) {
          return s;
        }
      }
      if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
        return PosixError("rmdir", path, errno);
      }
      return absl::OkStatus();
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return PosixError("unlink", path, errno);
    }
    return absl::OkStatus();
  }

  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError("rename", absl::StrCat(from, " -> ", to), errno);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status Truncate(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return PosixError("truncate", path, errno);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    return FsyncPath(dir, O_RDONLY | O_DIRECTORY);
  }

  bool FileExists(const std::string& path) override {
    return ::access(path.c_str(), F_OK) == 0;
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("open", path, errno);
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      const int error = errno;
      ::close(fd);
      if (error == EWOULDBLOCK) {
        return absl::FailedPreconditionError(
            absl::StrCat("lock ", path,
                         ": held by another user of the same "
                         "directory (another process, or an object of this "
                         "one that is still open)"));
      }
      return PosixError("flock", path, error);
    }
    return std::make_unique<PosixFileLock>(fd);
  }
};

}  // namespace

FileSystem* DefaultFileSystem() {
  static FileSystem* fs = new PosixFileSystem();
  return fs;
}

}  // namespace continuum::store
