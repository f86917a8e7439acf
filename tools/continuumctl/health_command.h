// `continuumctl health`: asks a service's grpc.health.v1 endpoint.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_HEALTH_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_HEALTH_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace continuum::ctl {

// The answer of one health check.
enum class Health { kServing, kNotServing, kUnknown };

// Asks `target` (HOST:PORT) for the health of `service` ("" is the whole
// server). With `wait`, keeps asking until SERVING or until `timeout`; else
// asks once with `timeout` as the deadline. UNAVAILABLE if the server cannot
// be reached, NOT_FOUND if it does not know `service`.
absl::StatusOr<Health> CheckHealth(const std::string& target,
                                   const std::string& service,
                                   absl::Duration timeout, bool wait);

// Runs the command with the parsed flags; returns the exit code:
// 0 SERVING, 1 NOT_SERVING or UNKNOWN, 2 the check itself failed (the
// server unreachable, bad usage), 3 the server does not know --service.
int RunHealthCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_HEALTH_COMMAND_H_
