#include "tools/continuumctl/endpoints.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace continuum::ctl {

std::map<std::string, std::string> ParseEndpoints(absl::string_view text) {
  std::map<std::string, std::string> values;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) continue;
    values[std::string(absl::StripAsciiWhitespace(line.substr(0, eq)))] =
        std::string(absl::StripAsciiWhitespace(line.substr(eq + 1)));
  }
  return values;
}

std::optional<Endpoint> DefaultEndpoint(
    absl::string_view service,
    const std::function<std::optional<std::string>(const std::string&)>& getenv,
    const std::function<std::optional<std::string>(const std::string&)>&
        read_file) {
  const std::string key =
      absl::StrCat("CONTINUUM_", absl::AsciiStrToUpper(service));
  auto non_empty = [](const std::optional<std::string>& v) {
    return v.has_value() && !v->empty();
  };
  if (std::optional<std::string> target = getenv(key); non_empty(target)) {
    Endpoint e;
    e.target = *target;
    e.source = key;
    e.tls_ca = getenv("CONTINUUM_TLS_CA").value_or("");
    e.tls_cert = getenv("CONTINUUM_TLS_CERT").value_or("");
    e.tls_key = getenv("CONTINUUM_TLS_KEY").value_or("");
    return e;
  }
  std::optional<std::string> named = getenv("CONTINUUM_ENDPOINTS");
  const std::string path =
      non_empty(named) ? *named : std::string("data/endpoints.env");
  std::optional<std::string> text = read_file(path);
  if (!text.has_value()) return std::nullopt;
  std::map<std::string, std::string> values = ParseEndpoints(*text);
  auto it = values.find(key);
  if (it == values.end() || it->second.empty()) return std::nullopt;
  Endpoint e;
  e.target = it->second;
  e.source = path;
  e.tls_ca = values["CONTINUUM_TLS_CA"];
  e.tls_cert = values["CONTINUUM_TLS_CERT"];
  e.tls_key = values["CONTINUUM_TLS_KEY"];
  return e;
}

}  // namespace continuum::ctl
