#include "lib/store/blob_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace continuum::store {

namespace {

constexpr char kLockFileName[] = "LOCK";
constexpr char kBlobsDirName[] = "sha256";
constexpr char kTempDirName[] = "tmp";
constexpr char kTempSuffix[] = ".part";
constexpr size_t kDigestHexChars = 64;
constexpr size_t kShardChars = 2;
// Read size of Verify.
constexpr size_t kVerifyChunk = size_t{1} << 20;

// OpenSSL's digest calls fail only without memory or with a broken library;
// there is no sensible way to go on.
void CheckOpenSsl(int ok, const char* what) {
  if (ok == 1) return;
  std::fprintf(stderr, "blob store: OpenSSL %s failed\n", what);
  std::abort();
}

std::string LowerHex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '\0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 0xf];
  }
  return out;
}

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

// A printable, bounded rendition of untrusted input for error messages.
std::string Quote(absl::string_view s) {
  constexpr size_t kMax = 80;
  if (s.size() <= kMax) return absl::StrCat("'", absl::CHexEscape(s), "'");
  return absl::StrCat("'", absl::CHexEscape(s.substr(0, kMax)), "'... (",
                      s.size(), " bytes)");
}

// 128 random bits in hex: temp file names that no other upload, in this
// process or another, will pick.
absl::StatusOr<std::string> RandomName() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    return absl::InternalError("RAND_bytes failed: no temp file name");
  }
  return LowerHex(bytes, sizeof(bytes));
}

absl::Status BlobNotFound(absl::string_view sha256) {
  return absl::NotFoundError(absl::StrCat("blob ", sha256, " not found"));
}

}  // namespace

// ---------------------------------------------------------------- SHA-256

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  CheckOpenSsl(ctx_ != nullptr ? 1 : 0, "EVP_MD_CTX_new");
  CheckOpenSsl(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr),
               "EVP_DigestInit_ex");
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(absl::string_view data) {
  if (data.empty()) return;
  CheckOpenSsl(EVP_DigestUpdate(ctx_, data.data(), data.size()),
               "EVP_DigestUpdate");
}

std::string Sha256::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  CheckOpenSsl(EVP_DigestFinal_ex(ctx_, digest, &length), "EVP_DigestFinal_ex");
  CheckOpenSsl(EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr),
               "EVP_DigestInit_ex");
  return LowerHex(digest, length);
}

std::string Sha256Hex(absl::string_view data) {
  Sha256 hash;
  hash.Update(data);
  return hash.FinishHex();
}

absl::Status ValidateSha256Hex(absl::string_view digest) {
  if (digest.size() != kDigestHexChars || !IsLowerHex(digest)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid SHA-256 digest ", Quote(digest),
                     ": want 64 lowercase hex characters"));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- BlobWriter

BlobWriter::BlobWriter(BlobStore* store, std::string temp_path,
                       std::unique_ptr<WritableFile> file)
    : store_(store), temp_path_(std::move(temp_path)), file_(std::move(file)) {}

BlobWriter::~BlobWriter() { Abort(); }

void BlobWriter::Abort() {
  if (done_) return;
  done_ = true;
  if (file_ != nullptr) {
    file_->Close().IgnoreError();  // The file is deleted anyway.
    file_.reset();
  }
  absl::Status status = store_->options_.fs->DeleteFile(temp_path_);
  if (!status.ok() && !absl::IsNotFound(status)) {
    // Open removes it at the next start.
    spdlog::warn("blob store {}: could not remove {}: {}", store_->options_.dir,
                 temp_path_, std::string(status.message()));
  }
}

absl::Status BlobWriter::Fail(absl::Status status) {
  Abort();
  failed_ = status;
  return status;
}

absl::Status BlobWriter::Append(absl::string_view chunk) {
  if (!failed_.ok()) return failed_;
  if (done_) {
    return absl::FailedPreconditionError("append to a finished upload");
  }
  if (chunk.empty()) return absl::OkStatus();
  if (absl::Status s = file_->Append(chunk); !s.ok()) return Fail(std::move(s));
  hash_.Update(chunk);
  size_ += chunk.size();
  return absl::OkStatus();
}

