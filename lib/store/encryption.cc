#include "lib/store/encryption.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace continuum::store {
namespace {

constexpr unsigned char kVersion = 1;
constexpr size_t kHeaderBytes = 1 + kKeyIdMaxBytes + kKeyCheckBytes;
constexpr char kCheckLabel[] = "continuum key check";  // + its NUL.

bool ValidKeyId(absl::string_view id) {
  if (id.empty() || id.size() > kKeyIdMaxBytes) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

// Every KeyRing gets a process-unique id, so that the contexts cached per
// thread below can never be taken for another ring's (an address could be
// reused after a ring is freed).
std::atomic<uint64_t> next_ring_id{1};

// A thread's cipher context, kept with its key schedule: a record of a few
// kilobytes costs about as much to expand the key for as to encrypt, so a
// context is re-keyed only when the ring, key or direction changes, and
// each message just sets its nonce.
struct CachedCtx {
  CachedCtx() : ctx(EVP_CIPHER_CTX_new()) {}
  ~CachedCtx() { EVP_CIPHER_CTX_free(ctx); }
  EVP_CIPHER_CTX* ctx;
  uint64_t ring = 0;
  size_t key = 0;
};

// The calling thread's context for (ring, key, encrypt), keyed; null if
// OpenSSL could not make one.
EVP_CIPHER_CTX* KeyedCtx(uint64_t ring, size_t key_index,
                         const unsigned char* key, bool encrypt) {
  thread_local CachedCtx cached[2];  // [0] decrypt, [1] encrypt.
  CachedCtx& c = cached[encrypt ? 1 : 0];
  if (c.ctx == nullptr) return nullptr;
  if (c.ring != ring || c.key != key_index) {
    if (EVP_CipherInit_ex(c.ctx, EVP_aes_256_gcm(), nullptr, key, nullptr,
                          encrypt ? 1 : 0) != 1) {
      c.ring = 0;
      return nullptr;
    }
    c.ring = ring;
    c.key = key_index;
  }
  return c.ctx;
}

// The steps Seal and Open share on a keyed context: the message's nonce,
// then the header and the caller's associated data (authenticated, not
// encrypted), then `n` bytes from `in` to `out` (encrypted or decrypted, as
// the context was keyed). False if OpenSSL refuses a step.
bool CipherMessage(EVP_CIPHER_CTX* ctx, const unsigned char* nonce,
                   const unsigned char* header, absl::string_view associated,
                   const unsigned char* in, size_t n, unsigned char* out) {
  int len = 0;
  return ctx != nullptr &&
         EVP_CipherInit_ex(ctx, nullptr, nullptr, nullptr, nonce, -1) == 1 &&
         EVP_CipherUpdate(ctx, nullptr, &len, header, kHeaderBytes) == 1 &&
         (associated.empty() ||
          EVP_CipherUpdate(
              ctx, nullptr, &len,
              reinterpret_cast<const unsigned char*>(associated.data()),
              static_cast<int>(associated.size())) == 1) &&
         (n == 0 ||
          EVP_CipherUpdate(ctx, out, &len, in, static_cast<int>(n)) == 1);
}

absl::string_view KeyIdField(absl::string_view sealed) {
  absl::string_view id = sealed.substr(1, kKeyIdMaxBytes);
  const size_t nul = id.find('\0');
  return nul == absl::string_view::npos ? id : id.substr(0, nul);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const KeyRing>> KeyRing::Parse(
    absl::string_view text, absl::string_view active_key_id,
    absl::string_view source) {
  std::vector<Key> keys;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, absl::ByAnyChar("\n;"))) {
    ++line_no;
    if (size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    const std::string where = absl::StrCat(source, " entry ", line_no);
    if (fields.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": expected `KEY_ID HEX` (two fields), got ", fields.size()));
    }
    if (!ValidKeyId(fields[0])) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": key id must be 1 to ", kKeyIdMaxBytes,
          " bytes of [A-Za-z0-9._-]"));
    }
    const std::string id(fields[0]);
    if (fields[1].size() != 2 * kKeyBytes ||
        !std::all_of(fields[1].begin(), fields[1].end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c));
        })) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": key ", id, " must be ", 2 * kKeyBytes,
          " hex digits (32 bytes; e.g. `openssl rand -hex 32`)"));
    }
    for (const Key& k : keys) {
      if (k.id == id) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": key id ", id, " is listed twice"));
      }
    }
    std::string bytes = absl::HexStringToBytes(fields[1]);
    Key key;
    key.id = id;
    std::memcpy(key.bytes.data(), bytes.data(), kKeyBytes);
    OPENSSL_cleanse(bytes.data(), bytes.size());
    unsigned char digest[SHA256_DIGEST_LENGTH];
    std::string check_input(kCheckLabel, sizeof(kCheckLabel));
    check_input.append(reinterpret_cast<const char*>(key.bytes.data()),
                       kKeyBytes);
    SHA256(reinterpret_cast<const unsigned char*>(check_input.data()),
           check_input.size(), digest);
    OPENSSL_cleanse(check_input.data(), check_input.size());
    std::memcpy(key.check.data(), digest, kKeyCheckBytes);
    keys.push_back(std::move(key));
  }
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " lists no key (lines `KEY_ID HEX`)"));
  }
  if (active_key_id.empty()) {
    return absl::InvalidArgumentError(
        "encryption.active_key_id is required: the id of the key new writes "
        "use");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].id == active_key_id) {
      return std::shared_ptr<const KeyRing>(new KeyRing(std::move(keys), i));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("encryption.active_key_id ", active_key_id, " is not in ",
                   source));
}

