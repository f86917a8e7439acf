// continuumctl model init/inspect on real files: a fresh bundle is valid, a
// flipped byte is caught by the CRC, bad arguments are usage errors.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::CommandResult;
using ::continuum::testing::RunCommand;

const std::string kCtl = absl::StrCat(CONTINUUM_BIN_DIR, "/continuumctl");

TEST(ModelCliTest, InitInspectAndCorruption) {
  std::string dir = testing::MakeTempDir("model_cli_");
  std::string bundle = dir + "/fashion.bundle";
  CommandResult r = RunCommand(
      {kCtl, "model", "init", "--family=mlp_classifier", "--inputs=784",
       "--classes=10", "--hidden=256", "--seed=3", "--output=" + bundle},
      dir, "init");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "mlp_classifier 784 -> 256 -> 10"))
      << r.out;

  r = RunCommand({kCtl, "model", "inspect", bundle}, dir, "inspect");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "layers.0.weight  [256, 784]")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "(verified)")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "valid: yes")) << r.out;

  // The same seed writes the same bytes.
  std::string again = dir + "/again.bundle";
  ASSERT_EQ(RunCommand({kCtl, "model", "init", "--family=mlp_classifier",
                        "--inputs=784", "--classes=10", "--hidden=256",
                        "--seed=3", "--output=" + again},
                       dir, "init2")
                .exit_code,
            0);
  // (create_time differs; the weights do not.)
  auto weight_rows = [&](const std::string& path) {
    std::string rows;
    for (absl::string_view line : absl::StrSplit(
             RunCommand({kCtl, "model", "inspect", path}, dir, "rows").out,
             '\n')) {
      if (absl::StartsWith(line, "weights")) absl::StrAppend(&rows, line, "\n");
    }
    return rows;
  };
  EXPECT_FALSE(weight_rows(bundle).empty());
  EXPECT_EQ(weight_rows(bundle), weight_rows(again));
  std::string a = testing::ReadFile(bundle).value_or("");

  // One flipped byte in the middle.
  {
    std::fstream f(bundle, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(a.size() / 2));
    f.put(static_cast<char>(a[a.size() / 2] ^ 0x40));
  }
  r = RunCommand({kCtl, "model", "inspect", bundle}, dir, "corrupt");
  EXPECT_EQ(r.exit_code, 2) << r.out;
  EXPECT_TRUE(absl::StrContains(r.err, "CRC")) << r.err;

  r = RunCommand({kCtl, "model", "init", "--family=cnn", "--inputs=4",
                  "--classes=2", "--output=" + dir + "/x"},
                 dir, "badfamily");
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({kCtl, "model", "inspect"}, dir, "nofile");
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace continuum
