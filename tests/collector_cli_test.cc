// continuumctl against a real continuum-collector process: create a data
// set, ingest a CSV with bad lines, export it back, read the statistics.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

std::string Binary(const std::string& name) {
  return absl::StrCat(CONTINUUM_BIN_DIR, "/", name);
}

using Result = ::continuum::testing::CommandResult;

Result RunCli(const std::vector<std::string>& argv, const std::string& dir,
              const std::string& name) {
  return ::continuum::testing::RunCommand(argv, dir, name);
}

TEST(CollectorCliTest, CreateIngestExportStats) {
  std::string dir = testing::MakeTempDir("collector_cli_");
  std::string port_file = dir + "/port";
  auto server = Subprocess::Start(
      {Binary("continuum-collector"), "--data_dir=" + dir + "/data",
       "--port_file=" + port_file},
      dir, "collector");
  ASSERT_TRUE(server.ok());
  const int port = testing::WaitForPortFile(port_file, **server);
  ASSERT_GT(port, 0) << (*server)->ReadStderr();
  const std::string target = absl::StrCat("--target=127.0.0.1:", port);
  const std::string ctl = Binary("continuumctl");

  Result created =
      RunCli({ctl, "datasets", "create", target, "--dataset=traffic",
              "--features=2", "--label_kind=class", "--classes=3"},
             dir, "create");
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "created datasets/traffic\n");
  Result again = RunCli({ctl, "datasets", "create", target, "--dataset=traffic",
                         "--features=2", "--classes=3"},
                        dir, "create_again");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(again.err, "already exists")) << again.err;

  ASSERT_TRUE(testing::WriteFile(dir + "/in.csv",
                                 "id,event_time,label,x,y,attr.site\n"
                                 "a,2026-11-20T10:00:00Z,0,0.5,1.5,eu\n"
                                 "b,2026-11-20T11:00:00Z,,1,2,eu\n"
                                 "c,2026-11-20T12:00:00Z,1,oops,2,us\n"
                                 "d,2026-11-21T10:00:00Z,2,3,4,us\n"
                                 "e,2026-11-21T11:00:00Z,9,5,6,us\n")
                  .ok());
  Result ingested = RunCli({ctl, "ingest", target, "--dataset=traffic",
                            "--csv=" + dir + "/in.csv", "--batch_size=2"},
                           dir, "ingest");
  EXPECT_EQ(ingested.exit_code, 1)
      << ingested.err;  // Some lines were rejected.
  EXPECT_TRUE(
      absl::StrContains(ingested.err, "line 4: rejected: column 4: \"oops\""))
      << ingested.err;
  EXPECT_TRUE(absl::StrContains(ingested.err, "line 6: rejected:"))
      << ingested.err;
  EXPECT_TRUE(absl::StrContains(ingested.err, "class 9 is outside [0, 3)"))
      << ingested.err;
  EXPECT_TRUE(absl::StrContains(ingested.out,
                                "5 lines, 3 stored, 0 duplicates, 2 rejected"))
      << ingested.out;

  // Only the first day, as CSV.
  Result exported =
      RunCli({ctl, "export", target, "--dataset=traffic",
              "--from=2026-11-20T00:00:00Z", "--to=2026-11-21T00:00:00Z",
              "--output=" + dir + "/out.csv"},
             dir, "export");
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::vector<std::string> lines =
      absl::StrSplit(testing::ReadFile(dir + "/out.csv").value_or(""), '\n',
                     absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "id,event_time,label,f0,f1");
  EXPECT_EQ(lines[1], "a,2026-11-20T10:00:00Z,0,0.5,1.5");
  EXPECT_EQ(lines[2], "b,2026-11-20T11:00:00Z,,1,2");

  Result stats =
      RunCli({ctl, "datasets", "stats", target, "--dataset=traffic", "--json"},
             dir, "stats");
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(absl::StrContains(stats.out, "\"record_count\": \"3\""))
      << stats.out;
  EXPECT_TRUE(absl::StrContains(stats.out, "\"labeled_count\": \"2\""))
      << stats.out;

  Result missing = RunCli({ctl, "datasets", "stats", target, "--dataset=nope"},
                          dir, "missing");
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(missing.err, "\"nope\" does not exist"))
      << missing.err;

  ASSERT_TRUE((*server)->Signal(SIGTERM).ok());
  auto status = (*server)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace continuum
