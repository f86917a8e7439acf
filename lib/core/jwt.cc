#include "lib/core/jwt.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cmath>
#include <cstdio>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace continuum::core {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Invalid(absl::string_view problem) {
  return absl::UnauthenticatedError(absl::StrCat("the JWT ", problem));
}

absl::StatusOr<Struct> DecodeJson(absl::string_view part, const char* what) {
  std::string json;
  if (!absl::WebSafeBase64Unescape(part, &json)) {
    return Invalid(absl::StrCat("has a ", what, " that is not base64url"));
  }
  Struct out;
  if (!google::protobuf::util::JsonStringToMessage(json, &out).ok()) {
    return Invalid(absl::StrCat("has a ", what, " that is not a JSON object"));
  }
  return out;
}

const Value* Field(const Struct& s, const char* name) {
  auto it = s.fields().find(name);
  return it == s.fields().end() ? nullptr : &it->second;
}

// ES256 signatures are r || s (32 bytes each); OpenSSL verifies DER.
bool RawEcdsaToDer(absl::string_view raw, std::string* der) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32,
                        nullptr);
  BIGNUM* s = BN_bin2bn(
      reinterpret_cast<const unsigned char*>(raw.data() + 32), 32, nullptr);
  if (sig == nullptr || r == nullptr || s == nullptr ||
      ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  const int n = i2d_ECDSA_SIG(sig, nullptr);
  der->resize(n > 0 ? n : 0);
  unsigned char* p = reinterpret_cast<unsigned char*>(der->data());
  const bool ok = n > 0 && i2d_ECDSA_SIG(sig, &p) == n;
  ECDSA_SIG_free(sig);
  return ok;
}

bool VerifyWith(evp_pkey_st* key, absl::string_view data,
                absl::string_view signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) ==
                1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                signature.size(),
                reinterpret_cast<const unsigned char*>(data.data()),
                data.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// A JWT NumericDate (seconds since the epoch, possibly fractional) as a
// time; values past what absl::Time holds become the infinite past or
// future, NaN the infinite past.
absl::Time NumericDate(double seconds) {
  if (!(seconds > -9.2e18)) return absl::InfinitePast();
  if (seconds >= 9.2e18) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(static_cast<int64_t>(std::floor(seconds)));
}

}  // namespace

bool LooksLikeJwt(absl::string_view token) {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return false;
  for (absl::string_view p : parts) {
    if (p.empty()) return false;
  }
  return true;
}

absl::StatusOr<JwtVerifier> JwtVerifier::Create(
    const config::v1::JwtConfig& config) {
  auto bad = [](absl::string_view field, absl::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("server.auth.jwt.", field, ": ", problem));
  };
  if (config.public_key_files().empty()) {
    return bad("public_key_files", "give at least one PEM public key");
  }
  if (config.issuer().empty()) return bad("issuer", "must not be empty");
  if (config.audience().empty()) return bad("audience", "must not be empty");
  if (config.leeway().seconds() < 0 || config.leeway().nanos() < 0) {
    return bad("leeway", "must not be negative");
  }
  JwtVerifier v;
  v.issuer_ = config.issuer();
  v.audience_ = config.audience();
  v.leeway_ = config.has_leeway()
                  ? absl::Seconds(config.leeway().seconds()) +
                        absl::Nanoseconds(config.leeway().nanos())
                  : absl::Seconds(60);
  for (const std::string& path : config.public_key_files()) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (f == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "server.auth.jwt.public_key_files: cannot read ", path));
    }
    EVP_PKEY* key = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (key == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "server.auth.jwt.public_key_files: ", path,
          " holds no PEM public key"));
    }
    v.keys_.emplace_back(key, EVP_PKEY_free);
  }
  return v;
}

