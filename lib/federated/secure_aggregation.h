// Secure aggregation by pairwise masks (Bonawitz et al. 2017, without the
// secret-shared self masks), the protocol federated.proto's
// SecureAggregationConfig names `x25519-hkdf-sha256-chacha20-v1`:
//
// - Each site makes a fresh X25519 key pair per round and sends the public
//   key when it joins.
// - Sites i and j derive a 32-byte pairwise seed:
//     HKDF-SHA256(ikm = X25519(sk_i, pk_j), salt = the round's name,
//                 info = "continuum-secagg-v1/" id_a "/" id_b)
//   with id_a < id_b the two site ids in byte order, so both derive the
//   same seed.
// - The seed expands to the mask: the ChaCha20 keystream (RFC 8439) under
//   key = seed, nonce 0, block counter 0, read as little-endian uint32s.
// - Site i sends encode(samples_i * clipped update_i) + sum_{j > i} mask_ij
//   - sum_{j < i} mask_ij, modulo 2^32 (the lower participant index adds),
//   with encode(v) = round(v * scale) as a two's-complement int32.
// - The coordinator adds what arrives modulo 2^32; masks between two
//   submitters cancel. For a site d that dropped, each survivor i reveals
//   its seed with d (RevealMaskSeeds) and the coordinator removes mask_id.
//   Decoding divides by scale and by the survivors' total samples.
//
// What it protects, and what not (docs/federated.md): an honest-but-curious
// coordinator sees only the sum of the survivors' weighted updates, as
// long as it never unmasks a site whose seeds it asked for (it refuses a
// dropped site's late update, and a survivor reveals only seeds shared with
// sites the round names as dropped). Without Bonawitz's self masks a
// coordinator that lies about who dropped could learn one site's update;
// the sum must fit the ring: |sum_i samples_i * u_i| * scale < 2^31 per
// coordinate (EncodeFixedPoint saturates, and the aggregate is checked
// against the plain one in tests).
//
// Randomness: key pairs from OpenSSL's CSPRNG; masks only from the
// ChaCha20 keystream, never from a general-purpose generator.
#ifndef CONTINUUM_LIB_FEDERATED_SECURE_AGGREGATION_H_
#define CONTINUUM_LIB_FEDERATED_SECURE_AGGREGATION_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace continuum::federated {

inline constexpr absl::string_view kSecureAggregationProtocol =
    "x25519-hkdf-sha256-chacha20-v1";

using Key32 = std::array<uint8_t, 32>;

struct X25519KeyPair {
  Key32 private_key;
  Key32 public_key;
};

// A fresh key pair from OpenSSL's CSPRNG; INTERNAL if OpenSSL fails.
absl::StatusOr<X25519KeyPair> GenerateX25519KeyPair();
// The key pair of a given private key (RFC 7748 test vectors, restarts).
absl::StatusOr<X25519KeyPair> X25519KeyPairFromPrivate(const Key32& private_key);

// X25519(private_key, peer_public_key). INVALID_ARGUMENT if the peer's key
// is a low-order point (the shared secret would be all zeros).
absl::StatusOr<Key32> X25519SharedSecret(const Key32& private_key,
                                         const Key32& peer_public_key);

// HKDF with SHA-256 (RFC 5869): `length` bytes, 1..8160.
absl::StatusOr<std::string> HkdfSha256(absl::string_view ikm,
                                       absl::string_view salt,
                                       absl::string_view info, size_t length);

// `length` bytes of the ChaCha20 keystream (RFC 8439) under `key`, a
// 12-byte `nonce` and the 32-bit block counter `counter`.
absl::StatusOr<std::string> ChaCha20Keystream(const Key32& key,
                                              absl::string_view nonce,
                                              uint32_t counter, size_t length);

// The pairwise seed of this site (its private key) and a peer (its public
// key) in round `round` (the round's resource name), the two site ids in
// either order. INVALID_ARGUMENT for equal ids or a low-order peer key.
absl::StatusOr<Key32> PairwiseSeed(const Key32& private_key,
                                   const Key32& peer_public_key,
                                   absl::string_view round,
                                   absl::string_view site_id,
                                   absl::string_view peer_site_id);

// Adds the mask `seed` expands to onto `words` (or subtracts it), modulo
// 2^32, streaming the keystream.
absl::Status ApplyMask(const Key32& seed, absl::Span<uint32_t> words,
                       bool subtract);

// The mask a seed expands to: `length` uint32 words.
absl::StatusOr<std::vector<uint32_t>> ExpandMask(const Key32& seed,
                                                 size_t length);

// round(v * scale) as an int32 in two's complement, saturated at the
// int32 range; DecodeFixedPoint inverts it for a value (or a sum) in range.
uint32_t EncodeFixedPoint(double v, double scale);
double DecodeFixedPoint(uint32_t word, double scale);

// A peer's place in the round and the seed shared with it.
struct PeerSeed {
  int index = 0;
  Key32 seed{};
};

// What site `index` sends: encode(samples * update) plus the masks of its
// peers (added for peers with a higher index, subtracted for lower ones).
// INVALID_ARGUMENT for a peer with this site's own index, samples < 1, a
// scale that is not > 0, or a non-finite value.
absl::StatusOr<std::vector<uint32_t>> MaskUpdate(
    absl::Span<const float> update, int64_t samples, double scale, int index,
    absl::Span<const PeerSeed> peers);

// The coordinator's side: the modular sum of the masked updates, the
// removal of dropped sites' masks, and the decoded weighted mean.
class MaskedSum {
 public:
  explicit MaskedSum(size_t length) : sum_(length, 0) {}

  // INVALID_ARGUMENT for a wrong length.
  absl::Status Add(absl::Span<const uint32_t> masked);

  // Removes the mask a survivor (`survivor_index`) applied for a dropped
  // participant (`dropped_index`) from their revealed seed.
  absl::Status RemoveMask(const Key32& seed, int survivor_index,
                          int dropped_index);

  // The sum decoded: sum_i samples_i * u_i / total_samples per coordinate
  // (total_samples > 0).
  absl::StatusOr<std::vector<float>> WeightedMean(double scale,
                                                  int64_t total_samples) const;

  const std::vector<uint32_t>& words() const { return sum_; }

 private:
  std::vector<uint32_t> sum_;
};

}  // namespace continuum::federated

#endif  // CONTINUUM_LIB_FEDERATED_SECURE_AGGREGATION_H_
