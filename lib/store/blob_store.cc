#include "lib/store/blob_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
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
// First bytes of an encrypted blob file (blob_store.h).
constexpr char kEncryptedMagic[] = "\x89" "CTMBLOB-AESGCM\n";
constexpr size_t kMagicBytes = 16;
static_assert(sizeof(kEncryptedMagic) == kMagicBytes + 1);
// Plaintext bytes per sealed block, and a sealed block's size.
constexpr size_t kBlockBytes = size_t{64} << 10;
constexpr size_t kSealedBlockBytes = kBlockBytes + kSealOverheadBytes;

absl::string_view EncryptedMagic() {
  return absl::string_view(kEncryptedMagic, kMagicBytes);
}

// The associated data of block `index`: its index and whether it is the
// last, so that blocks cannot be reordered, dropped or cut off unnoticed.
std::string BlockContext(uint64_t index, bool last) {
  std::string out(9, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((index >> (8 * i)) & 0xFF);
  out[8] = last ? 1 : 0;
  return out;
}

// Plaintext bytes of an encrypted blob file of `file_bytes` bytes; -1 if no
// such file can be well formed.
int64_t EncryptedPlaintextBytes(uint64_t file_bytes) {
  if (file_bytes <= kMagicBytes + kSealOverheadBytes) return -1;
  const uint64_t body = file_bytes - kMagicBytes;
  const uint64_t blocks = (body + kSealedBlockBytes - 1) / kSealedBlockBytes;
  const uint64_t last = body - (blocks - 1) * kSealedBlockBytes;
  if (last <= kSealOverheadBytes) return -1;
  return static_cast<int64_t>(body - blocks * kSealOverheadBytes);
}

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
    : store_(store),
      keys_(store->options_.keys),
      temp_path_(std::move(temp_path)),
      file_(std::move(file)) {}

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

absl::Status BlobWriter::WriteFile(absl::string_view bytes) {
  if (absl::Status s = file_->Append(bytes); !s.ok()) return s;
  file_bytes_ += bytes.size();
  return absl::OkStatus();
}

absl::Status BlobWriter::SealBlock(absl::string_view plaintext, bool last) {
  sealed_.clear();
  if (block_index_ == 0) sealed_.append(kEncryptedMagic, kMagicBytes);
  keys_->Seal(plaintext, BlockContext(block_index_, last), &sealed_);
  ++block_index_;
  return WriteFile(sealed_);
}

absl::Status BlobWriter::Append(absl::string_view chunk) {
  if (!failed_.ok()) return failed_;
  if (done_) {
    return absl::FailedPreconditionError("append to a finished upload");
  }
  if (chunk.empty()) return absl::OkStatus();
  hash_.Update(chunk);
  if (head_.size() < kMagicBytes) {
    const absl::string_view more = chunk.substr(0, kMagicBytes - head_.size());
    head_.append(more.data(), more.size());
  }
  size_ += chunk.size();
  if (keys_ == nullptr) {
    if (absl::Status s = WriteFile(chunk); !s.ok()) return Fail(std::move(s));
    return absl::OkStatus();
  }
  // A full block is sealed only once more bytes follow it: the last block
  // is sealed by Finish, marked last.
  pending_.append(chunk.data(), chunk.size());
  size_t done = 0;
  while (pending_.size() - done > kBlockBytes) {
    absl::Status s = SealBlock(
        absl::string_view(pending_).substr(done, kBlockBytes), false);
    if (!s.ok()) return Fail(std::move(s));
    done += kBlockBytes;
  }
  pending_.erase(0, done);
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
  if (keys_ != nullptr) {
    if (absl::Status s = SealBlock(pending_, true); !s.ok()) {
      return Fail(std::move(s));
    }
    pending_.clear();
  } else if (head_ == EncryptedMagic()) {
    return Fail(absl::InvalidArgumentError(
        "the content starts with the marker of an encrypted blob file; a "
        "store without encryption cannot keep it apart from one"));
  }
  if (absl::Status s = file_->Sync(); !s.ok()) return Fail(std::move(s));
  absl::Status closed = file_->Close();
  file_.reset();
  if (!closed.ok()) return Fail(std::move(closed));
  if (absl::Status s =
          store_->Commit(temp_path_, digest, file_bytes_, replace_existing_);
      !s.ok()) {
    return Fail(std::move(s));
  }
  done_ = true;  // The temp file is gone: renamed or dropped.
  return digest;
}

// ---------------------------------------------------------------- BlobReader

BlobReader::BlobReader(std::string digest, std::string path,
                       std::unique_ptr<SequentialFile> file, uint64_t size,
                       std::string head, uint64_t file_read,
                       uint64_t file_bytes, std::shared_ptr<const KeyRing> keys)
    : digest_(std::move(digest)),
      path_(std::move(path)),
      file_(std::move(file)),
      size_(size),
      keys_(std::move(keys)),
      file_bytes_(file_bytes),
      file_read_(file_read),
      plain_(std::move(head)) {}

absl::StatusOr<bool> BlobReader::ReadBlock() {
  const uint64_t remaining = file_bytes_ - std::min(file_bytes_, file_read_);
  if (remaining == 0) return false;
  const size_t n =
      static_cast<size_t>(std::min<uint64_t>(remaining, kSealedBlockBytes));
  sealed_.resize(n);
  absl::StatusOr<size_t> got = file_->ReadInto(sealed_.data(), n);
  if (!got.ok()) return got.status();
  file_read_ += *got;
  const bool last = file_read_ >= file_bytes_;
  absl::Status s = *got == n ? keys_->Open(sealed_,
                                           BlockContext(block_index_, last),
                                           &plain_)
                             : absl::DataLossError("the file ends early");
  if (!s.ok()) {
    const std::string why = absl::StrCat("blob ", digest_, " (", path_,
                                         "), block ", block_index_, ": ",
                                         s.message());
    if (absl::IsDataLoss(s)) {
      spdlog::error("{}", why);
      return absl::DataLossError(absl::StrCat(why, " (blob is corrupt)"));
    }
    return absl::Status(s.code(), why);
  }
  ++block_index_;
  plain_pos_ = 0;
  return true;
}

absl::Status BlobReader::Next(size_t n, std::string* chunk) {
  chunk->clear();
  if (at_end_) return final_;
  if (n == 0) return absl::InvalidArgumentError("BlobReader::Next: n is 0");
  if (plain_pos_ == plain_.size() && keys_ != nullptr) {
    absl::StatusOr<bool> more = ReadBlock();
    if (!more.ok()) {
      at_end_ = true;
      final_ = more.status();
      file_.reset();
      return final_;
    }
  }
  if (plain_pos_ < plain_.size()) {  // Decrypted, or the plaintext head.
    const size_t take = std::min(n, plain_.size() - plain_pos_);
    chunk->assign(plain_, plain_pos_, take);
    plain_pos_ += take;
    hash_.Update(*chunk);
    read_ += take;
    return absl::OkStatus();
  }
  if (keys_ == nullptr) {
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
                               const std::string& digest, uint64_t file_bytes,
                               bool replace) {
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
  if (existing.ok() && *existing == file_bytes && !replace) {
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

absl::StatusOr<BlobStore::FileInfo> BlobStore::Inspect(
    absl::string_view sha256, SequentialFile* file) const {
  const std::string path = BlobPath(sha256);
  // The blob may be deleted (and its name reused by a new upload) between the
  // open and the stat; the reader then reports a size that its reads do not
  // match, and the final hash check still holds.
  absl::StatusOr<uint64_t> size = options_.fs->GetFileSize(path);
  if (!size.ok()) {
    if (absl::IsNotFound(size.status())) return BlobNotFound(sha256);
    return size.status();
  }
  FileInfo info;
  info.file_bytes = *size;
  info.head.resize(kMagicBytes);
  absl::StatusOr<size_t> got = file->ReadInto(info.head.data(), kMagicBytes);
  if (!got.ok()) return got.status();
  info.head.resize(*got);
  info.encrypted = info.head == EncryptedMagic();
  if (!info.encrypted) {
    info.plaintext_bytes = info.file_bytes;
    return info;
  }
  if (options_.keys == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "blob ", sha256,
        " is encrypted but no encryption keys are configured "
        "(server.encryption)"));
  }
  const int64_t plaintext = EncryptedPlaintextBytes(info.file_bytes);
  if (plaintext < 0) {
    return absl::DataLossError(absl::StrCat(
        "blob ", sha256, " is corrupt: an encrypted blob file cannot be ",
        info.file_bytes, " bytes long"));
  }
  info.plaintext_bytes = static_cast<uint64_t>(plaintext);
  return info;
}

absl::StatusOr<std::unique_ptr<SequentialFile>> BlobStore::OpenBlobFile(
    absl::string_view sha256) const {
  if (absl::Status s = ValidateSha256Hex(sha256); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<SequentialFile>> file =
      options_.fs->NewSequentialFile(BlobPath(sha256));
  if (absl::IsNotFound(file.status())) return BlobNotFound(sha256);
  return file;
}

absl::StatusOr<std::unique_ptr<BlobReader>> BlobStore::Open(
    absl::string_view sha256) const {
  absl::StatusOr<std::unique_ptr<SequentialFile>> file = OpenBlobFile(sha256);
  if (!file.ok()) return file.status();
  const std::string path = BlobPath(sha256);
  absl::StatusOr<FileInfo> info = Inspect(sha256, file->get());
  if (!info.ok()) return info.status();
  const uint64_t file_read = info->head.size();
  std::string head = info->encrypted ? std::string() : std::move(info->head);
  return std::unique_ptr<BlobReader>(new BlobReader(
      std::string(sha256), path, *std::move(file), info->plaintext_bytes,
      std::move(head), file_read, info->file_bytes,
      info->encrypted ? options_.keys : nullptr));
}

bool BlobStore::Exists(absl::string_view sha256) const {
  if (!ValidateSha256Hex(sha256).ok()) return false;
  return options_.fs->FileExists(BlobPath(sha256));
}

absl::StatusOr<uint64_t> BlobStore::Size(absl::string_view sha256) const {
  absl::StatusOr<std::unique_ptr<SequentialFile>> file = OpenBlobFile(sha256);
  if (!file.ok()) return file.status();
  absl::StatusOr<FileInfo> info = Inspect(sha256, file->get());
  if (!info.ok()) return info.status();
  return info->plaintext_bytes;
}

absl::StatusOr<std::string> BlobStore::KeyIdOf(absl::string_view sha256) const {
  absl::StatusOr<std::unique_ptr<SequentialFile>> file = OpenBlobFile(sha256);
  if (!file.ok()) return file.status();
  std::string head(kMagicBytes + kSealOverheadBytes, '\0');
  absl::StatusOr<size_t> got = (*file)->ReadInto(head.data(), head.size());
  if (!got.ok()) return got.status();
  head.resize(*got);
  if (!absl::StartsWith(head, EncryptedMagic())) return std::string();
  return KeyRing::KeyIdOf(absl::string_view(head).substr(kMagicBytes));
}

absl::Status BlobStore::CheckKeys() const {
  absl::StatusOr<std::vector<std::string>> digests = List();
  if (!digests.ok()) return digests.status();
  std::set<std::string> checked;
  std::string chunk;
  for (const std::string& digest : *digests) {
    absl::StatusOr<std::string> key = KeyIdOf(digest);
    if (!key.ok()) {
      spdlog::warn("blob store {}: {}", options_.dir,
                   std::string(key.status().message()));
      continue;
    }
    if (key->empty() || checked.count(*key) > 0) continue;
    absl::StatusOr<std::unique_ptr<BlobReader>> reader = Open(digest);
    absl::Status s = reader.status();
    if (s.ok()) s = (*reader)->Next(1, &chunk);
    if (absl::IsFailedPrecondition(s)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "blob store ", options_.dir, ": key ", *key, " (needed by blob ",
          digest, "): ", s.message()));
    }
    if (!s.ok()) {
      spdlog::warn("blob store {}: {}", options_.dir,
                   std::string(s.message()));
      continue;
    }
    checked.insert(*key);
  }
  return absl::OkStatus();
}

absl::StatusOr<BlobStore::ReencryptResult> BlobStore::Reencrypt() {
  if (options_.keys == nullptr) {
    return absl::FailedPreconditionError(
        "re-encryption needs encryption keys (server.encryption)");
  }
  absl::StatusOr<std::vector<std::string>> digests = List();
  if (!digests.ok()) return digests.status();
  ReencryptResult result;
  std::string chunk;
  for (const std::string& digest : *digests) {
    ++result.blobs;
    absl::StatusOr<std::string> key = KeyIdOf(digest);
    if (!key.ok()) return key.status();
    if (*key == options_.keys->active_key_id()) continue;
    absl::StatusOr<std::unique_ptr<BlobReader>> reader = Open(digest);
    if (!reader.ok()) return reader.status();
    absl::StatusOr<std::unique_ptr<BlobWriter>> writer = NewWriter();
    if (!writer.ok()) return writer.status();
    (*writer)->replace_existing_ = true;
    for (;;) {
      if (absl::Status s = (*reader)->Next(kVerifyChunk, &chunk); !s.ok()) {
        return s;
      }
      if (chunk.empty()) break;
      if (absl::Status s = (*writer)->Append(chunk); !s.ok()) return s;
    }
    absl::StatusOr<std::string> written = (*writer)->Finish(digest);
    if (!written.ok()) return written.status();
    if (key->empty()) {
      ++result.encrypted;
    } else {
      ++result.rekeyed;
    }
  }
  return result;
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
