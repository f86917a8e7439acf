#include "lib/core/page_token.h"

#include <gtest/gtest.h>

#include <string>

namespace continuum::core {
namespace {

TEST(PageTokenTest, RoundTripsThePositionWithinItsQuery) {
  const std::string token = EncodePageToken("fraud", "models/-\nstate = X\n");
  absl::StatusOr<std::string> position =
      DecodePageToken(token, "models/-\nstate = X\n");
  ASSERT_TRUE(position.ok()) << position.status();
  EXPECT_EQ(*position, "fraud");
  // Opaque: the position is not readable in the token.
  EXPECT_EQ(token.find("fraud"), std::string::npos);
  // Positions of any bytes, the empty one included.
  for (const std::string& p : {std::string(), std::string("a\0b", 3),
                              std::string(300, '\xff')}) {
    absl::StatusOr<std::string> back =
        DecodePageToken(EncodePageToken(p, "q"), "q");
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, p);
  }
}

TEST(PageTokenTest, AnEmptyTokenIsTheFirstPage) {
  absl::StatusOr<std::string> position = DecodePageToken("", "anything");
  ASSERT_TRUE(position.ok());
  EXPECT_EQ(*position, "");
}

TEST(PageTokenTest, ATokenOfAnotherQueryIsRefused) {
  const std::string token = EncodePageToken("42", "parent a\nfilter 1");
  absl::Status s = DecodePageToken(token, "parent a\nfilter 2").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("page_token: not a token of this query"),
            std::string::npos);
}

TEST(PageTokenTest, EditedTruncatedOrMadeUpTokensAreRefused) {
  const std::string token = EncodePageToken("model-7", "q");
  std::string edited = token;
  edited.back() = edited.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {edited, token.substr(0, token.size() - 2), std::string("model-7"),
        std::string("!!!"), std::string("AAAA")}) {
    EXPECT_EQ(DecodePageToken(bad, "q").status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace continuum::core
