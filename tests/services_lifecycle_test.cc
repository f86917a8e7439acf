// Starts each of the five service binaries as a real process on loopback with
// ephemeral ports, checks health, /metrics and the per-RPC metrics, the CLI,
// and a graceful SIGTERM shutdown with exit code 0.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <memory>
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
  testing::CommandResult result = testing::RunCommand(argv, dir, name);
  if (out) *out = result.out;
  if (err) *err = result.err;
  return result.exit_code;
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
    return absl::NotFoundError(
        absl::StrCat("no descriptor for grpc.health.v1.Health: ",
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

const char* const kServices[] = {"collector", "trainer", "registry",
                                 "inference", "drift"};

// One running service binary.
struct Running {
  std::string name;
  std::string dir;
  std::unique_ptr<Subprocess> process;
  int port = 0;
  int metrics_port = 0;
  std::string target() const { return absl::StrCat("127.0.0.1:", port); }
};

// All five binaries run at once, each on its own ephemeral ports.
TEST(AllServicesTest, StartTogetherServeHealthMetricsAndDrainOnSigterm) {
  const absl::Duration grace = absl::Seconds(2);
  std::string root = testing::MakeTempDir("lifecycle_");
  std::vector<Running> services;
  for (const char* name : kServices) {
    Running r;
    r.name = name;
    r.dir = absl::StrCat(root, "/", name);
    ASSERT_EQ(mkdir(r.dir.c_str(), 0755), 0);
    auto process = Subprocess::Start(
        {Binary(absl::StrCat("continuum-", name)),
         "--data_dir=" + r.dir + "/data", "--port_file=" + r.dir + "/grpc.port",
         "--metrics_port_file=" + r.dir + "/metrics.port",
         absl::StrCat("--shutdown_grace=", absl::FormatDuration(grace))},
        r.dir, name);
    ASSERT_TRUE(process.ok()) << process.status();
    r.process = *std::move(process);
    services.push_back(std::move(r));
  }

  // The port files appear once each server accepts calls.
  for (Running& r : services) {
    ASSERT_TRUE(WaitFor(
        [&] {
          return r.process->Exited() || (ReadPort(r.dir + "/grpc.port") > 0 &&
                                         ReadPort(r.dir + "/metrics.port") > 0);
        },
        absl::Seconds(60)))
        << r.name;
    ASSERT_FALSE(r.process->Exited())
        << r.name << ": " << r.process->ReadStderr();
    r.port = ReadPort(r.dir + "/grpc.port");
    r.metrics_port = ReadPort(r.dir + "/metrics.port");
  }

  std::vector<std::unique_ptr<grpc::ClientContext>> watch_contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<HealthCheckResponse>>> watches;
  for (Running& r : services) {
    SCOPED_TRACE(r.name);
    // The two contract lines on stdout.
    ASSERT_TRUE(WaitFor(
        [&] {
          return absl::StrContains(
              r.process->ReadStdout(),
              absl::StrCat("metrics on 127.0.0.1:", r.metrics_port, "\n"));
        },
        absl::Seconds(10)))
        << r.process->ReadStdout();
    EXPECT_TRUE(
        absl::StrContains(r.process->ReadStdout(),
                          absl::StrCat("listening on ", r.target(), "\n")))
        << r.process->ReadStdout();
    EXPECT_EQ(access((r.dir + "/data").c_str(), W_OK), 0);

    // /metrics before the health call.
    const std::vector<std::string> check_ok = {
        "method=\"/grpc.health.v1.Health/Check\"", "code=\"OK\""};
    const std::string requests =
        absl::StrCat("continuum_", r.name, "_rpc_requests_total");
    absl::StatusOr<std::string> before =
        HttpGet("127.0.0.1", r.metrics_port, "/metrics");
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_EQ(
        FindSample(*before, absl::StrCat("continuum_", r.name, "_build_info")),
        1.0)
        << *before;
    double checks_before = FindSample(*before, requests, check_ok).value_or(0);

    // Health: SERVING, but for the inference pod, which serves no model
    // (it has no registry here) and stays NOT_SERVING, as readiness should.
    const bool serves = std::string(r.name) != "inference";
    const auto expected =
        serves ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(r.target(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    HealthCheckResponse response;
    grpc::Status status =
        stub->Check(&context, HealthCheckRequest(), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.status(), expected);

    // The per-RPC metrics moved by exactly that call.
    absl::StatusOr<std::string> after =
        HttpGet("127.0.0.1", r.metrics_port, "/metrics");
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(FindSample(*after, requests, check_ok).value_or(0),
              checks_before + 1)
        << *after;
    EXPECT_GE(FindSample(*after,
                         absl::StrCat("continuum_", r.name,
                                      "_rpc_duration_seconds_count"),
                         {check_ok[0]})
                  .value_or(0),
              1);

    // Server reflection lists the services and describes them.
    absl::StatusOr<std::vector<std::string>> listed =
        ReflectServices(r.target());
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_THAT(*listed, ::testing::IsSupersetOf(
                             {"grpc.health.v1.Health",
                              "grpc.reflection.v1alpha.ServerReflection"}));

    // The operator CLI sees the same.
    std::string out;
    EXPECT_EQ(
        RunCommand({Binary("continuumctl"), "health", "--target=" + r.target()},
                   r.dir, "ctl_health", &out),
        serves ? 0 : 1);
    EXPECT_EQ(out, r.target() + (serves ? " SERVING\n" : " NOT_SERVING\n"));

    // A Watch stream stays open: an in-flight call the drain must wait for.
    watch_contexts.push_back(std::make_unique<grpc::ClientContext>());
    watches.push_back(
        stub->Watch(watch_contexts.back().get(), HealthCheckRequest()));
    ASSERT_TRUE(watches.back()->Read(&response));
    EXPECT_EQ(response.status(), expected);
  }

  // SIGTERM to all five: each drains (waiting for its Watch call up to the
  // grace, then cancelling it) and exits 0.
  absl::Time signalled = absl::Now();
  for (Running& r : services) ASSERT_TRUE(r.process->Signal(SIGTERM).ok());
  std::map<std::string, absl::Duration> took;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (Running& r : services) {
          if (!took.contains(r.name) && r.process->Exited()) {
            took[r.name] = absl::Now() - signalled;
          }
        }
        return took.size() == services.size();
      },
      grace + absl::Seconds(20)));
  for (Running& r : services) {
    SCOPED_TRACE(r.name);
    absl::StatusOr<int> exit_status = r.process->Wait(absl::Seconds(1));
    ASSERT_TRUE(exit_status.ok());
    ASSERT_TRUE(WIFEXITED(*exit_status)) << r.process->ReadStderr();
    EXPECT_EQ(WEXITSTATUS(*exit_status), 0) << r.process->ReadStderr();
    EXPECT_TRUE(absl::StrContains(r.process->ReadStderr(), "received SIGTERM"));
    // It waited for the in-flight call (the grace); that it then exits is
    // the WaitFor above (how soon after the grace is a timing, not asserted).
    EXPECT_GE(took[r.name], grace - absl::Milliseconds(100));
  }
  for (auto& watch : watches) {
    HealthCheckResponse response;
    while (watch->Read(&response)) {
    }
    EXPECT_FALSE(watch->Finish().ok());
  }
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

  // A bad value in the file is named with its line.
  ASSERT_TRUE(
      testing::WriteFile(path, "server {\n\n  listen: \"nowhere\"\n}\n").ok());
  code = RunCommand({Binary("continuum-" + GetParam()), "--config=" + path,
                     "--data_dir=" + dir_ + "/data"},
                    dir_, "badvalue", nullptr, &err);
  EXPECT_EQ(code, 2) << err;
  EXPECT_TRUE(absl::StrContains(err, path + ":3:3: server.listen: 'nowhere'"))
      << err;

  // A bad value given by flag is named too.
  code = RunCommand({Binary("continuum-" + GetParam()), "--listen=nowhere",
                     "--data_dir=" + dir_ + "/data"},
                    dir_, "badflag", nullptr, &err);
  EXPECT_EQ(code, 2) << err;
  EXPECT_TRUE(absl::StrContains(err, "flag --listen: server.listen")) << err;
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