absl::StatusOr<std::string> BlobWriter::Finish(
    absl::string_view expected_sha256, int64_t expected_size) {
  if (!failed_.ok()) return failed_;
  if (done_) {
    return absl::FailedPreconditionError("upload already finished or aborted");
  }
  if (!expected_sha256.empty()) {
    if (absl::Status s = ValidateSha256Hex(expected_sha256); !s.ok()) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("claimed checksum: ", s.message())));
    }
  }
  if (size_ == 0) {
    return Fail(absl::InvalidArgumentError("empty upload: a blob has bytes"));
  }
  const std::string digest = hash_.FinishHex();
  if (expected_size >= 0 && static_cast<uint64_t>(expected_size) != size_) {
    return Fail(absl::DataLossError(absl::StrCat(
        "size mismatch: claimed ", expected_size, " bytes, received ", size_,
        " bytes (SHA-256 ", digest, ")")));
  }
  if (!expected_sha256.empty() && expected_sha256 != digest) {
    return Fail(absl::DataLossError(
        absl::StrCat("checksum mismatch: claimed ", expected_sha256,
                     ", received ", digest, " over ", size_, " bytes")));
  }
  if (absl::Status s = file_->Sync(); !s.ok()) return Fail(std::move(s));
  absl::Status closed = file_->Close();
  file_.reset();
  if (!closed.ok()) return Fail(std::move(closed));
  if (absl::Status s = store_->Commit(temp_path_, digest, size_); !s.ok()) {
    return Fail(std::move(s));
  }
  done_ = true;  // The temp file is gone: renamed or dropped.
  return digest;
}

// ---------------------------------------------------------------- BlobReader

BlobReader::BlobReader(std::string digest, std::string path,
                       std::unique_ptr<SequentialFile> file, uint64_t size)
    : digest_(std::move(digest)),
      path_(std::move(path)),
      file_(std::move(file)),
      size_(size) {}

absl::Status BlobReader::Next(size_t n, std::string* chunk) {
  chunk->clear();
  if (at_end_) return final_;
  if (n == 0) return absl::InvalidArgumentError("BlobReader::Next: n is 0");
  // Reading straight into *chunk avoids a copy; resize is free once the
  // caller's string has grown to n.
  chunk->resize(n);
  absl::StatusOr<size_t> got = file_->ReadInto(chunk->data(), n);
  if (!got.ok()) {
    chunk->clear();
    return got.status();
  }
  chunk->resize(*got);
  if (*got > 0) {
    hash_.Update(*chunk);
    read_ += *got;
    return absl::OkStatus();
  }
  at_end_ = true;
  file_.reset();
  const std::string actual = hash_.FinishHex();
  if (actual != digest_) {
    spdlog::error("blob {} is corrupt: {} hashes to {} over {} bytes", digest_,
                  path_, actual, read_);
    final_ = absl::DataLossError(
        absl::StrCat("blob ", digest_, " is corrupt: its content hashes to ",
                     actual, " over ", read_, " bytes"));
  }
  return final_;
}

// ---------------------------------------------------------------- BlobStore

BlobStore::BlobStore(BlobStoreOptions options, std::unique_ptr<FileLock> lock)
    : options_(std::move(options)),
      blobs_dir_(JoinPath(options_.dir, kBlobsDirName)),
      temp_dir_(JoinPath(options_.dir, kTempDirName)),
      lock_(std::move(lock)) {}

