#include "lib/core/logging.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>

#include <string>

#include "absl/strings/match.h"

namespace continuum::core {
namespace {

TEST(RedactSecretsTest, RedactsAssignedSecrets) {
  EXPECT_EQ(RedactSecrets("calling with token=abc123 ok"),
            "calling with token=[REDACTED] ok");
  EXPECT_EQ(RedactSecrets("password: hunter2"), "password: [REDACTED]");
  EXPECT_EQ(RedactSecrets("{\"api_key\": \"k-123\", \"n\": 1}"),
            "{\"api_key\": \"[REDACTED]\", \"n\": 1}");
  EXPECT_EQ(RedactSecrets("Authorization: Bearer eyJhbGciOi.x.y"),
            "Authorization: Bearer [REDACTED]");
  EXPECT_EQ(RedactSecrets("url?user=a&secret=s3&x=1"),
            "url?user=a&secret=[REDACTED]&x=1");
  EXPECT_EQ(RedactSecrets("AUTH_TOKEN=zzz"), "AUTH_TOKEN=[REDACTED]");
  EXPECT_EQ(RedactSecrets("a token=1 and password=2"),
            "a token=[REDACTED] and password=[REDACTED]");
}

TEST(RedactSecretsTest, LeavesProseAndOtherWordsAlone) {
  for (std::string text :
       {"missing token for user", "tokens_total=5", "no secrets here",
        "tokenizer: ok", "listening on 127.0.0.1:5000", "token"}) {
    EXPECT_EQ(RedactSecrets(text), text);
  }
}

std::string Format(config::v1::LogFormat format, absl::string_view message) {
  RedactingFormatter formatter("registry", format);
  spdlog::details::log_msg msg(
      "registry", spdlog::level::warn,
      spdlog::string_view_t(message.data(), message.size()));
  spdlog::memory_buf_t out;
  formatter.format(msg, out);
  return std::string(out.data(), out.size());
}

TEST(RedactingFormatterTest, TextLineHasLevelServiceAndRedactedMessage) {
  std::string line = Format(config::v1::LOG_FORMAT_TEXT, "bad token=xyz");
  EXPECT_TRUE(
      absl::StrContains(line, " warning registry: bad token=[REDACTED]\n"))
      << line;
  EXPECT_FALSE(absl::StrContains(line, "xyz"));
}

TEST(RedactingFormatterTest, JsonLineIsEscapedAndRedacted) {
  std::string line =
      Format(config::v1::LOG_FORMAT_JSON, "say \"hi\"\n\tpassword=pw");
  EXPECT_TRUE(absl::StartsWith(line, "{\"time\":\"")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"level\":\"warning\"")) << line;
  EXPECT_TRUE(absl::StrContains(line, "\"service\":\"registry\"")) << line;
  EXPECT_TRUE(absl::StrContains(
      line, "\"message\":\"say \\\"hi\\\"\\n\\tpassword=[REDACTED]\"}\n"))
      << line;
  EXPECT_FALSE(absl::StrContains(line, "pw\""));
}

TEST(JsonEscapeTest, ControlCharacters) {
  std::string out;
  AppendJsonEscaped(std::string("a\x01"
                                "b\\",
                                4),
                    &out);
  EXPECT_EQ(out, "a\\u0001b\\\\");
}

TEST(InitLoggingTest, RejectsUnknownLevel) {
  config::v1::LogConfig config;
  config.set_level("loud");
  EXPECT_EQ(InitLogging("test", config).code(),
            absl::StatusCode::kInvalidArgument);
  config.set_level("debug");
  EXPECT_TRUE(InitLogging("test", config).ok());
  config.set_level("off");
  EXPECT_TRUE(InitLogging("test", config).ok());
}

}  // namespace
}  // namespace continuum::core
