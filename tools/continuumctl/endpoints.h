// Where continuumctl finds a service when --target is not given, as kubectl
// finds its cluster without --server: the environment variable
// CONTINUUM_<SERVICE> (CONTINUUM_REGISTRY=127.0.0.1:PORT), else that line of
// an endpoints file (`KEY=VALUE` lines, as deploy/local/continuum-up writes
// DATA_DIR/endpoints.env): the file CONTINUUM_ENDPOINTS names, else
// ./data/endpoints.env (continuum-up's default data directory). The TLS
// files (CONTINUUM_TLS_CA, _CERT, _KEY) come from the same place as the
// target, so a `continuum-up --tls` deployment needs no flag at all.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_ENDPOINTS_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_ENDPOINTS_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace continuum::ctl {

// The `KEY=VALUE` lines of an endpoints file; `#` comments and blank lines
// are skipped, surrounding whitespace trimmed.
std::map<std::string, std::string> ParseEndpoints(absl::string_view text);

// Where a command's service is.
struct Endpoint {
  std::string target;
  std::string tls_ca, tls_cert, tls_key;  // Empty when not given.
  std::string source;  // "CONTINUUM_REGISTRY" or the endpoints file's path.
};

// The endpoint of `service` ("registry", "collector", ...), from the
// environment (`getenv`) or an endpoints file (`read_file` returns its text,
// or nullopt when it cannot be read); nullopt when neither names it.
std::optional<Endpoint> DefaultEndpoint(
    absl::string_view service,
    const std::function<std::optional<std::string>(const std::string&)>& getenv,
    const std::function<std::optional<std::string>(const std::string&)>&
        read_file);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_ENDPOINTS_H_
