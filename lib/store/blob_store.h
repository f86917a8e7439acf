// BlobStore: a content-addressed store of immutable blobs (the registry's
// model artifacts), named by the SHA-256 of their content.
//
// Files, under BlobStoreOptions::dir:
//   LOCK                 flock(2)ed while a BlobStore has the directory open
//   sha256/ab/cdef...    a blob: "ab" is the first two hex characters of its
//                        digest, the file name the other 62
//   tmp/<random>.part    an upload in progress
//
// Writing: an upload (BlobWriter) streams its chunks to a temporary file,
// hashing them as they pass; nothing beyond the chunk in hand is buffered.
// Finish checks the claimed digest and size, fsyncs the file, renames it to
// its content address and fsyncs the directory. A blob is therefore visible
// only once it is complete and durable: after a crash, a half-written upload
// is at most a leftover tmp/*.part file, which the next Open removes, and a
// blob file always holds the whole content its name promises (barring bit
// rot, which reads detect).
//
// Reading: a BlobReader streams a blob in chunks and re-hashes it; the read
// that reaches the end returns DATA_LOSS if the content no longer hashes to
// the blob's name. Callers must not act on the bytes before that final read
// returned OK (stream them to a temp file, or to a client that the final
// status reaches).
//
// Encryption at rest (BlobStoreOptions::keys, encryption.h): a blob is then
// stored as a 16-byte marker ("\x89CTMBLOB-AESGCM\n") followed by blocks of
// 64 KiB of plaintext, each sealed with AES-256-GCM under the ring's active
// key and bound to its index and to whether it is the last block (so blocks
// cannot be reordered, dropped or cut off unnoticed). The name stays the
// SHA-256 of the plaintext, so digests do not change with keys; readers
// decrypt, then hash as for any blob. A block that fails authentication is
// DATA_LOSS like a wrong hash; a key that is not listed, or listed with other
// bytes, is FAILED_PRECONDITION naming the key id. Blobs written without
// encryption stay readable; Reencrypt moves every blob to the active key.
// A store without keys refuses an upload that begins with the marker
// (INVALID_ARGUMENT), which it could not tell from an encrypted file.
//
// Errors: INVALID_ARGUMENT for malformed digests and empty uploads,
// NOT_FOUND for absent blobs, DATA_LOSS for a claimed digest or size that
// the bytes do not match and for corrupt blobs, and the file system's codes
// (file_system.h: UNAVAILABLE for ENOSPC, EIO, a failed fsync...) for I/O
// errors. When an upload fails, nothing is stored and its temp file is
// removed.
//
// Thread safety: BlobStore is thread-safe. A BlobWriter or BlobReader is
// used by one thread at a time and must not outlive its BlobStore. Blobs
// being read may be deleted: a reader that already opened the file keeps
// reading it (POSIX semantics).
#ifndef CONTINUUM_LIB_STORE_BLOB_STORE_H_
#define CONTINUUM_LIB_STORE_BLOB_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "lib/store/encryption.h"
#include "lib/store/file_system.h"

// OpenSSL's EVP_MD_CTX, declared here so that this header does not include
// OpenSSL's.
struct evp_md_ctx_st;

namespace continuum::store {

// Returns the lowercase hex SHA-256 of `data` (64 characters).
std::string Sha256Hex(absl::string_view data);

// Streaming SHA-256 (OpenSSL EVP): Update with the pieces, in order, then
// FinishHex. Not thread-safe; not copyable.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view data);

  // Returns the lowercase hex digest of everything passed to Update since
  // construction or the previous FinishHex, and starts over.
  std::string FinishHex();

 private:
  evp_md_ctx_st* ctx_;
};

// OK if `digest` is a SHA-256 in lowercase hex (64 characters of [0-9a-f]);
// INVALID_ARGUMENT otherwise.
absl::Status ValidateSha256Hex(absl::string_view digest);

struct BlobStoreOptions {
  // Not owned; must outlive the store.
  FileSystem* fs = DefaultFileSystem();
  // The store's directory (created if missing).
  std::string dir;
  // Encrypts new blobs when set (see the file comment); needed to read
  // encrypted ones.
  std::shared_ptr<const KeyRing> keys;
};

class BlobStore;

// One upload. Create with BlobStore::NewWriter, Append the bytes, then Finish
// (or Abort). Not thread-safe.
class BlobWriter {
 public:
  // Aborts the upload unless Finish returned OK.
  ~BlobWriter();
  BlobWriter(const BlobWriter&) = delete;
  BlobWriter& operator=(const BlobWriter&) = delete;

  // Appends `chunk` to the temp file. On error (UNAVAILABLE for a full disk
  // or a failed write) the upload is dead: its temp file is removed and every
  // later call returns the same error.
  absl::Status Append(absl::string_view chunk);

