#include "lib/federated/secure_aggregation.h"

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/strings/str_cat.h"

namespace continuum::federated {
namespace {

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

absl::Status OpenSslError(absl::string_view what) {
  return absl::InternalError(absl::StrCat("OpenSSL: ", what, " failed"));
}

absl::StatusOr<X25519KeyPair> KeyPairOf(EVP_PKEY* key) {
  X25519KeyPair pair;
  size_t priv_len = pair.private_key.size();
  size_t pub_len = pair.public_key.size();
  if (EVP_PKEY_get_raw_private_key(key, pair.private_key.data(), &priv_len) !=
          1 ||
      EVP_PKEY_get_raw_public_key(key, pair.public_key.data(), &pub_len) !=
          1 ||
      priv_len != 32 || pub_len != 32) {
    return OpenSslError("reading an X25519 key");
  }
  return pair;
}

}  // namespace

absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair() {
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nullptr));
  EVP_PKEY* raw = nullptr;
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx.get()) != 1 ||
      EVP_PKEY_keygen(ctx.get(), &raw) != 1) {
    return OpenSslError("X25519 key generation");
  }
  Pkey key(raw);
  return KeyPairOf(key.get());
}

absl::StatusOr<X25519KeyPair> X25519KeyPairFromPrivate(
    const Key32& private_key) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr,
                                        private_key.data(), private_key.size()));
  if (key == nullptr) return OpenSslError("loading an X25519 private key");
  return KeyPairOf(key.get());
}

absl::StatusOr<Key32> X25519SharedSecret(const Key32& private_key,
                                         const Key32& peer_public_key) {
  Pkey mine(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr,
                                         private_key.data(), 32));
  Pkey peer(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr,
                                        peer_public_key.data(), 32));
  if (mine == nullptr || peer == nullptr) {
    return OpenSslError("loading X25519 keys");
  }
  PkeyCtx ctx(EVP_PKEY_CTX_new(mine.get(), nullptr));
  Key32 shared{};
  size_t length = shared.size();
  // OpenSSL refuses a peer key whose shared secret is all zeros (a
  // low-order point); so does the check below, whatever the version.
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), shared.data(), &length) != 1 ||
      length != 32 ||
      std::all_of(shared.begin(), shared.end(),
                  [](uint8_t b) { return b == 0; })) {
    return absl::InvalidArgumentError(
        "X25519 key agreement failed: the peer's public key is not usable "
        "(a low-order point)");
  }
  return shared;
}

absl::StatusOr<std::string> HkdfSha256(absl::string_view ikm,
                                       absl::string_view salt,
                                       absl::string_view info, size_t length) {
  if (length < 1 || length > 255 * 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("HKDF-SHA256 output length must be in [1, 8160] (got ",
                     length, ")"));
  }
  PkeyCtx ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr));
  std::string out(length, '\0');
  size_t out_len = length;
  auto u = [](absl::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
  };
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_hkdf_md(ctx.get(), EVP_sha256()) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_salt(ctx.get(), u(salt),
                                  static_cast<int>(salt.size())) != 1 ||
      EVP_PKEY_CTX_set1_hkdf_key(ctx.get(), u(ikm),
                                 static_cast<int>(ikm.size())) != 1 ||
      EVP_PKEY_CTX_add1_hkdf_info(ctx.get(), u(info),
                                  static_cast<int>(info.size())) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(out.data()),
                      &out_len) != 1 ||
      out_len != length) {
    return OpenSslError("HKDF-SHA256");
  }
  return out;
}

absl::StatusOr<std::string> ChaCha20Keystream(const Key32& key,
                                              absl::string_view nonce,
                                              uint32_t counter, size_t length) {
  if (nonce.size() != 12) {
    return absl::InvalidArgumentError(
        absl::StrCat("ChaCha20 nonce must be 12 bytes (got ", nonce.size(),
                     ")"));
  }
  // OpenSSL's ChaCha20 IV: the 32-bit block counter, little-endian, then
  // the 96-bit nonce (RFC 8439's layout of the state's last four words).
  unsigned char iv[16];
  for (int i = 0; i < 4; ++i) iv[i] = static_cast<unsigned char>(counter >> (8 * i));
  std::memcpy(iv + 4, nonce.data(), 12);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string out(length, '\0');
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_chacha20(), nullptr, key.data(), iv) !=
          1) {
    return OpenSslError("ChaCha20 setup");
  }
  // The keystream is the encryption of zeros; in chunks, since
  // EVP_EncryptUpdate takes an int length.
  constexpr size_t kChunk = size_t{1} << 26;
  for (size_t done = 0; done < length; done += kChunk) {
    const int n = static_cast<int>(std::min(kChunk, length - done));
    auto* p = reinterpret_cast<unsigned char*>(out.data()) + done;
    int written = 0;
    if (EVP_EncryptUpdate(ctx.get(), p, &written, p, n) != 1 || written != n) {
      return OpenSslError("ChaCha20");
    }
  }
  return out;
}

absl::StatusOr<Key32> PairwiseSeed(const Key32& private_key,
                                   const Key32& peer_public_key,
                                   absl::string_view round,
                                   absl::string_view site_id,
                                   absl::string_view peer_site_id) {
  if (site_id == peer_site_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("a pairwise seed needs two sites (both are '", site_id,
                     "')"));
  }
  absl::StatusOr<Key32> shared = X25519SharedSecret(private_key, peer_public_key);
  if (!shared.ok()) return shared.status();
  const absl::string_view a = std::min(site_id, peer_site_id);
  const absl::string_view b = std::max(site_id, peer_site_id);
  absl::StatusOr<std::string> okm = HkdfSha256(
      absl::string_view(reinterpret_cast<const char*>(shared->data()), 32),
      round, absl::StrCat("continuum-secagg-v1/", a, "/", b), 32);
  if (!okm.ok()) return okm.status();
  Key32 seed;
  std::memcpy(seed.data(), okm->data(), 32);
  return seed;
}