BlobStore::~BlobStore() = default;

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(
    BlobStoreOptions options) {
  if (options.fs == nullptr) {
    return absl::InvalidArgumentError("blob store: no file system");
  }
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("blob store: empty directory");
  }
  FileSystem* fs = options.fs;
  if (absl::Status s = fs->CreateDirs(options.dir); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<FileLock>> lock =
      fs->LockFile(JoinPath(options.dir, kLockFileName));
  if (!lock.ok()) return lock.status();

  const std::string blobs_dir = JoinPath(options.dir, kBlobsDirName);
  const std::string temp_dir = JoinPath(options.dir, kTempDirName);
  const bool created = !fs->FileExists(blobs_dir) || !fs->FileExists(temp_dir);
  for (const std::string& dir : {blobs_dir, temp_dir}) {
    if (absl::Status s = fs->CreateDirs(dir); !s.ok()) return s;
  }
  // Blobs are renamed into sha256/ab/: sha256 must survive a crash first.
  if (created) {
    if (absl::Status s = fs->SyncDir(options.dir); !s.ok()) return s;
  }

  absl::StatusOr<std::vector<std::string>> leftovers =
      fs->GetChildren(temp_dir);
  if (!leftovers.ok()) return leftovers.status();
  int removed = 0;
  for (const std::string& name : *leftovers) {
    if (!absl::EndsWith(name, kTempSuffix)) continue;
    if (absl::Status s = fs->DeleteFile(JoinPath(temp_dir, name));
        !s.ok() && !absl::IsNotFound(s)) {
      return s;
    }
    ++removed;
  }
  if (removed > 0) {
    spdlog::info("blob store {}: removed {} partial upload(s) left by a crash",
                 options.dir, removed);
  }
  return std::unique_ptr<BlobStore>(
      new BlobStore(std::move(options), *std::move(lock)));
}

std::string BlobStore::BlobPath(absl::string_view sha256) const {
  return JoinPath(JoinPath(blobs_dir_, sha256.substr(0, kShardChars)),
                  sha256.substr(kShardChars));
}

absl::StatusOr<std::unique_ptr<BlobWriter>> BlobStore::NewWriter() {
  FileSystem* fs = options_.fs;
  for (int attempt = 0; attempt < 3; ++attempt) {
    absl::StatusOr<std::string> name = RandomName();
    if (!name.ok()) return name.status();
    const std::string path =
        JoinPath(temp_dir_, absl::StrCat(*name, kTempSuffix));
    // Unbuffered: a blob is written once, start to end, and read back
    // later, so it need not pass through the page cache on the way in.
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        fs->NewUnbufferedFile(path);
    // An existing file belongs to someone else (a 128-bit collision means a
    // broken random generator): never write to it.
    if (absl::IsAlreadyExists(file.status())) continue;
    if (!file.ok()) return file.status();
    return std::unique_ptr<BlobWriter>(
        new BlobWriter(this, path, *std::move(file)));
  }
  return absl::InternalError(
      absl::StrCat("blob store ", options_.dir,
                   ": the random temp file names keep colliding"));
}

absl::Status BlobStore::Commit(const std::string& temp_path,
                               const std::string& digest, uint64_t size) {
  FileSystem* fs = options_.fs;
  const std::string path = BlobPath(digest);
  const std::string shard = DirName(path);
  absl::MutexLock lock(&namespace_mu_);
  if (!fs->FileExists(shard)) {
    if (absl::Status s = fs->CreateDirs(shard); !s.ok()) return s;
    if (absl::Status s = fs->SyncDir(blobs_dir_); !s.ok()) return s;
  }
  // Same name, same content: keep the existing blob, unless its size shows it
  // damaged, in which case the new copy replaces it.
  absl::StatusOr<uint64_t> existing = fs->GetFileSize(path);
  if (existing.ok() && *existing == size) {
    if (absl::Status s = fs->DeleteFile(temp_path); !s.ok()) return s;
    // Its writer may have failed at the directory fsync: make sure.
    return fs->SyncDir(shard);
  }
  if (!existing.ok() && !absl::IsNotFound(existing.status())) {
    return existing.status();
  }
  if (absl::Status s = fs->RenameFile(temp_path, path); !s.ok()) return s;
  absl::Status synced = fs->SyncDir(shard);
  if (!synced.ok() && !existing.ok()) {
    // Not durable, so not acknowledged: take the new blob back, so that a
    // failed upload leaves nothing visible. (A crash may still bring it
    // back, whole.)
    if (absl::Status s = fs->DeleteFile(path); !s.ok()) {
      spdlog::warn("blob store {}: could not take back {}: {}", options_.dir,
                   path, std::string(s.message()));
    }
  }
  return synced;
}

