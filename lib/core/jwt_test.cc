// JwtVerifier with keys made by OpenSSL here (EC P-256 and RSA 2048),
// tokens signed here as an issuer would (RFC 7515 JWS compact form).
#include "lib/core/jwt.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace continuum::core {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Key EcKey() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free); }
Key RsaKey() {
  return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}),
             EVP_PKEY_free);
}

std::string WritePublic(EVP_PKEY* key, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  EXPECT_NE(f, nullptr);
  EXPECT_EQ(PEM_write_PUBKEY(f, key), 1);
  std::fclose(f);
  return path;
}

std::string B64(absl::string_view s) { return absl::WebSafeBase64Escape(s); }

// A signed token: header {"alg": alg}, the claims JSON as given.
std::string Sign(EVP_PKEY* key, const std::string& alg,
                 const std::string& claims) {
  const std::string input = absl::StrCat(
      B64(absl::StrCat(R"({"alg":")", alg, R"(","typ":"JWT"})")), ".",
      B64(claims));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len,
                 reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (alg == "ES256") {  // DER to r || s.
    const unsigned char* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG* ecdsa = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
    const BIGNUM *r = nullptr, *s = nullptr;
    ECDSA_SIG_get0(ecdsa, &r, &s);
    std::string raw(64, '\0');
    BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32);
    BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
    ECDSA_SIG_free(ecdsa);
    sig = raw;
  }
  return absl::StrCat(input, ".", B64(sig));
}

std::string Claims(const std::string& extra = "",
                   int64_t exp = 1'800'000'600) {
  return absl::StrCat(R"({"iss":"https://idp.example","aud":"continuum",)",
                      R"("sub":"alice","roles":["viewer","operator"],)",
                      R"("exp":)", exp, extra, "}");
}

class JwtTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::filesystem::temp_directory_path().string(),
                        "/jwt_test.", getpid());
    std::filesystem::create_directories(dir_);
    config_.add_public_key_files(WritePublic(ec_.get(), dir_ + "/ec.pem"));
    config_.add_public_key_files(WritePublic(rsa_.get(), dir_ + "/rsa.pem"));
    config_.set_issuer("https://idp.example");
    config_.set_audience("continuum");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Error(const std::string& token) {
    absl::StatusOr<JwtVerifier> v = JwtVerifier::Create(config_);
    EXPECT_TRUE(v.ok()) << v.status();
    absl::StatusOr<Identity> id = v->Verify(token, kNow);
    EXPECT_FALSE(id.ok());
    if (!id.ok()) {
      EXPECT_TRUE(absl::IsUnauthenticated(id.status()));
    }
    return std::string(id.status().message());
  }

  Key ec_ = EcKey();
  Key rsa_ = RsaKey();
  std::string dir_;
  config::v1::JwtConfig config_;
};

TEST_F(JwtTest, Es256AndRs256TokensGiveTheSubjectAndRoles) {
  absl::StatusOr<JwtVerifier> v = JwtVerifier::Create(config_);
  ASSERT_TRUE(v.ok()) << v.status();
  for (const auto& [key, alg] :
       {std::pair{ec_.get(), "ES256"}, std::pair{rsa_.get(), "RS256"}}) {
    const std::string token = Sign(key, alg, Claims());
    EXPECT_TRUE(LooksLikeJwt(token));
    absl::StatusOr<Identity> id = v->Verify(token, kNow);
    ASSERT_TRUE(id.ok()) << alg << ": " << id.status();
    EXPECT_EQ(id->subject, "jwt:alice");
    EXPECT_EQ(id->roles, (std::set<std::string>{"operator", "viewer"}));
  }
  // Roles as one space-separated string, the audience in an array.
  absl::StatusOr<Identity> id = v->Verify(
      Sign(ec_.get(), "ES256",
           R"({"iss":"https://idp.example","aud":["x","continuum"],"sub":"bob","roles":"producer pod","exp":1800000600})"),
      kNow);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->roles, (std::set<std::string>{"pod", "producer"}));
  EXPECT_FALSE(LooksLikeJwt("not-a-jwt"));
  EXPECT_FALSE(LooksLikeJwt("a..c"));
}

TEST_F(JwtTest, BadTokensAreNamed) {
  const std::string good = Sign(ec_.get(), "ES256", Claims());
  std::string tampered = good;
  tampered[tampered.find('.') + 5] ^= 1;  // A claim byte.
  EXPECT_EQ(Error(tampered),
            "the JWT signature does not verify with any key");
  // The RSA key's signature claimed as ES256, an ES256 one as RS256.
  EXPECT_TRUE(absl::StrContains(
      Error(Sign(ec_.get(), "RS256", Claims())), "does not verify"));
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256", Claims("", 1'800'000'000 - 61))),
            "the JWT expired at 2027-01-15T07:58:59+00:00");
  EXPECT_TRUE(absl::StrContains(
      Error(Sign(ec_.get(), "ES256", Claims(R"(,"nbf":1800000100)"))),
      "is not valid before"));
  // NumericDates past an int64 (fuzz/regressions/jwt/nbf_out_of_range).
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256", Claims(R"(,"nbf":1.7e93)"))),
            "the JWT is not valid before infinite-future");
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256",
                       R"({"iss":"https://idp.example","aud":"continuum","sub":"a","roles":["admin"],"exp":-1e300})")),
            "the JWT expired at infinite-past");
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256",
                       R"({"iss":"evil","aud":"continuum","sub":"a","roles":["admin"],"exp":1800000600})")),
            "the JWT issuer is not https://idp.example");
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256",
                       R"({"iss":"https://idp.example","aud":"other","sub":"a","roles":["admin"],"exp":1800000600})")),
            "the JWT audience is not continuum");
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256",
                       R"({"iss":"https://idp.example","aud":"continuum","sub":"a","roles":["root"],"exp":1800000600})")),
            "the JWT names an unknown role 'root'");
  EXPECT_EQ(Error(Sign(ec_.get(), "ES256",
                       R"({"iss":"https://idp.example","aud":"continuum","sub":"a","roles":["admin"]})")),
            "the JWT has no exp claim");
  // alg none and HMAC are refused whatever the signature.
  const std::string none = absl::StrCat(B64(R"({"alg":"none"})"), ".",
                                        B64(Claims()), ".", B64("x"));
  EXPECT_EQ(Error(none),
            "the JWT algorithm 'none' is not accepted (RS256 or ES256)");
  EXPECT_TRUE(absl::StrContains(Error(Sign(ec_.get(), "HS256", Claims())),
                                "'HS256' is not accepted"));
  EXPECT_EQ(Error("a.b"), "the JWT does not have three parts");
  EXPECT_EQ(Error("%%%.e30.e30"),
            "the JWT has a header that is not base64url");
}

TEST_F(JwtTest, ConfigurationErrorsNameTheField) {
  config::v1::JwtConfig c = config_;
  c.clear_audience();
  EXPECT_EQ(JwtVerifier::Create(c).status().message(),
            "server.auth.jwt.audience: must not be empty");
  c = config_;
  c.add_public_key_files(dir_ + "/missing.pem");
  EXPECT_TRUE(absl::IsFailedPrecondition(JwtVerifier::Create(c).status()));
  c = config_;
  c.clear_public_key_files();
  EXPECT_TRUE(absl::StrContains(JwtVerifier::Create(c).status().message(),
                                "public_key_files"));
}

}  // namespace
}  // namespace continuum::core