absl::StatusOr<Identity> JwtVerifier::Verify(absl::string_view token,
                                             absl::Time now) const {
  std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 3) return Invalid("does not have three parts");
  absl::StatusOr<Struct> header = DecodeJson(parts[0], "header");
  if (!header.ok()) return header.status();
  const Value* alg = Field(*header, "alg");
  const std::string algorithm =
      alg != nullptr && alg->has_string_value() ? alg->string_value() : "";
  if (algorithm != "RS256" && algorithm != "ES256") {
    return Invalid(absl::StrCat("algorithm '", algorithm,
                                "' is not accepted (RS256 or ES256)"));
  }
  std::string signature;
  if (!absl::WebSafeBase64Unescape(parts[2], &signature)) {
    return Invalid("has a signature that is not base64url");
  }
  if (algorithm == "ES256") {
    std::string der;
    if (!RawEcdsaToDer(signature, &der)) {
      return Invalid("has an ES256 signature that is not 64 bytes");
    }
    signature = std::move(der);
  }
  const int type = algorithm == "RS256" ? EVP_PKEY_RSA : EVP_PKEY_EC;
  const absl::string_view signed_part(
      parts[0].data(), parts[0].size() + 1 + parts[1].size());
  bool verified = false;
  for (const auto& key : keys_) {
    if (EVP_PKEY_base_id(key.get()) != type) continue;
    if (VerifyWith(key.get(), signed_part, signature)) {
      verified = true;
      break;
    }
  }
  if (!verified) return Invalid("signature does not verify with any key");

  absl::StatusOr<Struct> claims = DecodeJson(parts[1], "payload");
  if (!claims.ok()) return claims.status();
  const Value* exp = Field(*claims, "exp");
  if (exp == nullptr || !exp->has_number_value()) {
    return Invalid("has no exp claim");
  }
  // NumericDates beyond what an int64 holds saturate (fuzz/jwt_fuzzer
  // found an nbf of 1.7e93 overflowing the conversion).
  const absl::Time expiry = NumericDate(exp->number_value());
  if (now > expiry + leeway_) {
    return Invalid(absl::StrCat(
        "expired at ",
        absl::FormatTime(absl::RFC3339_sec, expiry, absl::UTCTimeZone())));
  }
  if (const Value* nbf = Field(*claims, "nbf");
      nbf != nullptr && nbf->has_number_value()) {
    const absl::Time not_before = NumericDate(nbf->number_value());
    if (now + leeway_ < not_before) {
      return Invalid(absl::StrCat(
          "is not valid before ",
          absl::FormatTime(absl::RFC3339_sec, not_before,
                           absl::UTCTimeZone())));
    }
  }
  const Value* iss = Field(*claims, "iss");
  if (iss == nullptr || iss->string_value() != issuer_) {
    return Invalid(absl::StrCat("issuer is not ", issuer_));
  }
  bool audience = false;
  if (const Value* aud = Field(*claims, "aud"); aud != nullptr) {
    if (aud->has_string_value()) {
      audience = aud->string_value() == audience_;
    } else if (aud->has_list_value()) {
      for (const Value& a : aud->list_value().values()) {
        audience |= a.string_value() == audience_;
      }
    }
  }
  if (!audience) return Invalid(absl::StrCat("audience is not ", audience_));
  const Value* sub = Field(*claims, "sub");
  if (sub == nullptr || sub->string_value().empty()) {
    return Invalid("has no sub claim");
  }
  Identity identity;
  identity.subject = absl::StrCat("jwt:", sub->string_value());
  std::vector<std::string> names;
  if (const Value* roles = Field(*claims, "roles"); roles != nullptr) {
    if (roles->has_string_value()) {
      names = absl::StrSplit(roles->string_value(), ' ', absl::SkipEmpty());
    } else if (roles->has_list_value()) {
      for (const Value& r : roles->list_value().values()) {
        names.push_back(r.string_value());
      }
    }
  }
  for (const std::string& name : names) {
    if (KnownRoles().count(name) == 0) {
      return Invalid(absl::StrCat("names an unknown role '", name, "'"));
    }
    identity.roles.insert(name);
  }
  if (identity.roles.empty()) return Invalid("has no roles claim");
  return identity;
}

}  // namespace continuum::core
