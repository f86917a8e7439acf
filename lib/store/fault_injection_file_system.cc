#include "lib/store/fault_injection_file_system.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace continuum::store {

namespace {

absl::Status DiskFullError(absl::string_view path) {
  return absl::UnavailableError(
      absl::StrCat("write ", path, ": No space left on device (injected)"));
}

}  // namespace

// A WritableFile whose appends and syncs pass through the faults of its file
// system.
class FaultInjectionWritableFile : public WritableFile {
 public:
  FaultInjectionWritableFile(FaultInjectionFileSystem* fs, std::string path,
                             std::unique_ptr<WritableFile> base)
      : fs_(fs), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status Append(absl::string_view data) override {
    size_t allowed = 0;
    absl::Status fault = fs_->OnAppend(path_, data.size(), &allowed);
    if (allowed > 0) {
      if (absl::Status s = base_->Append(data.substr(0, allowed)); !s.ok()) {
        return s;
      }
    }
    return fault;
  }

  absl::Status Sync() override {
    if (absl::Status s = fs_->OnSync(); !s.ok()) return s;
    return base_->Sync();
  }

  absl::Status Close() override { return base_->Close(); }

  uint64_t size() const override { return base_->size(); }

 private:
  FaultInjectionFileSystem* const fs_;
  const std::string path_;
  const std::unique_ptr<WritableFile> base_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(FileSystem* base)
    : base_(base) {}

void FaultInjectionFileSystem::FailSyncs(absl::Status status) {
  absl::MutexLock lock(&mu_);
  sync_error_ = std::move(status);
}

void FaultInjectionFileSystem::FailWritesAfter(uint64_t bytes,
                                               absl::Status status) {
  absl::MutexLock lock(&mu_);
  write_budget_set_ = true;
  write_budget_left_ = bytes;
  write_error_ = std::move(status);
}

void FaultInjectionFileSystem::SetDiskFull(bool full) {
  absl::MutexLock lock(&mu_);
  disk_full_ = full;
}

void FaultInjectionFileSystem::FailTruncates(absl::Status status) {
  absl::MutexLock lock(&mu_);
  truncate_error_ = std::move(status);
}

void FaultInjectionFileSystem::DelaySyncs(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  sync_delay_ = delay;
}

void FaultInjectionFileSystem::Clear() {
  absl::MutexLock lock(&mu_);
  sync_error_ = absl::OkStatus();
  write_budget_set_ = false;
  write_budget_left_ = 0;
  write_error_ = absl::OkStatus();
  disk_full_ = false;
  truncate_error_ = absl::OkStatus();
}

int64_t FaultInjectionFileSystem::sync_count() const {
  absl::MutexLock lock(&mu_);
  return syncs_;
}

int64_t FaultInjectionFileSystem::dir_sync_count() const {
  absl::MutexLock lock(&mu_);
  return dir_syncs_;
}

int64_t FaultInjectionFileSystem::append_count() const {
  absl::MutexLock lock(&mu_);
  return appends_;
}

int64_t FaultInjectionFileSystem::sequential_open_count() const {
  absl::MutexLock lock(&mu_);
  return sequential_opens_;
}

void FaultInjectionFileSystem::ResetCounters() {
  absl::MutexLock lock(&mu_);
  sequential_opens_ = 0;
  syncs_ = 0;
  dir_syncs_ = 0;
  appends_ = 0;
}

absl::Status FaultInjectionFileSystem::OnAppend(const std::string& path,
                                                size_t n, size_t* allowed) {
  absl::MutexLock lock(&mu_);
  ++appends_;
  if (disk_full_) {
    *allowed = 0;
    return DiskFullError(path);
  }
  if (write_budget_set_) {
    if (n <= write_budget_left_) {
      write_budget_left_ -= n;
      *allowed = n;
      return absl::OkStatus();
    }
    *allowed = static_cast<size_t>(write_budget_left_);
    write_budget_left_ = 0;
    return write_error_.ok() ? absl::UnavailableError("injected write error")
                             : write_error_;
  }
  *allowed = n;
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::OnSync() {
  absl::Duration delay;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    ++syncs_;
    delay = sync_delay_;
    error = sync_error_;
  }
  if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
  return error;
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionFileSystem::NewAppendableFile(const std::string& path) {
  absl::StatusOr<std::unique_ptr<WritableFile>> base =
      base_->NewAppendableFile(path);
  if (!base.ok()) return base.status();
  return std::make_unique<FaultInjectionWritableFile>(this, path,
                                                      *std::move(base));
}

absl::StatusOr<std::unique_ptr<SequentialFile>>
FaultInjectionFileSystem::NewSequentialFile(const std::string& path) {
  {
    absl::MutexLock lock(&mu_);
    ++sequential_opens_;
  }
  return base_->NewSequentialFile(path);
}

absl::StatusOr<std::string> FaultInjectionFileSystem::ReadFileToString(
    const std::string& path) {
  return base_->ReadFileToString(path);
}

absl::Status FaultInjectionFileSystem::WriteFileAtomically(
    const std::string& path, absl::string_view data) {
  {
    absl::MutexLock lock(&mu_);
    if (disk_full_) return DiskFullError(path);
    if (!sync_error_.ok()) return sync_error_;
    if (write_budget_set_) {
      if (data.size() > write_budget_left_) {
        write_budget_left_ = 0;
        return write_error_.ok()
                   ? absl::UnavailableError("injected write error")
                   : write_error_;
      }
      write_budget_left_ -= data.size();
    }
  }
  return base_->WriteFileAtomically(path, data);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionFileSystem::GetChildren(
    const std::string& dir) {
  return base_->GetChildren(dir);
}

absl::Status FaultInjectionFileSystem::CreateDirs(const std::string& dir) {
  return base_->CreateDirs(dir);
}

absl::Status FaultInjectionFileSystem::DeleteFile(const std::string& path) {
  return base_->DeleteFile(path);
}

absl::Status FaultInjectionFileSystem::DeleteRecursively(
    const std::string& path) {
  return base_->DeleteRecursively(path);
}

absl::Status FaultInjectionFileSystem::RenameFile(const std::string& from,
                                                  const std::string& to) {
  return base_->RenameFile(from, to);
}

absl::StatusOr<uint64_t> FaultInjectionFileSystem::GetFileSize(
    const std::string& path) {
  return base_->GetFileSize(path);
}

absl::Status FaultInjectionFileSystem::Truncate(const std::string& path,
                                                uint64_t size) {
  {
    absl::MutexLock lock(&mu_);
    if (!truncate_error_.ok()) return truncate_error_;
  }
  return base_->Truncate(path, size);
}

absl::Status FaultInjectionFileSystem::SyncDir(const std::string& dir) {
  {
    absl::MutexLock lock(&mu_);
    ++dir_syncs_;
    if (!sync_error_.ok()) return sync_error_;
  }
  return base_->SyncDir(dir);
}

bool FaultInjectionFileSystem::FileExists(const std::string& path) {
  return base_->FileExists(path);
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultInjectionFileSystem::LockFile(
    const std::string& path) {
  return base_->LockFile(path);
}

}  // namespace continuum::store