absl::StatusOr<std::shared_ptr<const KeyRing>> KeyRing::Load(
    const std::string& key_file, const std::string& key_env,
    const std::string& active_key_id) {
  if (key_file.empty() && key_env.empty()) {
    return std::shared_ptr<const KeyRing>();
  }
  if (!key_file.empty() && !key_env.empty()) {
    return absl::InvalidArgumentError(
        "encryption: set key_file or key_env, not both");
  }
  if (!key_file.empty()) {
    std::ifstream in(key_file, std::ios::binary);
    if (!in) {
      return absl::InvalidArgumentError(absl::StrCat(
          "encryption.key_file ", key_file, ": cannot be read"));
    }
    std::stringstream text;
    text << in.rdbuf();
    std::string contents = text.str();
    auto ring =
        Parse(contents, active_key_id, absl::StrCat("key file ", key_file));
    OPENSSL_cleanse(contents.data(), contents.size());
    return ring;
  }
  const char* value = std::getenv(key_env.c_str());
  if (value == nullptr || *value == '\0') {
    return absl::InvalidArgumentError(absl::StrCat(
        "encryption.key_env: environment variable ", key_env,
        " is not set or empty"));
  }
  return Parse(value, active_key_id,
               absl::StrCat("environment variable ", key_env));
}

KeyRing::KeyRing(std::vector<Key> keys, size_t active)
    : keys_(std::move(keys)),
      active_(active),
      id_(next_ring_id.fetch_add(1)) {
  if (RAND_bytes(nonce_prefix_.data(), nonce_prefix_.size()) != 1) {
    // Without OpenSSL's generator (never seen), fall back to the address
    // space layout and the clock, still unique within the process.
    const uint64_t mix = reinterpret_cast<uintptr_t>(this) ^
                         static_cast<uint64_t>(time(nullptr));
    std::memcpy(nonce_prefix_.data(), &mix, nonce_prefix_.size());
  }
}

KeyRing::~KeyRing() {
  for (Key& k : keys_) OPENSSL_cleanse(k.bytes.data(), k.bytes.size());
}

std::vector<std::string> KeyRing::key_ids() const {
  std::vector<std::string> ids;
  for (const Key& k : keys_) ids.push_back(k.id);
  return ids;
}

const KeyRing::Key* KeyRing::Find(absl::string_view key_id) const {
  for (const Key& k : keys_) {
    if (k.id == key_id) return &k;
  }
  return nullptr;
}

