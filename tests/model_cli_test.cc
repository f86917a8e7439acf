// continuumctl model init/inspect on real files: a fresh bundle is valid, a
// flipped byte is caught by the CRC, bad arguments are usage errors. model
// fit/predict on CSV files: a forecaster and a classifier trained without
// the services, and run.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
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

// The numbers of one CSV line.
std::vector<double> Numbers(absl::string_view line) {
  std::vector<double> out;
  for (absl::string_view cell : absl::StrSplit(line, ',')) {
    double v = 0;
    EXPECT_TRUE(absl::SimpleAtod(cell, &v)) << line;
    out.push_back(v);
  }
  return out;
}

TEST(ModelCliTest, FitAndPredictAForecasterOnCsv) {
  std::string dir = testing::MakeTempDir("model_fit_");
  // Two servers' hourly load over 12 days: a daily cycle and noise.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0, 0.5);
  std::string csv = "event_time,series,cpu,hour_sin\n";
  std::string window = "cpu,hour_sin\n";
  const int hours = 12 * 24;
  for (int s = 0; s < 2; ++s) {
    for (int k = 0; k < hours; ++k) {
      const double phase = 2 * M_PI * (k % 24) / 24;
      const std::string row = absl::StrCat(
          20 + 10 * s + 8 * std::sin(phase) + noise(rng), ",", std::sin(phase));
      absl::StrAppend(&csv, 1764547200 + 3600 * k, ",web-", s, ",", row, "\n");
      if (s == 0 && k >= hours - 24) absl::StrAppend(&window, row, "\n");
    }
  }
  ASSERT_TRUE(testing::WriteFile(dir + "/load.csv", csv).ok());
  ASSERT_TRUE(testing::WriteFile(dir + "/window.csv", window).ok());
  const std::string bundle = dir + "/load.bundle";
  CommandResult r = RunCommand(
      {kCtl, "model", "fit",
       "--spec=family: MODEL_FAMILY_GRU_FORECASTER sequence_length: 24 "
       "horizons: [1, 3] hidden_sizes: 8",
       "--train=" + dir + "/load.csv", "--epochs=6", "--learning_rate=0.01",
       "--output=" + bundle},
      dir, "fit");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "trained gru_forecaster on ")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "windows (by time)")) << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "seasonal naive (season 24 steps)"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "wrote " + bundle)) << r.out;
  r = RunCommand({kCtl, "model", "inspect", bundle}, dir, "inspect");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "gru.weight_ih_l0  [24, 2]")) << r.out;

  // One window in, one line out: 2 horizons x 1 series x 3 quantiles, each
  // horizon's quantiles in order, the median near the noiseless load at
  // the next hour (hour 0 of a day: 20).
  r = RunCommand({kCtl, "model", "predict", bundle,
                  "--input=" + dir + "/window.csv"},
                 dir, "predict");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 1u) << r.out;
  const std::vector<double> q = Numbers(lines[0]);
  ASSERT_EQ(q.size(), 6u);
  EXPECT_LE(q[0], q[1]);
  EXPECT_LE(q[1], q[2]);
  EXPECT_LE(q[3], q[4]);
  EXPECT_LE(q[4], q[5]);
  EXPECT_NEAR(q[1], 20, 3) << lines[0];

  // A forecaster's rows are time steps: without event_time, a usage error.
  ASSERT_TRUE(
      testing::WriteFile(dir + "/untimed.csv", "cpu,hour_sin\n1,0\n2,1\n")
          .ok());
  r = RunCommand({kCtl, "model", "fit",
                  "--spec=family: MODEL_FAMILY_GRU_FORECASTER",
                  "--train=" + dir + "/untimed.csv", "--output=" + dir + "/x"},
                 dir, "untimed");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "no event_time column")) << r.err;
}

TEST(ModelCliTest, FitAndPredictAClassifierOnCsv) {
  std::string dir = testing::MakeTempDir("model_fit_");
  // Two classes on either side of x0 + x1 = 0.
  std::mt19937_64 rng(9);
  std::normal_distribution<double> normal(0, 1);
  std::string csv = "x0,x1,label\n";
  for (int i = 0; i < 600; ++i) {
    const double a = normal(rng), b = normal(rng);
    absl::StrAppend(&csv, a, ",", b, ",", a + b > 0 ? 1 : 0, "\n");
  }
  ASSERT_TRUE(testing::WriteFile(dir + "/points.csv", csv).ok());
  ASSERT_TRUE(testing::WriteFile(dir + "/rows.csv", "2,2\n-2,-2\n").ok());
  const std::string bundle = dir + "/points.bundle";
  CommandResult r = RunCommand(
      {kCtl, "model", "fit",
       "--spec=family: MODEL_FAMILY_MLP_CLASSIFIER hidden_sizes: 8",
       "--train=" + dir + "/points.csv", "--epochs=30", "--learning_rate=0.02",
       "--output=" + bundle},
      dir, "fit");
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "trained mlp_classifier on 540 rows"))
      << r.out;
  const size_t at = r.out.find("accuracy ");
  ASSERT_NE(at, std::string::npos) << r.out;
  double accuracy = 0;
  ASSERT_TRUE(absl::SimpleAtod(r.out.substr(at + 9, 6), &accuracy)) << r.out;
  EXPECT_GT(accuracy, 0.9) << r.out;

  r = RunCommand({kCtl, "model", "predict", bundle,
                  "--input=" + dir + "/rows.csv"},
                 dir, "predict");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << r.out;
  const std::vector<double> p0 = Numbers(lines[0]);
  const std::vector<double> p1 = Numbers(lines[1]);
  ASSERT_EQ(p0.size(), 2u);
  EXPECT_NEAR(p0[0] + p0[1], 1, 1e-4);
  EXPECT_GT(p0[1], 0.9) << lines[0];
  EXPECT_GT(p1[0], 0.9) << lines[1];
}

}  // namespace
}  // namespace continuum
