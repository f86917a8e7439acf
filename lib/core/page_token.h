// Opaque, self-validating page tokens (AIP-158).
//
// A List call returns `next_page_token` = EncodePageToken(position, query):
// the position after the page's last item (the service's own cursor, e.g.
// an id or a sequence number) and a checksum of it together with the query
// the page answered (parent, filter, order: everything but page_size). A
// later call passes the token back with its own query; DecodePageToken
// returns the position, or INVALID_ARGUMENT when the token was edited,
// truncated, made up, or belongs to another query:
//   page_token: not a token of this query (pass the next_page_token of the
//   previous page, with the same parent, filter and order)
// Tokens do not expire and carry no secret: they protect against mistakes,
// not against a client who reads this file. Thread-safe (pure functions).
#ifndef CONTINUUM_LIB_CORE_PAGE_TOKEN_H_
#define CONTINUUM_LIB_CORE_PAGE_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::core {

// A token for `position` in the query `query` (e.g. absl::StrCat(parent,
// "\n", filter, "\n", order_by)). Web-safe base64, no padding.
std::string EncodePageToken(absl::string_view position,
                            absl::string_view query);

// The position of `token` in `query`; "" for an empty token (the first
// page). INVALID_ARGUMENT as above.
absl::StatusOr<std::string> DecodePageToken(absl::string_view token,
                                            absl::string_view query);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_PAGE_TOKEN_H_
