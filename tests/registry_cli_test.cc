// continuumctl against a real continuum-registry process: register, upload
// with a report, list, download, a rejected candidate, rollback, audit verify.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/util/plain_bundle.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

using Result = ::continuum::testing::CommandResult;

Result Ctl(const std::vector<std::string>& args, const std::string& dir,
           const std::string& target) {
  static int runs = 0;
  std::vector<std::string> argv = {
      absl::StrCat(CONTINUUM_BIN_DIR, "/continuumctl")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--target=" + target);
  return ::continuum::testing::RunCommand(argv, dir,
                                          absl::StrCat("ctl", ++runs));
}

TEST(RegistryCliTest, TheOperatorWorkflow) {
  std::string dir = testing::MakeTempDir("registry_cli_");
  std::string port_file = dir + "/port";
  auto server =
      Subprocess::Start({absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-registry"),
                         "--data_dir=" + dir + "/data",
                         "--port_file=" + port_file, "--metrics_listen="},
                        dir, "registry");
  ASSERT_TRUE(server.ok());
  const int port = testing::WaitForPortFile(port_file, **server);
  ASSERT_GT(port, 0) << (*server)->ReadStderr();
  const std::string target = absl::StrCat("127.0.0.1:", port);

  Result r = Ctl({"models", "register", "--model=fraud", "--plan=immediate"},
                 dir, target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(
      testing::WriteFile(
          dir + "/good.json",
          R"({"evaluations":[{"evaluationSet":"held_out","candidate":{"loss":0.3,"accuracy":0.9,"sampleCount":500},"baseline":{"loss":0.3,"accuracy":0.9,"sampleCount":500}}]})")
          .ok());
  ASSERT_TRUE(
      testing::WriteFile(
          dir + "/bad.json",
          R"({"evaluations":[{"evaluationSet":"held_out","candidate":{"loss":0.9,"accuracy":0.5,"sampleCount":500},"baseline":{"loss":0.3,"accuracy":0.9,"sampleCount":500}}]})")
          .ok());
  for (int v = 1; v <= 2; ++v) {
    ASSERT_TRUE(
        testing::WriteFile(dir + "/model.bin",
                           testing::PlainClassifierBytes(64, 3, 128, v))
            .ok());
    r = Ctl({"upload", "--model=fraud", "--file=" + dir + "/model.bin",
             "--report=" + dir + "/good.json"},
            dir, target);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(absl::StrContains(
        r.out, absl::StrCat("uploaded models/fraud/versions/", v)))
        << r.out;
    EXPECT_TRUE(absl::StrContains(r.out, "approved")) << r.out;
  }
  // A bad candidate: the gates say why, production stays.
  ASSERT_TRUE(testing::WriteFile(dir + "/model.bin",
                                 testing::PlainClassifierBytes(64, 3, 128, 3))
                  .ok());
  r = Ctl({"upload", "--model=fraud", "--file=" + dir + "/model.bin"}, dir,
          target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Ctl({"validate", "--model=fraud", "--version=3",
           "--report=" + dir + "/bad.json"},
          dir, target);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(absl::StrContains(r.out, "is now REJECTED")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "max_accuracy_drop_points")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "FAILED")) << r.out;

  r = Ctl({"versions", "list", "--model=fraud"}, dir, target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "PRODUCTION")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "ARCHIVED")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "REJECTED")) << r.out;

  r = Ctl({"download", "--model=fraud", "--version=1",
           "--output=" + dir + "/back.bin"},
          dir, target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFile(dir + "/back.bin").value_or(""),
            testing::PlainClassifierBytes(64, 3, 128, 1));

  // What a pod could not serve is refused at upload, saying why, and stored
  // nowhere: a CSV, and a regressor for a classifier.
  ASSERT_TRUE(testing::WriteFile(dir + "/data.csv", "id,label,f0\n1,0,0.5\n")
                  .ok());
  v1::ModelSpec regressor;
  regressor.set_family(v1::MODEL_FAMILY_MLP_REGRESSOR);
  regressor.set_input_dim(64);
  regressor.set_output_dim(1);
  ASSERT_TRUE(testing::WriteFile(dir + "/regressor.bundle",
                                 testing::PlainBundleBytes(regressor))
                  .ok());
  for (const auto& [file, why] :
       {std::pair{"data.csv", "is not a Continuum model bundle"},
        std::pair{"regressor.bundle",
                  "is a mlp_regressor bundle; model fraud is a "
                  "mlp_classifier"}}) {
    r = Ctl({"upload", "--model=fraud", absl::StrCat("--file=", dir, "/", file)},
            dir, target);
    EXPECT_NE(r.exit_code, 0) << file;
    EXPECT_TRUE(absl::StrContains(r.err, why)) << r.err;
  }
  r = Ctl({"versions", "get", "--version=models/fraud/versions/4"}, dir,
          target);
  EXPECT_NE(r.exit_code, 0) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "does not exist")) << r.err;

  r = Ctl({"rollback", "--model=fraud"}, dir, target);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--reason is required")) << r.err;
  r = Ctl({"rollback", "--model=fraud", "--reason=latency regression"}, dir,
          target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(
      absl::StrContains(r.out, "rolled back from version 2 to version 1"))
      << r.out;

  // Rollout status: one line, and no empty "()" when there is no message.
  r = Ctl({"rollout", "status", "--model=fraud"}, dir, target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "rollout of version ") ||
              absl::StartsWith(r.out, "no rollout"))
      << r.out;
  EXPECT_FALSE(absl::StrContains(r.out, "()")) << r.out;

  r = Ctl({"audit", "verify"}, dir, target);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StartsWith(r.out, "audit chain verified: ")) << r.out;

  r = Ctl({"models", "get", "--model=nope"}, dir, target);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(r.err, "not registered")) << r.err;

  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  auto status = (*server)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace continuum