void KeyRing::Seal(absl::string_view plaintext,
                   absl::string_view associated_data, std::string* out) const {
  const Key& key = keys_[active_];
  const size_t start = out->size();
  out->resize(start + kSealOverheadBytes + plaintext.size());
  unsigned char* p = reinterpret_cast<unsigned char*>(out->data() + start);
  p[0] = kVersion;
  std::memset(p + 1, 0, kKeyIdMaxBytes);
  std::memcpy(p + 1, key.id.data(), key.id.size());
  std::memcpy(p + 1 + kKeyIdMaxBytes, key.check.data(), kKeyCheckBytes);
  unsigned char* nonce = p + kHeaderBytes;
  std::memcpy(nonce, nonce_prefix_.data(), nonce_prefix_.size());
  const uint64_t counter = nonce_counter_.fetch_add(1);
  for (int i = 0; i < 8; ++i) nonce[4 + i] = (counter >> (8 * i)) & 0xFF;
  unsigned char* ciphertext = nonce + kNonceBytes;
  unsigned char* tag = ciphertext + plaintext.size();

  EVP_CIPHER_CTX* ctx = KeyedCtx(id_, active_, key.bytes.data(), true);
  int len = 0;
  // AES-256-GCM with OpenSSL's defaults cannot fail on valid inputs; the
  // checks below guard against an allocation failure of the context.
  const bool ok =
      CipherMessage(ctx, nonce, p, associated_data,
                    reinterpret_cast<const unsigned char*>(plaintext.data()),
                    plaintext.size(), ciphertext) &&
      EVP_EncryptFinal_ex(ctx, ciphertext + plaintext.size(), &len) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagBytes, tag) == 1;
  if (!ok) std::abort();  // Out of memory inside OpenSSL: nothing to save.
}

absl::StatusOr<std::string> KeyRing::KeyIdOf(absl::string_view sealed) {
  if (sealed.size() < kSealOverheadBytes ||
      static_cast<unsigned char>(sealed[0]) != kVersion) {
    return absl::DataLossError(absl::StrCat(
        "encrypted data is malformed (", sealed.size(),
        " bytes, version ",
        sealed.empty() ? 0 : static_cast<unsigned char>(sealed[0]), ")"));
  }
  return std::string(KeyIdField(sealed));
}

absl::Status KeyRing::Open(absl::string_view sealed,
                           absl::string_view associated_data,
                           std::string* plaintext) const {
  absl::StatusOr<std::string> id = KeyIdOf(sealed);
  if (!id.ok()) return id.status();
  const Key* key = Find(*id);
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data is encrypted with key ", *id,
        ", which is not in the configured keys: list it in the key file"));
  }
  const unsigned char* p = reinterpret_cast<const unsigned char*>(sealed.data());
  if (std::memcmp(p + 1 + kKeyIdMaxBytes, key->check.data(), kKeyCheckBytes) !=
      0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the configured key ", *id,
        " is not the key this data was encrypted with (its key check "
        "differs): wrong key bytes under that id"));
  }
  const unsigned char* nonce = p + kHeaderBytes;
  const unsigned char* ciphertext = nonce + kNonceBytes;
  const size_t n = sealed.size() - kSealOverheadBytes;
  const unsigned char* tag = ciphertext + n;
  plaintext->resize(n);
  EVP_CIPHER_CTX* ctx = KeyedCtx(id_, static_cast<size_t>(key - keys_.data()),
                                 key->bytes.data(), false);
  int len = 0;
  const bool ok =
      CipherMessage(ctx, nonce, p, associated_data, ciphertext, n,
                    reinterpret_cast<unsigned char*>(plaintext->data())) &&
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          const_cast<unsigned char*>(tag)) == 1;
  unsigned char final_block[16];
  if (!ok || EVP_DecryptFinal_ex(ctx, final_block, &len) != 1) {
    OPENSSL_cleanse(plaintext->data(), plaintext->size());
    plaintext->clear();
    return absl::DataLossError(absl::StrCat(
        "encrypted data (key ", *id, ", ", n,
        " bytes) fails authentication: it was changed or damaged"));
  }
  return absl::OkStatus();
}

}  // namespace continuum::store
