#include "lib/core/page_token.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace continuum::core {
namespace {

// Bytes of SHA-256 kept as the checksum.
constexpr size_t kTagBytes = 12;

std::string Tag(absl::string_view position, absl::string_view query) {
  const std::string input =
      absl::StrCat("continuum page token", absl::string_view("\0", 1), query,
                   absl::string_view("\0", 1), position);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  return std::string(reinterpret_cast<const char*>(digest), kTagBytes);
}

absl::Status NotOurs() {
  return absl::InvalidArgumentError(
      "page_token: not a token of this query (pass the next_page_token of "
      "the previous page, with the same parent, filter and order)");
}

}  // namespace

std::string EncodePageToken(absl::string_view position,
                            absl::string_view query) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(Tag(position, query), position));
}

absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            absl::string_view query) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.size() < kTagBytes) {
    return NotOurs();
  }
  std::string position = raw.substr(kTagBytes);
  const std::string want = Tag(position, query);
  if (CRYPTO_memcmp(want.data(), raw.data(), kTagBytes) != 0) return NotOurs();
  return position;
}

}  // namespace continuum::core