  // Bytes appended so far.
  uint64_t size() const { return size_; }

  // Finishes the upload and returns the blob's digest. Checks, in order:
  //   - `expected_sha256`, unless empty, is a valid digest (INVALID_ARGUMENT);
  //   - at least one byte was uploaded (INVALID_ARGUMENT);
  //   - `expected_size`, unless negative, equals size() (DATA_LOSS);
  //   - `expected_sha256`, unless empty, equals the SHA-256 of the bytes
  //     (DATA_LOSS "checksum mismatch: claimed X, received Y over N bytes").
  // Then fsyncs the temp file, renames it to the blob's address (or, if that
  // blob already exists, drops it: same content; an existing file of the
  // wrong size is damaged and gets replaced), and fsyncs the directory.
  // On any error the temp file is removed and no new blob is visible. Every
  // call after the first returns FAILED_PRECONDITION (or the sticky Append
  // error).
  absl::StatusOr<std::string> Finish(absl::string_view expected_sha256,
                                     int64_t expected_size = -1);

  // Gives the upload up: closes and removes the temp file. Idempotent; a
  // no-op after a successful Finish.
  void Abort();

 private:
  friend class BlobStore;
  BlobWriter(BlobStore* store, std::string temp_path,
             std::unique_ptr<WritableFile> file);

  // Aborts and makes `status` the answer of every later call; returns it.
  absl::Status Fail(absl::Status status);
  // Appends `bytes` to the temp file.
  absl::Status WriteFile(absl::string_view bytes);
  // Seals one block (after the marker, for the first) and writes it.
  absl::Status SealBlock(absl::string_view plaintext, bool last);

  BlobStore* const store_;
  const std::shared_ptr<const KeyRing> keys_;  // Null: plaintext.
  const std::string temp_path_;
  std::unique_ptr<WritableFile> file_;  // Null once closed.
  Sha256 hash_;
  uint64_t size_ = 0;        // Plaintext bytes appended.
  uint64_t file_bytes_ = 0;  // Bytes written to the temp file.
  std::string head_;         // The first 16 plaintext bytes.
  std::string pending_;      // Plaintext not sealed yet (encrypted only).
  std::string sealed_;       // Encode buffer of one block.
  uint64_t block_index_ = 0;
  // Replace a blob of the same name even if its size matches (Reencrypt).
  bool replace_existing_ = false;
  bool done_ = false;    // Finished, aborted or failed: temp file gone.
  absl::Status failed_;  // The error of a failed Append or Finish.
};

// Streams one blob and re-verifies its SHA-256. Not thread-safe.
class BlobReader {
 public:
  BlobReader(const BlobReader&) = delete;
  BlobReader& operator=(const BlobReader&) = delete;

  // The blob's size in bytes (when it was opened).
  uint64_t size() const { return size_; }

  // Replaces *chunk with the next up to `n` bytes (n > 0); leaves it empty at
  // the end. The read that returns empty checks the SHA-256 of everything
  // read: DATA_LOSS ("blob X is corrupt: its content hashes to Y") if it
  // differs from the blob's name. Only bytes read before a final empty read
  // that returned OK are trustworthy. Later calls repeat the final answer.
  absl::Status Next(size_t n, std::string* chunk);

 private:
  friend class BlobStore;
  // `head`: bytes already read from a plaintext file, served first;
  // `file_read`: bytes of the file already read (the head, or the marker of
  // an encrypted file). `keys` null for a plaintext file.
  BlobReader(std::string digest, std::string path,
             std::unique_ptr<SequentialFile> file, uint64_t size,
             std::string head, uint64_t file_read, uint64_t file_bytes,
             std::shared_ptr<const KeyRing> keys);

  // Encrypted files: reads and opens the next block into plain_; false at
  // the end of the file.
  absl::StatusOr<bool> ReadBlock();

  const std::string digest_;
  const std::string path_;
  std::unique_ptr<SequentialFile> file_;
  const uint64_t size_;
  const std::shared_ptr<const KeyRing> keys_;  // Null: a plaintext file.
  const uint64_t file_bytes_;
  uint64_t file_read_;         // Bytes of the file read so far.
  std::string plain_;          // Plaintext not yet handed out from plain_pos_.
  size_t plain_pos_ = 0;
  std::string sealed_;         // One sealed block.
  uint64_t block_index_ = 0;
  Sha256 hash_;
  uint64_t read_ = 0;
  bool at_end_ = false;
  absl::Status final_;  // Valid once at_end_.
};

