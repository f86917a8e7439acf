// Starts each of the five service binaries as a real process on loopback with
// ephemeral ports, checks health, /metrics and the per-RPC metrics, the CLI,
// and a graceful SIGTERM shutdown with exit code 0.
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::FindSample;
using ::continuum::testing::HttpGet;
using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

std::string Binary(const std::string& name) {
  return absl::StrCat(CONTINUUM_BIN_DIR, "/", name);
}

int ReadPort(const std::string& path) {
  std::string text = testing::ReadFile(path).value_or("");
  int port = 0;
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port)) return 0;
  return port;
}

// Runs a short-lived command and returns its exit code (-1 if it did not
// exit normally within 60 s); its stdout and stderr go to *out and *err.
int RunCommand(const std::vector<std::string>& argv, const std::string& dir,
               const std::string& name, std::string* out = nullptr,
               std::string* err = nullptr) {
  auto process = Subprocess::Start(argv, dir, name);
  if (!process.ok()) return -1;
  absl::StatusOr<int> status = (*process)->Wait(absl::Seconds(60));
  if (out) *out = (*process)->ReadStdout();
  if (err) *err = (*process)->ReadStderr();
  if (!status.ok() || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

// Asks the server's reflection service for its services, then for the file
// describing grpc.health.v1.Health; returns the service names, or an error.
absl::StatusOr<std::vector<std::string>> ReflectServices(
    const std::string& target) {
  namespace reflection = ::grpc::reflection::v1alpha;
  auto stub = reflection::ServerReflection::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest request;
  request.set_list_services("*");
  reflection::ServerReflectionResponse response;
  if (!stream->Write(request) || !stream->Read(&response)) {
    return absl::UnavailableError("reflection stream failed");
  }
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  request.set_file_containing_symbol("grpc.health.v1.Health");
  if (!stream->Write(request) || !stream->Read(&response)) {
    return absl::UnavailableError("reflection stream failed");
  }
  if (response.file_descriptor_response().file_descriptor_proto_size() == 0) {
    return absl::NotFoundError(absl::StrCat(
        "no descriptor for grpc.health.v1.Health: ",
        response.error_response().error_message()));
  }
  stream->WritesDone();
  grpc::Status status = stream->Finish();
  if (!status.ok()) return absl::InternalError(status.error_message());
  return names;
}

class ServiceLifecycleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("lifecycle_" + GetParam() + "_");
    ASSERT_FALSE(dir_.empty());
  }

  std::string dir_;
};

TEST_P(ServiceLifecycleTest, StartsServesMetricsAndDrainsOnSigterm) {
  const std::string service = GetParam();
  const std::string port_file = dir_ + "/grpc.port";
  const std::string metrics_port_file = dir_ + "/metrics.port";
  auto process = Subprocess::Start(
      {Binary("continuum-" + service), "--data_dir=" + dir_ + "/data",
       "--port_file=" + port_file, "--metrics_port_file=" + metrics_port_file,
       "--shutdown_grace=5s"},
      dir_, service);
  ASSERT_TRUE(process.ok()) << process.status();
  Subprocess& server = **process;

  // The port files appear once the server accepts calls.
  ASSERT_TRUE(WaitFor(
      [&] {
        return server.Exited() ||
               (ReadPort(port_file) > 0 && ReadPort(metrics_port_file) > 0);
      },
      absl::Seconds(60)));
  ASSERT_FALSE(server.Exited()) << server.ReadStderr();
  const int port = ReadPort(port_file);
  const int metrics_port = ReadPort(metrics_port_file);
  const std::string target = absl::StrCat("127.0.0.1:", port);

  // The two contract lines on stdout.
  ASSERT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(
            server.ReadStdout(),
            absl::StrCat("metrics on 127.0.0.1:", metrics_port));
      },
      absl::Seconds(10)));
  EXPECT_TRUE(absl::StrContains(server.ReadStdout(),
                                absl::StrCat("listening on ", target, "\n")))
      << server.ReadStdout();

  // The data directory was created.
  EXPECT_EQ(access((dir_ + "/data").c_str(), W_OK), 0);

  // /metrics before the health call.
  const std::vector<std::string> check_ok = {
      "method=\"/grpc.health.v1.Health/Check\"", "code=\"OK\""};
  const std::string requests =
      absl::StrCat("continuum_", service, "_rpc_requests_total");
  absl::StatusOr<std::string> before =
      HttpGet("127.0.0.1", metrics_port, "/metrics");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(
      FindSample(*before, absl::StrCat("continuum_", service, "_build_info")),
      1.0)
      << *before;
  double checks_before = FindSample(*before, requests, check_ok).value_or(0);

  // Health: SERVING.
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, HealthCheckRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  // The per-RPC metrics moved by exactly that call.
  absl::StatusOr<std::string> after =
      HttpGet("127.0.0.1", metrics_port, "/metrics");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(FindSample(*after, requests, check_ok).value_or(0),
            checks_before + 1)
      << *after;
  EXPECT_GE(FindSample(*after,
                       absl::StrCat("continuum_", service,
                                    "_rpc_duration_seconds_count"),
                       {check_ok[0]})
                .value_or(0),
            1);

  // Server reflection lists the services and describes them.
  absl::StatusOr<std::vector<std::string>> services = ReflectServices(target);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services,
              ::testing::IsSupersetOf({"grpc.health.v1.Health",
                                       "grpc.reflection.v1alpha.ServerReflection"}));

  // The operator CLI sees the same.
  std::string out;
  EXPECT_EQ(RunCommand({Binary("continuumctl"), "health", "--target=" + target},
                       dir_, "ctl_health", &out),
            0);
  EXPECT_EQ(out, target + " SERVING\n");

  // SIGTERM: graceful drain, exit 0 within the grace period (plus start-up
  // slack for a loaded machine).
  ASSERT_TRUE(server.Signal(SIGTERM).ok());
  absl::StatusOr<int> exit_status = server.Wait(absl::Seconds(5 + 10));
  ASSERT_TRUE(exit_status.ok()) << exit_status.status();
  ASSERT_TRUE(WIFEXITED(*exit_status)) << server.ReadStderr();
  EXPECT_EQ(WEXITSTATUS(*exit_status), 0) << server.ReadStderr();
  EXPECT_TRUE(absl::StrContains(server.ReadStderr(), "received SIGTERM"))
      << server.ReadStderr();
}

