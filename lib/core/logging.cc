#include "lib/core/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cctype>
#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace continuum::core {
namespace {

constexpr std::array<absl::string_view, 11> kSecretKeys = {
    "authorization", "bearer",     "token",    "password",
    "passwd",        "secret",     "api_key",  "apikey",
    "private_key",   "credential", "x-api-key"};

constexpr absl::string_view kRedacted = "[REDACTED]";

bool IsSeparator(char c) {
  return c == '=' || c == ':' || c == ' ' || c == '"' || c == '\'' || c == '\t';
}

bool EndsValue(char c) {
  return c == ' ' || c == '"' || c == '\'' || c == ',' || c == ';' ||
         c == '&' || c == '}' || c == ']' || c == '\t' || c == '\n' ||
         c == '\r';
}

// Letters, digits and '_' continue a word: "tokens_total" is no secret key.
bool IsWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

}  // namespace

std::string RedactSecrets(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  std::string out;
  size_t copied = 0;  // text[0, copied) is already in `out`.
  size_t pos = 0;
  while (pos < text.size()) {
    // Find the earliest key at or after `pos` that stands as its own word
    // (or ends one: "x_auth_token" still names a token).
    size_t best = absl::string_view::npos;
    size_t best_len = 0;
    for (absl::string_view key : kSecretKeys) {
      size_t at = lower.find(key.data(), pos, key.size());
      while (at != std::string::npos) {
        size_t end = at + key.size();
        bool word_end =
            end >= lower.size() || !IsWordChar(lower[end]) || lower[end] == '-';
        if (word_end) break;
        at = lower.find(key.data(), at + 1, key.size());
      }
      if (at != std::string::npos && at < best) {
        best = at;
        best_len = key.size();
      }
    }
    if (best == absl::string_view::npos) break;
    size_t value = best + best_len;
    size_t sep_end = value;
    bool assigns = lower.compare(best, best_len, "bearer") == 0;
    while (sep_end < text.size() && IsSeparator(text[sep_end])) {
      assigns |= text[sep_end] == '=' || text[sep_end] == ':';
      ++sep_end;
    }
    if (!assigns || sep_end == value || sep_end >= text.size()) {
      // A key that is not assigned a value ("missing token for user") is prose.
      pos = best + best_len;
      continue;
    }
    // "Authorization: Bearer xyz": redact what follows the scheme too.
    if (lower.compare(sep_end, 7, "bearer ") == 0 ||
        lower.compare(sep_end, 6, "basic ") == 0) {
      sep_end = text.find(' ', sep_end) + 1;
      while (sep_end < text.size() && text[sep_end] == ' ') ++sep_end;
    }
    size_t value_end = sep_end;
    while (value_end < text.size() && !EndsValue(text[value_end])) ++value_end;
    if (value_end == sep_end) {
      pos = sep_end;
      continue;
    }
    absl::StrAppend(&out, text.substr(copied, sep_end - copied), kRedacted);
    copied = value_end;
    pos = value_end;
  }
  if (copied == 0) return std::string(text);
  absl::StrAppend(&out, text.substr(copied));
  return out;
}

void AppendJsonEscaped(absl::string_view value, std::string* out) {
  for (char c : value) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out->push_back(c);
        }
    }
  }
}

RedactingFormatter::RedactingFormatter(std::string service,
                                       config::v1::LogFormat format)
    : service_(std::move(service)), format_(format) {}

void RedactingFormatter::format(const spdlog::details::log_msg& msg,
                                spdlog::memory_buf_t& dest) {
  absl::Time time = absl::FromChrono(msg.time);
  std::string when =
      absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", time, absl::UTCTimeZone());
  absl::string_view level = spdlog::level::to_string_view(msg.level).data();
  std::string message =
      RedactSecrets(absl::string_view(msg.payload.data(), msg.payload.size()));
  std::string line;
  if (format_ == config::v1::LOG_FORMAT_JSON) {
    line = absl::StrCat("{\"time\":\"", when, "\",\"level\":\"", level,
                        "\",\"service\":\"");
    AppendJsonEscaped(service_, &line);
    line.append("\",\"logger\":\"");
    AppendJsonEscaped(
        absl::string_view(msg.logger_name.data(), msg.logger_name.size()),
        &line);
    line.append("\",\"message\":\"");
    AppendJsonEscaped(message, &line);
    line.append("\"}\n");
  } else {
    line = absl::StrCat(when, " ", level, " ", service_, ": ", message, "\n");
  }
  dest.append(line.data(), line.data() + line.size());
}

std::unique_ptr<spdlog::formatter> RedactingFormatter::clone() const {
  return std::make_unique<RedactingFormatter>(service_, format_);
}

absl::Status InitLogging(absl::string_view service,
                         const config::v1::LogConfig& config) {
  spdlog::level::level_enum level = spdlog::level::from_str(config.level());
  // from_str maps unknown names to "off"; only "off" itself means off.
  if (level == spdlog::level::off && config.level() != "off") {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level '", config.level(),
        "' is not one of trace, debug, info, warn, error, critical, off"));
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(std::string(service), sink);
  logger->set_formatter(std::make_unique<RedactingFormatter>(
      std::string(service), config.format() == config::v1::LOG_FORMAT_JSON
                                ? config::v1::LOG_FORMAT_JSON
                                : config::v1::LOG_FORMAT_TEXT));
  logger->set_level(level);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
  return absl::OkStatus();
}

}  // namespace continuum::core
