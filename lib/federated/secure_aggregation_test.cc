#include "lib/federated/secure_aggregation.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace continuum::federated {
namespace {

using ::testing::HasSubstr;

Key32 KeyFromHex(absl::string_view hex) {
  const std::string bytes = absl::HexStringToBytes(hex);
  Key32 key{};
  std::copy(bytes.begin(), bytes.end(), key.begin());
  return key;
}

std::string Hex(const Key32& key) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(key.data()), 32));
}

// RFC 7748, section 6.1 (Curve25519 Diffie-Hellman).
TEST(SecureAggregationTest, X25519MatchesRfc7748) {
  const Key32 alice_private = KeyFromHex(
      "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const Key32 bob_private = KeyFromHex(
      "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  const auto alice = X25519KeyPairFromPrivate(alice_private);
  const auto bob = X25519KeyPairFromPrivate(bob_private);
  ASSERT_TRUE(alice.ok() && bob.ok());
  EXPECT_EQ(Hex(alice->public_key),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(Hex(bob->public_key),
            "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  const char kShared[] =
      "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
  EXPECT_EQ(Hex(*X25519SharedSecret(alice_private, bob->public_key)), kShared);
  EXPECT_EQ(Hex(*X25519SharedSecret(bob_private, alice->public_key)), kShared);
}

TEST(SecureAggregationTest, RefusesALowOrderPeerKey) {
  const auto mine = GenerateX25519KeyPair();
  ASSERT_TRUE(mine.ok());
  const absl::Status s =
      X25519SharedSecret(mine->private_key, Key32{}).status();  // the zero point
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("low-order point"));
  // Fresh key pairs differ.
  EXPECT_NE(Hex(mine->public_key), Hex(GenerateX25519KeyPair()->public_key));
}

// RFC 5869, appendix A, test cases 1 and 3 (SHA-256).
TEST(SecureAggregationTest, HkdfMatchesRfc5869) {
  const std::string ikm(22, '\x0b');
  EXPECT_EQ(absl::BytesToHexString(*HkdfSha256(
                ikm, absl::HexStringToBytes("000102030405060708090a0b0c"),
                absl::HexStringToBytes("f0f1f2f3f4f5f6f7f8f9"), 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
  EXPECT_EQ(absl::BytesToHexString(*HkdfSha256(ikm, "", "", 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
  EXPECT_THAT(HkdfSha256(ikm, "", "", 0).status().message(),
              HasSubstr("output length must be in [1, 8160]"));
}

// RFC 8439, section 2.4.2: the keystream under key 00..1f, nonce
// 000000000000004a00000000 and counter 1, XORed with the plaintext, is the
// ciphertext.
TEST(SecureAggregationTest, ChaCha20MatchesRfc8439) {
  const std::string plaintext =
      "Ladies and Gentlemen of the class of '99: If I could offer you only "
      "one tip for the future, sunscreen would be it.";
  const Key32 key = KeyFromHex(
      "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
  const absl::StatusOr<std::string> stream = ChaCha20Keystream(
      key, absl::HexStringToBytes("000000000000004a00000000"), 1,
      plaintext.size());
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string ciphertext = plaintext;
  for (size_t i = 0; i < plaintext.size(); ++i) ciphertext[i] ^= (*stream)[i];
  EXPECT_EQ(absl::BytesToHexString(ciphertext),
            "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
            "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
            "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
            "5af90bbf74a35be6b40b8eedf2785e42874d");
  EXPECT_THAT(ChaCha20Keystream(key, "short", 0, 4).status().message(),
              HasSubstr("nonce must be 12 bytes"));
}

TEST(SecureAggregationTest, PairwiseSeedsAgreeAndDependOnTheRound) {
  const auto a = GenerateX25519KeyPair();
  const auto b = GenerateX25519KeyPair();
  const char kRound[] = "models/m/rounds/1";
  const auto ab = PairwiseSeed(a->private_key, b->public_key, kRound, "a", "b");
  const auto ba = PairwiseSeed(b->private_key, a->public_key, kRound, "b", "a");
  ASSERT_TRUE(ab.ok() && ba.ok());
  EXPECT_EQ(Hex(*ab), Hex(*ba));
  EXPECT_NE(Hex(*ab), Hex(*PairwiseSeed(a->private_key, b->public_key,
                                        "models/m/rounds/2", "a", "b")));
  EXPECT_THAT(PairwiseSeed(a->private_key, b->public_key, kRound, "a", "a")
                  .status()
                  .message(),
              HasSubstr("needs two sites"));
}

TEST(SecureAggregationTest, FixedPointEncoding) {
  EXPECT_EQ(EncodeFixedPoint(1.5, 65536), 98304u);
  EXPECT_EQ(EncodeFixedPoint(-1.0, 65536), 0xFFFF0000u);
  EXPECT_EQ(DecodeFixedPoint(0xFFFF0000u, 65536), -1.0);
  EXPECT_EQ(EncodeFixedPoint(1e12, 65536), 0x7FFFFFFFu);  // saturates
  EXPECT_EQ(EncodeFixedPoint(-1e12, 65536), 0x80000000u);
  // Sums wrap modulo 2^32 and decode as the sum.
  EXPECT_EQ(DecodeFixedPoint(EncodeFixedPoint(-2.25, 1024) +
                                 EncodeFixedPoint(1.0, 1024),
                             1024),
            -1.25);
}

struct Site {
  std::string id;
  X25519KeyPair keys;
  std::vector<float> update;
  int64_t samples;
};

// The seeds site i shares with every other participant.
std::vector<PeerSeed> SeedsOf(const std::vector<Site>& sites, int i,
                              const std::string& round) {
  std::vector<PeerSeed> seeds;
  for (int j = 0; j < static_cast<int>(sites.size()); ++j) {
    if (j == i) continue;
    const auto seed = PairwiseSeed(sites[i].keys.private_key,
                                   sites[j].keys.public_key, round,
                                   sites[i].id, sites[j].id);
    EXPECT_TRUE(seed.ok()) << seed.status();
    seeds.push_back({j, *seed});
  }
  return seeds;
}

// Five sites mask their updates; with 0, 1 or 2 of them dropped after
// masking (their updates never arrive), the survivors reveal the seeds
// they shared with the dropped ones and the unmasked sum equals the plain
// sample-weighted mean of the survivors' updates, up to quantisation.
TEST(SecureAggregationTest, UnmaskedSumEqualsThePlainSumWithDropouts) {
  const std::string round = "models/m/rounds/7";
  const double scale = 65536;
  const size_t length = 1000;
  std::mt19937 gen(5);
  std::normal_distribution<float> normal(0, 0.05f);
  std::vector<Site> sites;
  for (int i = 0; i < 5; ++i) {
    Site s{absl::StrCat("site-", i), *GenerateX25519KeyPair(),
           std::vector<float>(length), 50 + 10 * i};
    for (float& x : s.update) x = normal(gen);
    sites.push_back(std::move(s));
  }
  std::vector<std::vector<uint32_t>> masked;
  for (int i = 0; i < 5; ++i) {
    auto m = MaskUpdate(sites[i].update, sites[i].samples, scale, i,
                        SeedsOf(sites, i, round));
    ASSERT_TRUE(m.ok()) << m.status();
    masked.push_back(*m);
  }
  // A single masked update hides the update: almost every word differs
  // from the plain encoding.
  int same = 0;
  for (size_t c = 0; c < length; ++c) {
    same += masked[0][c] ==
            EncodeFixedPoint(sites[0].samples * sites[0].update[c], scale);
  }
  EXPECT_LT(same, 5);

  std::mt19937 pick(9);
  for (int dropped_count : {0, 1, 2}) {
    std::vector<int> order = {0, 1, 2, 3, 4};
    std::shuffle(order.begin(), order.end(), pick);
    const std::vector<int> dropped(order.begin(),
                                   order.begin() + dropped_count);
    auto is_dropped = [&](int i) {
      return std::find(dropped.begin(), dropped.end(), i) != dropped.end();
    };
    MaskedSum sum(length);
    int64_t total = 0;
    std::vector<double> plain(length, 0.0);
    for (int i = 0; i < 5; ++i) {
      if (is_dropped(i)) continue;
      ASSERT_TRUE(sum.Add(masked[i]).ok());
      total += sites[i].samples;
      for (size_t c = 0; c < length; ++c) {
        plain[c] += sites[i].samples * static_cast<double>(sites[i].update[c]);
      }
    }
    for (int i = 0; i < 5; ++i) {
      if (is_dropped(i)) continue;
      for (int d : dropped) {
        const auto seed =
            PairwiseSeed(sites[i].keys.private_key, sites[d].keys.public_key,
                         round, sites[i].id, sites[d].id);
        ASSERT_TRUE(sum.RemoveMask(*seed, i, d).ok());
      }
    }
    const auto mean = sum.WeightedMean(scale, total);
    ASSERT_TRUE(mean.ok());
    // Each site's encoding rounds by at most 0.5 / scale.
    const double tolerance = 5 * 0.5 / scale / total + 1e-7;
    for (size_t c = 0; c < length; ++c) {
      ASSERT_NEAR((*mean)[c], plain[c] / total, tolerance)
          << "coordinate " << c << " with " << dropped_count << " dropped";
    }
  }
}

TEST(SecureAggregationTest, RefusesBadInput) {
  const std::vector<float> update = {1, 2};
  EXPECT_THAT(MaskUpdate(update, 1, 65536, 0, {{0, Key32{}}}).status().message(),
              HasSubstr("peer index 0 is this site's own"));
  EXPECT_THAT(MaskUpdate(update, 0, 65536, 0, {}).status().message(),
              HasSubstr("samples must be >= 1"));
  EXPECT_THAT(MaskUpdate(update, 1, 0, 0, {}).status().message(),
              HasSubstr("fixed_point_scale must be > 0"));
  EXPECT_THAT(MaskUpdate(std::vector<float>{NAN}, 1, 1, 0, {}).status().message(),
              HasSubstr("not finite"));
  MaskedSum sum(2);
  EXPECT_THAT(sum.Add(std::vector<uint32_t>{1}).message(),
              HasSubstr("masked update has 1 values, expected 2"));
  EXPECT_THAT(sum.WeightedMean(65536, 0).status().message(),
              HasSubstr("total_samples must be >= 1"));
  EXPECT_THAT(sum.RemoveMask(Key32{}, 1, 1).message(),
              HasSubstr("cannot share an index"));
}

}  // namespace
}  // namespace continuum::federated