absl::Status ApplyMask(const Key32& seed, absl::Span<uint32_t> words,
                       bool subtract) {
  // Key = seed, block counter 0, nonce 0 (the IV's 16 zero bytes).
  const unsigned char iv[16] = {};
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr ||
      EVP_EncryptInit_ex(ctx.get(), EVP_chacha20(), nullptr, seed.data(), iv) !=
          1) {
    return OpenSslError("ChaCha20 setup");
  }
  // The keystream goes through a small buffer (the encryption of zeros),
  // never a buffer the size of the update: large short-lived allocations
  // cost more in page faults than ChaCha20 itself.
  constexpr size_t kWords = 4096;
  unsigned char buffer[kWords * 4];
  for (size_t start = 0; start < words.size(); start += kWords) {
    const size_t n = std::min(kWords, words.size() - start);
    std::memset(buffer, 0, n * 4);
    int written = 0;
    if (EVP_EncryptUpdate(ctx.get(), buffer, &written, buffer,
                          static_cast<int>(n * 4)) != 1 ||
        written != static_cast<int>(n * 4)) {
      return OpenSslError("ChaCha20");
    }
    uint32_t* dst = words.data() + start;
    for (size_t i = 0; i < n; ++i) {
      const unsigned char* w = buffer + 4 * i;
      const uint32_t m = static_cast<uint32_t>(w[0]) |
                         static_cast<uint32_t>(w[1]) << 8 |
                         static_cast<uint32_t>(w[2]) << 16 |
                         static_cast<uint32_t>(w[3]) << 24;
      dst[i] = subtract ? dst[i] - m : dst[i] + m;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<uint32_t>> ExpandMask(const Key32& seed,
                                                 size_t length) {
  std::vector<uint32_t> mask(length, 0);
  if (absl::Status s = ApplyMask(seed, absl::MakeSpan(mask), false); !s.ok()) {
    return s;
  }
  return mask;
}

uint32_t EncodeFixedPoint(double v, double scale) {
  const double x = std::round(v * scale);
  constexpr double kMin = std::numeric_limits<int32_t>::min();
  constexpr double kMax = std::numeric_limits<int32_t>::max();
  const double clamped = std::clamp(x, kMin, kMax);
  return static_cast<uint32_t>(static_cast<int32_t>(clamped));
}

double DecodeFixedPoint(uint32_t word, double scale) {
  return static_cast<double>(static_cast<int32_t>(word)) / scale;
}

absl::StatusOr<std::vector<uint32_t>> MaskUpdate(
    absl::Span<const float> update, int64_t samples, double scale, int index,
    absl::Span<const PeerSeed> peers) {
  if (samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("samples must be >= 1 (got ", samples, ")"));
  }
  if (!(scale > 0) || std::isinf(scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fixed_point_scale must be > 0 (got ", scale, ")"));
  }
  std::vector<uint32_t> out(update.size());
  for (size_t c = 0; c < update.size(); ++c) {
    if (!std::isfinite(update[c])) {
      return absl::InvalidArgumentError(
          absl::StrCat("update value ", c, " is not finite"));
    }
    out[c] = EncodeFixedPoint(static_cast<double>(samples) * update[c], scale);
  }
  for (const PeerSeed& peer : peers) {
    if (peer.index == index) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer index ", peer.index, " is this site's own"));
    }
    if (absl::Status s = ApplyMask(peer.seed, absl::MakeSpan(out),
                                   /*subtract=*/peer.index < index);
        !s.ok()) {
      return s;
    }
  }
  return out;
}

absl::Status MaskedSum::Add(absl::Span<const uint32_t> masked) {
  if (masked.size() != sum_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("masked update has ", masked.size(), " values, expected ",
                     sum_.size()));
  }
  for (size_t c = 0; c < sum_.size(); ++c) sum_[c] += masked[c];
  return absl::OkStatus();
}

absl::Status MaskedSum::RemoveMask(const Key32& seed, int survivor_index,
                                   int dropped_index) {
  if (survivor_index == dropped_index) {
    return absl::InvalidArgumentError(
        "a survivor and a dropped participant cannot share an index");
  }
  // The survivor added the mask if its index is lower, else subtracted it.
  return ApplyMask(seed, absl::MakeSpan(sum_),
                   /*subtract=*/survivor_index < dropped_index);
}

absl::StatusOr<std::vector<float>> MaskedSum::WeightedMean(
    double scale, int64_t total_samples) const {
  if (total_samples < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("total_samples must be >= 1 (got ", total_samples, ")"));
  }
  if (!(scale > 0) || std::isinf(scale)) {
    return absl::InvalidArgumentError(
        absl::StrCat("fixed_point_scale must be > 0 (got ", scale, ")"));
  }
  std::vector<float> mean(sum_.size());
  const double total = static_cast<double>(total_samples);
  for (size_t c = 0; c < sum_.size(); ++c) {
    mean[c] = static_cast<float>(DecodeFixedPoint(sum_[c], scale) / total);
  }
  return mean;
}

}  // namespace continuum::federated
