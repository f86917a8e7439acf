// JSON Web Tokens as bearer tokens (AuthConfig.jwt, server_config.proto):
// RS256 or ES256 signatures checked with OpenSSL against configured public
// keys, then exp, nbf, iss and aud; the `sub` and `roles` claims become an
// Identity (auth.h). Plain C++ (no gRPC); the clock is a parameter.
#ifndef CONTINUUM_LIB_CORE_JWT_H_
#define CONTINUUM_LIB_CORE_JWT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/config/v1/server_config.pb.h"
#include "lib/core/auth.h"

// OpenSSL's EVP_PKEY, declared here so that this header does not include
// OpenSSL's.
struct evp_pkey_st;

namespace continuum::core {

// Whether `token` has the shape of a JWT (three non-empty base64url parts).
bool LooksLikeJwt(absl::string_view token);

class JwtVerifier {
 public:
  // Reads the public keys. INVALID_ARGUMENT for an empty issuer or
  // audience, no key, a negative leeway; FAILED_PRECONDITION naming a key
  // file that cannot be read or holds no PEM public key.
  static absl::StatusOr<JwtVerifier> Create(const config::v1::JwtConfig& config);

  // The identity of a valid token at time `now`; UNAUTHENTICATED naming
  // the problem otherwise ("the JWT expired at ...", "the JWT's signature
  // does not verify", "the JWT's audience is not ...", ...).
  absl::StatusOr<Identity> Verify(absl::string_view token,
                                  absl::Time now) const;

 private:
  JwtVerifier() = default;

  std::vector<std::shared_ptr<evp_pkey_st>> keys_;
  std::string issuer_;
  std::string audience_;
  absl::Duration leeway_;
};

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_JWT_H_