class BlobStore {
 public:
  // Opens (creating if needed) the store in options.dir: takes dir/LOCK
  // (FAILED_PRECONDITION if another BlobStore has it), creates dir/sha256 and
  // dir/tmp, and removes the tmp/*.part files that a crash left behind.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(
      BlobStoreOptions options);

  BlobStore(const BlobStore&) = delete;
  BlobStore& operator=(const BlobStore&) = delete;
  ~BlobStore();

  // Starts an upload: creates its temp file.
  absl::StatusOr<std::unique_ptr<BlobWriter>> NewWriter();

  // Opens the blob `sha256` for reading. INVALID_ARGUMENT for a malformed
  // digest, NOT_FOUND if absent.
  absl::StatusOr<std::unique_ptr<BlobReader>> Open(
      absl::string_view sha256) const;

  // True if the blob exists (false for a malformed digest).
  bool Exists(absl::string_view sha256) const;

  // The blob's size in bytes. INVALID_ARGUMENT, NOT_FOUND as Open.
  absl::StatusOr<uint64_t> Size(absl::string_view sha256) const;

  // Deletes the blob (and fsyncs its directory). INVALID_ARGUMENT, NOT_FOUND
  // as Open. Readers that already opened it keep reading it.
  absl::Status Delete(absl::string_view sha256)
      ABSL_LOCKS_EXCLUDED(namespace_mu_);

  // Reads the whole blob and checks its SHA-256: OK or DATA_LOSS (or the
  // errors of Open and of reading). For tests and scrubbing.
  absl::Status Verify(absl::string_view sha256) const;

  // Every stored digest, sorted. Files that are not blobs are ignored.
  absl::StatusOr<std::vector<std::string>> List() const;

  // The id of the key the blob is encrypted with; empty for a plaintext blob.
  // INVALID_ARGUMENT, NOT_FOUND as Open; DATA_LOSS for a malformed header.
  absl::StatusOr<std::string> KeyIdOf(absl::string_view sha256) const;

  // Checks that every key the stored blobs are encrypted with is in the
  // ring with the bytes it was sealed with (one blob's first block per key
  // id). FAILED_PRECONDITION naming the key id and a blob otherwise (also
  // for encrypted blobs in a store without keys). Corrupt blobs are logged,
  // not errors here: reading them is DATA_LOSS.
  absl::Status CheckKeys() const;

  // What Reencrypt did.
  struct ReencryptResult {
    int64_t blobs = 0;      // Blobs examined.
    int64_t encrypted = 0;  // Plaintext blobs now encrypted.
    int64_t rekeyed = 0;    // Blobs moved from another key to the active one.
  };

  // Rewrites every blob not encrypted with the active key (plaintext ones
  // included) under the active key: each is read (verified), sealed to a
  // temp file and renamed over the old file, so a crash leaves either copy,
  // whole. FAILED_PRECONDITION without keys; the first error of a blob
  // otherwise (blobs before it are done; running it again goes on).
  absl::StatusOr<ReencryptResult> Reencrypt();

 private:
  friend class BlobWriter;

  // What the first bytes and the size of a blob file say.
  struct FileInfo {
    bool encrypted = false;
    uint64_t file_bytes = 0;
    uint64_t plaintext_bytes = 0;
    std::string head;  // The first (up to) 16 bytes of the file.
  };

  BlobStore(BlobStoreOptions options, std::unique_ptr<FileLock> lock);

  // Opens the file of blob `sha256`: INVALID_ARGUMENT for a malformed
  // digest, NOT_FOUND if absent.
  absl::StatusOr<std::unique_ptr<SequentialFile>> OpenBlobFile(
      absl::string_view sha256) const;

  // Reads the head of the blob file `file` (just opened) and its size.
  // FAILED_PRECONDITION for an encrypted blob in a store without keys,
  // DATA_LOSS for an impossible encrypted file size.
  absl::StatusOr<FileInfo> Inspect(absl::string_view sha256,
                                   SequentialFile* file) const;

  // dir/sha256/ab/cdef... for a valid digest.
  std::string BlobPath(absl::string_view sha256) const;

  // Moves the fsync'd temp file (`file_bytes` long) of a finished upload to
  // the address of `digest` and fsyncs the directory. An existing blob file
  // of the same size is kept (same content) unless `replace`. On error no
  // new blob is visible; the caller removes the temp file if it is still
  // there.
  absl::Status Commit(const std::string& temp_path, const std::string& digest,
                      uint64_t file_bytes, bool replace)
      ABSL_LOCKS_EXCLUDED(namespace_mu_);

  const BlobStoreOptions options_;
  const std::string blobs_dir_;  // dir/sha256
  const std::string temp_dir_;   // dir/tmp
  const std::unique_ptr<FileLock> lock_;

  // Serialises the changes of the blob namespace (Commit, Delete), so that an
  // upload that finds its blob already there cannot race with its deletion,
  // and a shard directory is durable before any blob is renamed into it.
  absl::Mutex namespace_mu_;
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_BLOB_STORE_H_