absl::StatusOr<std::unique_ptr<BlobReader>> BlobStore::Open(
    absl::string_view sha256) const {
  if (absl::Status s = ValidateSha256Hex(sha256); !s.ok()) return s;
  const std::string path = BlobPath(sha256);
  absl::StatusOr<std::unique_ptr<SequentialFile>> file =
      options_.fs->NewSequentialFile(path);
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) return BlobNotFound(sha256);
    return file.status();
  }
  // The blob may be deleted (and its name reused by a new upload) between the
  // open and the stat; the reader then reports a size that its reads do not
  // match, and the final hash check still holds.
  absl::StatusOr<uint64_t> size = options_.fs->GetFileSize(path);
  if (!size.ok()) {
    if (absl::IsNotFound(size.status())) return BlobNotFound(sha256);
    return size.status();
  }
  return std::unique_ptr<BlobReader>(
      new BlobReader(std::string(sha256), path, *std::move(file), *size));
}

bool BlobStore::Exists(absl::string_view sha256) const {
  if (!ValidateSha256Hex(sha256).ok()) return false;
  return options_.fs->FileExists(BlobPath(sha256));
}

absl::StatusOr<uint64_t> BlobStore::Size(absl::string_view sha256) const {
  if (absl::Status s = ValidateSha256Hex(sha256); !s.ok()) return s;
  absl::StatusOr<uint64_t> size = options_.fs->GetFileSize(BlobPath(sha256));
  if (absl::IsNotFound(size.status())) return BlobNotFound(sha256);
  return size;
}

absl::Status BlobStore::Delete(absl::string_view sha256) {
  if (absl::Status s = ValidateSha256Hex(sha256); !s.ok()) return s;
  const std::string path = BlobPath(sha256);
  absl::MutexLock lock(&namespace_mu_);
  if (absl::Status s = options_.fs->DeleteFile(path); !s.ok()) {
    if (absl::IsNotFound(s)) return BlobNotFound(sha256);
    return s;
  }
  return options_.fs->SyncDir(DirName(path));
}

absl::Status BlobStore::Verify(absl::string_view sha256) const {
  absl::StatusOr<std::unique_ptr<BlobReader>> reader = Open(sha256);
  if (!reader.ok()) return reader.status();
  std::string chunk;
  for (;;) {
    if (absl::Status s = (*reader)->Next(kVerifyChunk, &chunk); !s.ok()) {
      return s;
    }
    if (chunk.empty()) return absl::OkStatus();
  }
}

absl::StatusOr<std::vector<std::string>> BlobStore::List() const {
  FileSystem* fs = options_.fs;
  absl::StatusOr<std::vector<std::string>> shards = fs->GetChildren(blobs_dir_);
  if (!shards.ok()) return shards.status();
  std::vector<std::string> digests;
  for (const std::string& shard : *shards) {
    if (shard.size() != kShardChars || !IsLowerHex(shard)) continue;
    absl::StatusOr<std::vector<std::string>> names =
        fs->GetChildren(JoinPath(blobs_dir_, shard));
    if (!names.ok()) {
      if (absl::IsNotFound(names.status())) continue;  // Not a directory.
      return names.status();
    }
    for (const std::string& name : *names) {
      if (name.size() != kDigestHexChars - kShardChars || !IsLowerHex(name)) {
        continue;
      }
      digests.push_back(absl::StrCat(shard, name));
    }
  }
  std::sort(digests.begin(), digests.end());
  return digests;
}

}  // namespace continuum::store