TEST_P(ServiceLifecycleTest, HelpListsTheCommonFlags) {
  std::string out;
  std::string err;
  int code = RunCommand({Binary("continuum-" + GetParam()), "--help"}, dir_,
                        "help", &out, &err);
  // absl's --help exits 1 after printing to stdout.
  EXPECT_NE(code, -1);
  std::string text = out + err;
  for (const char* flag :
       {"--listen", "--metrics_listen", "--data_dir", "--port_file", "--config",
        "--shutdown_grace", "--log_format"}) {
    EXPECT_TRUE(absl::StrContains(text, flag)) << flag << " missing:\n" << text;
  }
  EXPECT_TRUE(absl::StrContains(text, "continuum-" + GetParam())) << text;
}

TEST_P(ServiceLifecycleTest, BadConfigFailsAtStartNamingFileLineAndField) {
  const std::string path = dir_ + "/bad.pbtxt";
  ASSERT_TRUE(testing::WriteFile(
                  path, "server {\n  listen: \"127.0.0.1:0\"\n  colour: 3\n}\n")
                  .ok());
  std::string err;
  int code = RunCommand({Binary("continuum-" + GetParam()), "--config=" + path,
                         "--data_dir=" + dir_ + "/data"},
                        dir_, "badconfig", nullptr, &err);
  EXPECT_EQ(code, 2) << err;
  EXPECT_TRUE(absl::StrContains(err, path + ":3:")) << err;
  EXPECT_TRUE(absl::StrContains(err, "colour")) << err;

  // A bad value given by flag is named too.
  code = RunCommand({Binary("continuum-" + GetParam()), "--listen=nowhere",
                     "--data_dir=" + dir_ + "/data"},
                    dir_, "badflag", nullptr, &err);
  EXPECT_EQ(code, 2) << err;
  EXPECT_TRUE(absl::StrContains(err, "server.listen")) << err;
}

INSTANTIATE_TEST_SUITE_P(AllServices, ServiceLifecycleTest,
                         ::testing::Values("collector", "trainer", "registry",
                                           "inference", "drift"));

TEST(ContinuumctlTest, HealthOfAnUnreachableTargetFails) {
  std::string dir = testing::MakeTempDir("ctl_");
  std::string err;
  // Port 1 on loopback: nothing listens there.
  int code = RunCommand({Binary("continuumctl"), "health",
                         "--target=127.0.0.1:1", "--timeout=1s"},
                        dir, "ctl", nullptr, &err);
  EXPECT_EQ(code, 2);
  EXPECT_TRUE(absl::StrContains(err, "127.0.0.1:1")) << err;
}

TEST(ContinuumctlTest, UnknownCommandIsAnError) {
  std::string dir = testing::MakeTempDir("ctl_");
  std::string err;
  EXPECT_EQ(RunCommand({Binary("continuumctl"), "frobnicate"}, dir, "ctl",
                       nullptr, &err),
            2);
  EXPECT_TRUE(absl::StrContains(err, "unknown command 'frobnicate'")) << err;
}

}  // namespace
}  // namespace continuum
