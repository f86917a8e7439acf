// The JWT reader (lib/core/jwt.h). Two ways in: the input as a whole token
// (base64url, the header, the algorithm, the signature's shape), and the
// input split at its first newline into a header and a claims object,
// signed here with the verifier's own ES256 key so that the claims reach
// the code that only runs behind a valid signature (exp, nbf, iss, aud,
// sub, roles). Either answers an identity or UNAUTHENTICATED, never crashes.
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/jwt.h"

namespace {

struct Fixture {
  EVP_PKEY* key = nullptr;
  std::unique_ptr<continuum::core::JwtVerifier> verifier;
};

Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    f->key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    const std::string path =
        absl::StrCat("/tmp/jwt_fuzzer.", getpid(), ".pub.pem");
    FILE* out = std::fopen(path.c_str(), "w");
    if (f->key == nullptr || out == nullptr ||
        PEM_write_PUBKEY(out, f->key) != 1) {
      std::abort();
    }
    std::fclose(out);
    continuum::config::v1::JwtConfig config;
    config.add_public_key_files(path);
    config.set_issuer("https://idp.test");
    config.set_audience("continuum");
    auto verifier = continuum::core::JwtVerifier::Create(config);
    std::remove(path.c_str());
    if (!verifier.ok()) std::abort();
    f->verifier =
        std::make_unique<continuum::core::JwtVerifier>(*std::move(verifier));
    return f;
  }();
  return *fixture;
}

// The raw r||s ES256 signature of `signed_part`.
std::string SignEs256(EVP_PKEY* key, const std::string& signed_part) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t der_len = 0;
  std::string der;
  if (EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx, nullptr, &der_len,
                     reinterpret_cast<const unsigned char*>(signed_part.data()),
                     signed_part.size()) != 1) {
    std::abort();
  }
  der.resize(der_len);
  if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(der.data()),
                     &der_len,
                     reinterpret_cast<const unsigned char*>(signed_part.data()),
                     signed_part.size()) != 1) {
    std::abort();
  }
  EVP_MD_CTX_free(ctx);
  const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der_len));
  if (sig == nullptr) std::abort();
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig),
               reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig),
               reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Fixture& f = GetFixture();
  const std::string input(reinterpret_cast<const char*>(data), size);
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  (void)continuum::core::LooksLikeJwt(input);
  (void)f.verifier->Verify(input, now);
  const size_t newline = input.find('\n');
  if (newline == std::string::npos) return 0;
  const std::string signed_part =
      absl::StrCat(absl::WebSafeBase64Escape(input.substr(0, newline)), ".",
                   absl::WebSafeBase64Escape(input.substr(newline + 1)));
  const std::string token = absl::StrCat(
      signed_part, ".",
      absl::WebSafeBase64Escape(SignEs256(f.key, signed_part)));
  (void)f.verifier->Verify(token, now);
  return 0;
}
