#include "tools/continuumctl/health_command.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/core/grpc_status.h"
#include "tools/continuumctl/cli_util.h"

ABSL_FLAG(std::string, service, "",
          "health: the gRPC service name to check; empty checks the server.");
ABSL_FLAG(bool, wait, false,
          "health: keep asking until SERVING or --timeout passes.");

namespace continuum::ctl {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

absl::StatusOr<Health> CheckOnce(grpc::health::v1::Health::Stub& stub,
                                 const std::string& service,
                                 absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status status = stub.Check(&context, request, &response);
  if (!status.ok()) return core::FromGrpcStatus(status);
  switch (response.status()) {
    case HealthCheckResponse::SERVING:
      return Health::kServing;
    case HealthCheckResponse::NOT_SERVING:
      return Health::kNotServing;
    default:
      return Health::kUnknown;
  }
}

}  // namespace

absl::StatusOr<Health> CheckHealth(const std::string& target,
                                   const std::string& service,
                                   absl::Duration timeout, bool wait) {
  std::shared_ptr<grpc::Channel> channel = ChannelTo(target);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(20);
  while (true) {
    // Each attempt waits for the connection up to the overall deadline.
    absl::StatusOr<Health> health = CheckOnce(*stub, service, deadline);
    bool done = !wait || (health.ok() && *health == Health::kServing) ||
                (!health.ok() &&
                 health.status().code() == absl::StatusCode::kNotFound) ||
                absl::Now() + pause >= deadline;
    if (done) {
      if (!health.ok() &&
          health.status().code() == absl::StatusCode::kDeadlineExceeded) {
        return absl::UnavailableError(
            absl::StrCat("no answer from ", target, " within ",
                         absl::FormatDuration(timeout),
                         ": is the service running on that address?"));
      }
      return health;
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(500));
  }
}

int RunHealthCommand(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::cerr << "health: unexpected argument '" << args.front()
              << "'; use --target=HOST:PORT\n";
    return 2;
  }
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    std::cerr << "health: --target=HOST:PORT is required\n";
    return 2;
  }
  std::string service = absl::GetFlag(FLAGS_service);
  absl::StatusOr<Health> health = CheckHealth(
      target, service, absl::GetFlag(FLAGS_timeout), absl::GetFlag(FLAGS_wait));
  std::string what =
      service.empty() ? target : absl::StrCat(target, " ", service);
  if (!health.ok() && absl::IsNotFound(health.status())) {
    // The server answered: it is reachable, but has no such service.
    std::cerr << "health: " << target << " does not serve '" << service
              << "' (names are full service names, e.g. "
                 "continuum.v1.RegistryService; --service= empty asks for "
                 "the whole server)\n";
    return 3;
  }
  if (!health.ok()) {
    std::cerr << "health: " << what << ": " << health.status().message()
              << "\n";
    return 2;
  }
  switch (*health) {
    case Health::kServing:
      std::cout << what << " SERVING\n";
      return 0;
    case Health::kNotServing:
      std::cout << what << " NOT_SERVING\n";
      return 1;
    case Health::kUnknown:
      std::cout << what << " UNKNOWN\n";
      return 1;
  }
  return 1;
}

}  // namespace continuum::ctl
