// Logging for every Continuum process: spdlog to stderr, as text (default) or
// one JSON object per line, with secrets redacted from every message.
#ifndef CONTINUUM_LIB_CORE_LOGGING_H_
#define CONTINUUM_LIB_CORE_LOGGING_H_

#include <fmt/format.h>
#include <spdlog/formatter.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "continuum/config/v1/server_config.pb.h"

// Lets spdlog/fmt format absl::string_view (Debian's Abseil has its own
// string_view type, distinct from std::string_view).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(absl::string_view s, FormatContext& ctx) const {
    return fmt::formatter<fmt::string_view>::format(
        fmt::string_view(s.data(), s.size()), ctx);
  }
};

namespace continuum::core {

// Returns `text` with the values of likely secrets replaced by "[REDACTED]":
// whatever follows "authorization", "bearer", "token", "password", "passwd",
// "secret", "api_key", "apikey", "private_key" or "credential" (any case) and
// a separator (`=`, `:`, spaces or quotes), up to the next space, quote, comma,
// semicolon, `&` or brace. The separator must hold `=` or `:` (after
// "bearer" a space is enough), so prose like "missing token" stays. Example:
//   RedactSecrets("calling with token=abc123 ok") == "calling with
//   token=[REDACTED] ok"
std::string RedactSecrets(absl::string_view text);

// Formats spdlog records as text or JSON lines and redacts secrets from the
// message. The service name is part of every line.
class RedactingFormatter : public spdlog::formatter {
 public:
  RedactingFormatter(std::string service, config::v1::LogFormat format);

  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override;
  std::unique_ptr<spdlog::formatter> clone() const override;

 private:
  std::string service_;
  config::v1::LogFormat format_;
};

// Appends `value` to `out` as the body of a JSON string (no quotes), escaping
// quotes, backslashes and control characters.
void AppendJsonEscaped(absl::string_view value, std::string* out);

// Makes spdlog's default logger write to stderr with RedactingFormatter at the
// configured level. INVALID_ARGUMENT for an unknown level name. Safe to call
// again (tests); the last call wins.
absl::Status InitLogging(absl::string_view service,
                         const config::v1::LogConfig& config);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_LOGGING_H_
