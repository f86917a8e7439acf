// Encryption at rest: AES-256-GCM (OpenSSL EVP) sealing of stored bytes
// under a ring of named keys, for the segment log's records and the blob
// store's blocks (docs/operations.md, "Encryption at rest").
//
// A sealed message (all of it is stored; kSealOverheadBytes more than the
// plaintext, the same for every key, so that re-encrypting never changes a
// record's size or position):
//   [u8 version 1][16 bytes key id, NUL-padded][4 bytes key check]
//   [12 bytes nonce][ciphertext, as long as the plaintext][16 bytes tag]
// The key id names the key (a line of the key file); the key check is the
// first 4 bytes of SHA-256("continuum key check\0" || key), so that a key
// listed under the right id but with the wrong bytes is told apart from a
// tampered message (FAILED_PRECONDITION naming the key id instead of
// DATA_LOSS). The header (version, key id, key check) and the caller's
// associated data are authenticated with the ciphertext.
//
// Nonces: 4 random bytes drawn when the KeyRing is made, then a 64-bit
// counter, so no nonce repeats within a process and two processes collide
// only if their random prefixes do (probability 2^-32 per pair of starts
// under one key; rotate keys long before billions of restarts).
//
// Key file: one key per line, `KEY_ID HEX`, HEX being 64 hex digits (32
// bytes); `#` starts a comment; blank lines are ignored. Key ids are 1 to 16
// bytes of [A-Za-z0-9._-]. The same text may come from an environment
// variable, with entries separated by newlines or `;`. Key bytes never
// appear in errors or logs.
//
// Thread safety: a KeyRing is immutable after Parse and thread-safe.
#ifndef CONTINUUM_LIB_STORE_ENCRYPTION_H_
#define CONTINUUM_LIB_STORE_ENCRYPTION_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::store {

inline constexpr size_t kKeyIdMaxBytes = 16;
inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kKeyCheckBytes = 4;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kTagBytes = 16;
// Bytes a sealed message has beyond its plaintext.
inline constexpr size_t kSealOverheadBytes =
    1 + kKeyIdMaxBytes + kKeyCheckBytes + kNonceBytes + kTagBytes;

class KeyRing {
 public:
  // Parses key-file text (see the file comment). `source` names where it
  // came from in errors ("key file /etc/continuum/keys", "environment
  // variable CONTINUUM_KEYS"). `active_key_id` must be listed. Errors:
  // INVALID_ARGUMENT naming the line and what is wrong (never the key).
  static absl::StatusOr<std::shared_ptr<const KeyRing>> Parse(
      absl::string_view text, absl::string_view active_key_id,
      absl::string_view source);

  // Reads the keys from `key_file` or, if that is empty, the environment
  // variable `key_env`; null (no encryption) when both are empty. Errors:
  // INVALID_ARGUMENT for both set, an unset or empty variable, a key file
  // that cannot be read (naming it) and Parse's errors.
  static absl::StatusOr<std::shared_ptr<const KeyRing>> Load(
      const std::string& key_file, const std::string& key_env,
      const std::string& active_key_id);

  KeyRing(const KeyRing&) = delete;
  KeyRing& operator=(const KeyRing&) = delete;
  ~KeyRing();

  const std::string& active_key_id() const { return keys_[active_].id; }
  // The listed key ids, in file order.
  std::vector<std::string> key_ids() const;

  // Appends the sealed form of `plaintext` under the active key to *out,
  // authenticating `associated_data` with it (the same bytes must be given
  // to Open).
  void Seal(absl::string_view plaintext, absl::string_view associated_data,
            std::string* out) const;

  // Replaces *plaintext with the plaintext of `sealed`. Errors:
  // DATA_LOSS for a message that is malformed, truncated or fails
  // authentication (a changed byte anywhere, or other associated data);
  // FAILED_PRECONDITION naming the key id when that key is not in the ring
  // ("list it in the key file") or the ring's key of that id is not the one
  // the message was sealed with (the key check differs).
  absl::Status Open(absl::string_view sealed,
                    absl::string_view associated_data,
                    std::string* plaintext) const;

  // The key id a sealed message names; DATA_LOSS if it is malformed.
  static absl::StatusOr<std::string> KeyIdOf(absl::string_view sealed);

 private:
  struct Key {
    std::string id;
    std::array<unsigned char, kKeyBytes> bytes;
    std::array<unsigned char, kKeyCheckBytes> check;
  };

  KeyRing(std::vector<Key> keys, size_t active);
  const Key* Find(absl::string_view key_id) const;

  std::vector<Key> keys_;
  size_t active_;
  const uint64_t id_;  // Process-unique; names this ring's cached contexts.
  std::array<unsigned char, 4> nonce_prefix_;
  mutable std::atomic<uint64_t> nonce_counter_{0};
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_ENCRYPTION_H_
