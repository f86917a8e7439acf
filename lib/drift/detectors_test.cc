// The streaming detectors against River's published expectations (its
// docstring examples and its test suite, on the same input streams, rebuilt
// with bit-exact copies of Python's and numpy's generators) and against
// detection points derived by hand from the algorithms' definitions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <vector>

#include "absl/strings/match.h"
#include "lib/drift/adwin.h"
#include "lib/drift/binary_detectors.h"
#include "lib/drift/ks.h"
#include "lib/drift/kswin.h"
#include "lib/drift/page_hinkley.h"
#include "lib/drift/python_random.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// ---------------------------------------------------------------- streams

// rng.choices(population, k=k) (+ weights) with CPython's random.Random.
void AppendChoices(PythonRandom& rng, const std::vector<double>& population,
                   int k, std::vector<double>* out,
                   const std::vector<double>& weights = {}) {
  for (int i = 0; i < k; ++i) {
    const int index = weights.empty()
                          ? rng.Choice(static_cast<int>(population.size()))
                          : rng.WeightedChoice(weights);
    out->push_back(population[index]);
  }
}

// River's docstring stream for ADWIN, Page-Hinkley and KSWIN:
// rng = random.Random(seed); rng.choices([0, 1], k=1000) +
// rng.choices(range(4, 8), k=1000) [repeated].
std::vector<double> TwoDistributions(uint64_t seed, int repeats = 1) {
  PythonRandom rng(seed);
  std::vector<double> stream;
  for (int r = 0; r < repeats; ++r) {
    AppendChoices(rng, {0, 1}, 1000, &stream);
    AppendChoices(rng, {4, 5, 6, 7}, 1000, &stream);
  }
  return stream;
}

// River's docstring stream for the binary detectors: rng = Random(42);
// rng.choices([0, 1], k=1000) + rng.choices([0, 1], k=1000,
// weights=[0.3, 0.7]).
std::vector<double> BinaryDocStream() {
  PythonRandom rng(42);
  std::vector<double> stream;
  AppendChoices(rng, {0, 1}, 1000, &stream);
  AppendChoices(rng, {0, 1}, 1000, &stream, {0.3, 0.7});
  return stream;
}

// river/drift/test_drift_detectors.py: data_stream_1..3 after
// np.random.seed(12345).
std::vector<double> NumpyStream1() {
  NumpyRandomState np(12345);
  std::vector<double> s;
  for (int i = 0; i < 1000; ++i) s.push_back(np.RandInt(0, 2));
  for (int i = 0; i < 1000; ++i) s.push_back(np.RandInt(0, 8));
  return s;
}

std::vector<double> NumpyStream2() {
  NumpyRandomState np(12345);
  std::vector<double> s;
  for (int i = 0; i < 1000; ++i) s.push_back(np.Binomial(1, 0.2));
  for (int i = 0; i < 1000; ++i) s.push_back(np.Binomial(1, 0.8));
  return s;
}

std::vector<double> NumpyStream3() {
  NumpyRandomState np(12345);
  std::vector<double> s;
  for (double loc : {0.0, 0.25, 0.0, 0.25}) {
    for (int i = 0; i < 500; ++i) s.push_back(np.Normal(loc, 0.1) > 0 ? 1 : 0);
  }
  return s;
}

std::vector<int> Drifts(StreamingDetector& d, const std::vector<double>& s) {
  std::vector<int> out;
  for (size_t i = 0; i < s.size(); ++i) {
    d.Update(s[i]);
    if (d.drift_detected()) out.push_back(static_cast<int>(i));
  }
  return out;
}

// River's docstring loop for the binary detectors: the first warning after
// the start or after each drift, and every drift, as ("w"|"d", index).
std::vector<std::pair<char, int>> DocstringEvents(
    StreamingDetector& d, const std::vector<double>& s) {
  std::vector<std::pair<char, int>> events;
  bool print_warning = true;
  for (size_t i = 0; i < s.size(); ++i) {
    d.Update(s[i]);
    if (d.warning_detected() && print_warning) {
      events.push_back({'w', static_cast<int>(i)});
      print_warning = false;
    }
    if (d.drift_detected()) {
      events.push_back({'d', static_cast<int>(i)});
      print_warning = true;
    }
  }
  return events;
}

std::unique_ptr<StreamingDetector> Make(
    absl::string_view name, const std::map<std::string, std::string>& p = {}) {
  auto d = MakeDetector(name, p);
  EXPECT_TRUE(d.ok()) << d.status();
  return d.ok() ? std::move(*d) : nullptr;
}

// ---------------------------------------------------------------- generators

TEST(PythonRandomTest, MatchesCPython) {
  PythonRandom r(12345);
  EXPECT_EQ(r.Random(), 0.41661987254534116);
  EXPECT_EQ(r.Random(), 0.010169169457068361);
  EXPECT_EQ(r.Random(), 0.8252065092537432);
  PythonRandom bits(42);
  EXPECT_EQ(bits.GetRandBits(32), 2746317213u);
  EXPECT_EQ(bits.GetRandBits(7), 14u);
  EXPECT_EQ(PythonRandom((uint64_t{1} << 40) + 5).Random(), 0.5043802970418443);
  std::vector<int> sample;
  PythonRandom(42).SampleRange(70, 30, &sample);
  EXPECT_THAT(sample, ElementsAre(14, 3, 35, 31, 28, 17, 13, 43, 47, 57, 34, 5,
                                  37, 27, 2, 1, 58, 63, 69, 32, 38, 54, 67, 12,
                                  45, 41, 59, 26, 51, 65));
  // The set-based branch of sample() (population larger than the set).
  PythonRandom(1).SampleRange(1000, 5, &sample);
  EXPECT_THAT(sample, ElementsAre(137, 582, 867, 821, 782));
}

TEST(NumpyRandomStateTest, MatchesNumpyLegacy) {
  NumpyRandomState a(12345);
  std::vector<int64_t> v;
  for (int i = 0; i < 5; ++i) v.push_back(a.RandInt(0, 2));
  for (int i = 0; i < 5; ++i) v.push_back(a.RandInt(4, 8));
  EXPECT_THAT(v, ElementsAre(0, 1, 1, 1, 0, 5, 6, 6, 5, 6));
  NumpyRandomState b(12345);
  v.clear();
  for (int i = 0; i < 10; ++i) v.push_back(b.Binomial(1, 0.2));
  for (int i = 0; i < 10; ++i) v.push_back(b.Binomial(1, 0.8));
  EXPECT_THAT(v, ElementsAre(1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 0,
                             0, 0, 1));
  NumpyRandomState c(12345);
  EXPECT_NEAR(c.Normal(0.0, 0.1), -0.02047077, 1e-8);
  EXPECT_NEAR(c.Normal(0.0, 0.1), 0.04789433, 1e-8);
  EXPECT_NEAR(c.Normal(0.0, 0.1), -0.05194387, 1e-8);
  NumpyRandomState d(7);
  EXPECT_EQ(d.RandInt(0, int64_t{1} << 32), 327741615);
}

// ---------------------------------------------------------------- River's docs

TEST(RiverDocstringTest, Adwin) {
  Adwin adwin;
  EXPECT_THAT(Drifts(adwin, TwoDistributions(12345)), ElementsAre(1023));
}

TEST(RiverDocstringTest, PageHinkley) {
  PageHinkley ph;
  EXPECT_THAT(Drifts(ph, TwoDistributions(12345)), ElementsAre(1006));
}

TEST(RiverDocstringTest, Kswin) {
  KswinOptions o;
  o.alpha = 0.0001;
  o.seed = 42;
  Kswin kswin(o);
  EXPECT_THAT(Drifts(kswin, TwoDistributions(12345)), ElementsAre(1016));
}

TEST(RiverDocstringTest, Ddm) {
  Ddm ddm;
  EXPECT_THAT(DocstringEvents(ddm, BinaryDocStream()),
              ElementsAre(std::pair{'w', 1084}, std::pair{'d', 1334},
                          std::pair{'w', 1492}));
}

TEST(RiverDocstringTest, Eddm) {
  EddmOptions o;
  o.alpha = 0.8;
  o.beta = 0.75;
  Eddm eddm(o);
  EXPECT_THAT(DocstringEvents(eddm, BinaryDocStream()),
              ElementsAre(std::pair{'w', 1059}, std::pair{'d', 1278}));
}

TEST(RiverDocstringTest, HddmA) {
  HddmA hddm;
  EXPECT_THAT(DocstringEvents(hddm, BinaryDocStream()),
              ElementsAre(std::pair{'w', 451}, std::pair{'d', 1206}));
}

TEST(RiverDocstringTest, HddmW) {
  HddmW hddm;
  EXPECT_THAT(DocstringEvents(hddm, BinaryDocStream()),
              ElementsAre(std::pair{'w', 451}, std::pair{'d', 1077}));
}

// river/drift/test_adwin_regression.py, test_multiple_drifts.
TEST(RiverTestSuiteTest, AdwinMultipleDrifts) {
  Adwin adwin;
  EXPECT_THAT(Drifts(adwin, TwoDistributions(42, 2)),
              ElementsAre(1023, 2015, 3007));
}

// ---------------------------------------------------------------- River's
// tests

TEST(RiverTestSuiteTest, Adwin) {
  Adwin adwin;
  EXPECT_THAT(Drifts(adwin, NumpyStream1()), ElementsAre(1023));
}

TEST(RiverTestSuiteTest, Ddm) {
  Ddm ddm;
  EXPECT_THAT(Drifts(ddm, NumpyStream2()), ElementsAre(1049));
  Ddm ones;
  EXPECT_THAT(Drifts(ones, std::vector<double>(1000, 1.0)), IsEmpty());
}

TEST(RiverTestSuiteTest, Eddm) {
  Eddm eddm({.warm_start = 30, .alpha = 0.9, .beta = 0.8});
  EXPECT_THAT(Drifts(eddm, NumpyStream2()), ElementsAre(1059));
}

TEST(RiverTestSuiteTest, HddmA) {
  HddmA one_sided;
  EXPECT_THAT(Drifts(one_sided, NumpyStream2()), ElementsAre(1047));
  HddmA two_sided({.two_sided_test = true});
  EXPECT_THAT(Drifts(two_sided, NumpyStream3()), ElementsAre(531, 1015, 1545));
}

TEST(RiverTestSuiteTest, HddmW) {
  HddmW one_sided;
  EXPECT_THAT(Drifts(one_sided, NumpyStream2()), ElementsAre(1018));
  HddmW two_sided({.two_sided_test = true});
  EXPECT_THAT(Drifts(two_sided, NumpyStream3()), ElementsAre(507, 1032, 1508));
}

TEST(RiverTestSuiteTest, Kswin) {
  Kswin kswin(
      {.alpha = 0.0001, .window_size = 200, .stat_size = 100, .seed = 42});
  EXPECT_THAT(Drifts(kswin, NumpyStream1()), ElementsAre(1042));
}

TEST(RiverTestSuiteTest, PageHinkley) {
  PageHinkley up({.mode = PageHinkleyMode::kUp});
  EXPECT_THAT(Drifts(up, NumpyStream3()), ElementsAre(588, 1681));
  PageHinkley down({.mode = PageHinkleyMode::kDown});
  EXPECT_THAT(Drifts(down, NumpyStream3()), ElementsAre(1172));
  PageHinkley both({.mode = PageHinkleyMode::kBoth});
  EXPECT_THAT(Drifts(both, NumpyStream3()), ElementsAre(588, 1097, 1585));
}

// ---------------------------------------------------------------- properties

TEST(AllDetectorsTest, ConstantStreamsNeverDrift) {
  for (const std::string& name : DetectorNames()) {
    for (double value : {0.0, 1.0, 0.25}) {
      auto d =
          Make(name, name == "kswin"
                         ? std::map<std::string, std::string>{{"seed", "1"}}
                         : std::map<std::string, std::string>{});
      int drifts = 0;
      int warnings = 0;
      for (int i = 0; i < 20000; ++i) {
        d->Update(value);
        drifts += d->drift_detected();
        warnings += d->warning_detected();
      }
      EXPECT_EQ(drifts, 0) << name << " on " << value;
      EXPECT_EQ(warnings, 0) << name << " on " << value;
    }
  }
}

// An abrupt change of the error rate from 10 % to 90 % (a deterministic
// pattern: 1 error in every 10, then 9 in every 10) is found within 100
// observations by every detector but EDDM (within 500), and not before it.
TEST(AllDetectorsTest, AbruptRateShiftIsDetectedSoon) {
  std::vector<double> stream;
  for (int i = 0; i < 3000; ++i) stream.push_back(i % 10 == 9 ? 1 : 0);
  for (int i = 0; i < 3000; ++i) stream.push_back(i % 10 == 9 ? 0 : 1);
  for (const std::string& name : DetectorNames()) {
    auto d = Make(name, name == "kswin"
                            ? std::map<std::string, std::string>{{"seed", "7"}}
                            : std::map<std::string, std::string>{});
    std::vector<int> drifts = Drifts(*d, stream);
    ASSERT_FALSE(drifts.empty()) << name;
    EXPECT_GE(drifts.front(), 3000) << name;
    // EDDM's mean distance between errors is cumulative since the last
    // reset (3000 observations of distance 10 here), so it needs ~400
    // observations to fall far enough.
    EXPECT_LT(drifts.front(), name == "eddm" ? 3500 : 3100) << name;
  }
}

// A shift of the mean of a real-valued stream (for the detectors of means).
// KSWIN tests every update at level alpha, so on 5000 stationary
// observations it raises false alarms by design (River's docstring lowers
// alpha to 0.0001 for that reason): for it the test asks only for a
// detection within 100 observations of the change.
TEST(AllDetectorsTest, AbruptMeanShiftIsDetectedSoon) {
  PythonRandom rng(3);
  std::vector<double> stream;
  for (int i = 0; i < 5000; ++i) stream.push_back(rng.Random());
  for (int i = 0; i < 5000; ++i) stream.push_back(3.0 + rng.Random());
  for (const char* name : {"adwin", "page_hinkley"}) {
    auto d = Make(name);
    std::vector<int> drifts = Drifts(*d, stream);
    ASSERT_FALSE(drifts.empty()) << name;
    EXPECT_GE(drifts.front(), 5000) << name;
    EXPECT_LT(drifts.front(), 5100) << name;
  }
  auto kswin = Make("kswin", {{"seed", "7"}});
  std::vector<int> drifts = Drifts(*kswin, stream);
  EXPECT_TRUE(std::any_of(drifts.begin(), drifts.end(),
                          [](int i) { return i >= 5000 && i < 5100; }));
}

TEST(AdwinTest, WindowKeepsGrowingOnAStationaryStream) {
  Adwin adwin;
  PythonRandom rng(11);
  double sum = 0;
  for (int i = 1; i <= 100000; ++i) {
    const double x = rng.Random() < 0.3 ? 1.0 : 0.0;
    sum += x;
    adwin.Update(x);
    ASSERT_FALSE(adwin.drift_detected()) << i;
    ASSERT_EQ(adwin.width(), i);
  }
  EXPECT_DOUBLE_EQ(adwin.total(), sum);
  EXPECT_NEAR(adwin.estimation(), sum / 100000, 1e-12);
  // 100000 observations in rows of at most 5 buckets of 2^i each.
  EXPECT_LE(adwin.rows(), 16);
}

TEST(AdwinTest, StatisticsMatchTheWindow) {
  // River's test_total_and_estimation / test_variance_correctness: the
  // variance is the sum of squared deviations, not divided by the width.
  Adwin adwin({.clock = 1000000});
  std::vector<double> values;
  for (int i = 0; i < 200; ++i) values.push_back(i % 7);
  for (double v : values) adwin.Update(v);
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / 200;
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  EXPECT_EQ(adwin.width(), 200);
  EXPECT_DOUBLE_EQ(adwin.total(),
                   std::accumulate(values.begin(), values.end(), 0.0));
  EXPECT_NEAR(adwin.variance(), ss, 1e-9 * ss);
}

TEST(AdwinTest, WindowHoldsTheNewestObservations) {
  // After every update, total() is the sum of the newest width()
  // observations since the last reset (drops remove the oldest buckets).
  Adwin adwin({.clock = 1});
  PythonRandom rng(5);
  std::vector<double> since_reset;
  int drifts = 0;
  for (int i = 0; i < 20000; ++i) {
    if (adwin.drift_detected()) since_reset.clear();
    const double x = (i / 2500) % 2 == 0 ? rng.Random() : 2 + rng.Random();
    since_reset.push_back(x);
    adwin.Update(x);
    drifts += adwin.drift_detected();
    const auto w = static_cast<size_t>(adwin.width());
    ASSERT_LE(w, since_reset.size());
    const double newest =
        std::accumulate(since_reset.end() - w, since_reset.end(), 0.0);
    ASSERT_NEAR(adwin.total(), newest, 1e-9 * (1 + std::fabs(newest))) << i;
  }
  EXPECT_GE(drifts, 7);
}

// The AVX evaluation of the cuts gives the same bits as the scalar one.
TEST(AdwinTest, VectorAndScalarPathsAgreeBitForBit) {
  PythonRandom rng(9);
  std::vector<double> stream;
  for (int i = 0; i < 200000; ++i) {
    const double level = (i / 20000) % 3;
    stream.push_back(level + rng.Random() * (1 + (i / 50000)));
  }
  for (int clock : {1, 32}) {
    Adwin vector({.clock = clock});
    Adwin scalar({.clock = clock});
    int drifts = 0;
    for (double x : stream) {
      Adwin::AllowVectorInstructions(true);
      vector.Update(x);
      Adwin::AllowVectorInstructions(false);
      scalar.Update(x);
      ASSERT_EQ(vector.drift_detected(), scalar.drift_detected());
      ASSERT_EQ(vector.width(), scalar.width());
      ASSERT_EQ(vector.total(), scalar.total());
      ASSERT_EQ(vector.variance(), scalar.variance());
      drifts += vector.drift_detected();
    }
    EXPECT_GE(drifts, 9) << clock;
  }
  Adwin::AllowVectorInstructions(false);
  Adwin scalar_only;
  EXPECT_THAT(Drifts(scalar_only, NumpyStream1()), ElementsAre(1023));
  Adwin::AllowVectorInstructions(true);
}

TEST(AdwinTest, ResetsOnTheUpdateAfterADrift) {
  // River's test_reset_on_drift_detected.
  Adwin adwin({.clock = 1});
  for (int i = 0; i < 500; ++i) adwin.Update(0.0);
  bool found = false;
  for (int i = 0; i < 500 && !found; ++i) {
    adwin.Update(100.0);
    found = adwin.drift_detected();
  }
  ASSERT_TRUE(found);
  EXPECT_EQ(adwin.n_detections(), 1);
  adwin.Update(50.0);
  EXPECT_FALSE(adwin.drift_detected());
  EXPECT_EQ(adwin.width(), 1);
  EXPECT_EQ(adwin.total(), 50.0);
  EXPECT_EQ(adwin.n_detections(), 0);
}

TEST(AdwinTest, GracePeriodAndEmptyEstimation) {
  Adwin empty;
  EXPECT_EQ(empty.estimation(), 0.0);
  Adwin adwin({.clock = 1, .grace_period = 100});
  for (int i = 0; i < 50; ++i) adwin.Update(0.0);
  for (int i = 0; i < 50; ++i) adwin.Update(1000.0);
  EXPECT_EQ(adwin.n_detections(), 0);
}

// Page-Hinkley by hand, alpha = 1, delta = 0, min_instances = 1, mode up,
// threshold 1: ten zeros then ones. At the j-th one (index 10 + j) the mean
// is (j + 1) / (11 + j), each deviation 10 / (11 + i), and the sum
// 10/11 + 10/12 = 1.74 first exceeds 1 at j = 1: index 11. The detector
// then resets and a stream of ones alone never drifts.
TEST(PageHinkleyTest, HandComputedDetection) {
  std::vector<double> up_stream(10, 0.0);
  up_stream.resize(200, 1.0);
  PageHinkley up({.min_instances = 1,
                  .delta = 0,
                  .threshold = 1,
                  .alpha = 1,
                  .mode = PageHinkleyMode::kUp});
  EXPECT_THAT(Drifts(up, up_stream), ElementsAre(11));
  std::vector<double> down_stream(10, 1.0);
  down_stream.resize(200, 0.0);
  PageHinkley down({.min_instances = 1,
                    .delta = 0,
                    .threshold = 1,
                    .alpha = 1,
                    .mode = PageHinkleyMode::kDown});
  EXPECT_THAT(Drifts(down, down_stream), ElementsAre(11));
  // Mode up ignores the decrease.
  PageHinkley up_only({.min_instances = 1,
                       .delta = 0,
                       .threshold = 1,
                       .alpha = 1,
                       .mode = PageHinkleyMode::kUp});
  EXPECT_THAT(Drifts(up_only, down_stream), IsEmpty());
  // min_instances holds the alarm back until the 30th observation.
  PageHinkley late({.min_instances = 30,
                    .delta = 0,
                    .threshold = 1,
                    .alpha = 1,
                    .mode = PageHinkleyMode::kUp});
  EXPECT_THAT(Drifts(late, up_stream), ElementsAre(29));
}

// DDM by hand: after a perfect record (p = s = 0 past the warm start), the
// first error has p + s > 0 = p_min + 3 s_min: drift at once.
TEST(DdmTest, FirstErrorAfterAPerfectRecordIsDrift) {
  std::vector<double> stream(40, 0.0);
  stream.push_back(1.0);
  stream.resize(100, 0.0);
  Ddm ddm;
  EXPECT_THAT(Drifts(ddm, stream), ElementsAre(40));
  EXPECT_EQ(ddm.n(), 59);  // reset at index 41
}

TEST(DdmTest, WarningZoneAndResetAfterDrift) {
  Ddm ddm;
  std::vector<double> s = NumpyStream2();
  bool warned_before_drift = false;
  for (size_t i = 0; i < s.size(); ++i) {
    ddm.Update(s[i]);
    if (ddm.drift_detected()) {
      EXPECT_FALSE(ddm.warning_detected());
      ddm.Update(0.0);
      EXPECT_EQ(ddm.n(), 1);
      EXPECT_FALSE(ddm.drift_detected());
      break;
    }
    warned_before_drift |= ddm.warning_detected();
  }
  EXPECT_TRUE(warned_before_drift);
}

TEST(EddmTest, DistanceStatistics) {
  Eddm eddm;
  // Errors at observations 2, 5, 9 (1-based): distances 2, 3, 4.
  for (double x : {0, 1, 0, 0, 1, 0, 0, 0, 1}) eddm.Update(x);
  EXPECT_EQ(eddm.n(), 9);
  EXPECT_EQ(eddm.n_errors(), 3);
  EXPECT_DOUBLE_EQ(eddm.distance_mean(), 3.0);
  EXPECT_DOUBLE_EQ(eddm.distance_variance(), 1.0);
}

TEST(HddmWTest, EwmaRestartsFromZeroAsRiverDoes) {
  // River's EWMean takes the next value as the mean whenever the mean is 0.
  HddmW hddm({.lambda_val = 0.05});
  hddm.Update(0.0);
  EXPECT_EQ(hddm.total().ewma, 0.0);
  hddm.Update(1.0);
  EXPECT_EQ(hddm.total().ewma, 1.0);
  hddm.Update(0.0);
  EXPECT_DOUBLE_EQ(hddm.total().ewma, 0.95);
}

// A deterministic sampler: the oldest k positions.
class FirstPositions : public IndexSampler {
 public:
  void Reset() override {}
  void Sample(int, int k, std::vector<int>* out) override {
    out->resize(k);
    for (int i = 0; i < k; ++i) (*out)[i] = i;
  }
};

// KSWIN by its definition: window 20, statistic window 10, the sample the
// oldest 10. Twenty zeros, then ones: at index 19 + j the newest 10 hold j
// ones and the sample none, so D = j / 10 and p = 2 C(20, 10 - j) / C(20, 10)
// (the alternating sum has one term for j > 5): p = 0.0524 for j = 6,
// 0.0123 for j = 7, 0.00206 for j = 8. With alpha 0.01 the first detection
// is j = 8 (index 27), with alpha 0.05 j = 7 (index 26). After the reset the
// window refills with ones only: no further drift.
TEST(KswinTest, DetectionFromTheDefinition) {
  std::vector<double> stream(20, 0.0);
  stream.resize(120, 1.0);
  Kswin strict({.alpha = 0.01, .window_size = 20, .stat_size = 10},
               std::make_unique<FirstPositions>());
  EXPECT_THAT(Drifts(strict, stream), ElementsAre(27));
  Kswin loose({.alpha = 0.05, .window_size = 20, .stat_size = 10},
              std::make_unique<FirstPositions>());
  EXPECT_THAT(Drifts(loose, stream), ElementsAre(26));
  EXPECT_NEAR(loose.p_value(), 1.0, 1e-12);  // identical windows at the end
}

TEST(KswinTest, ResetEmptiesTheWindowAndReseeds) {
  Kswin kswin(
      {.alpha = 0.0001, .window_size = 200, .stat_size = 100, .seed = 42});
  std::vector<double> s = NumpyStream1();
  size_t i = 0;
  for (; i < s.size() && !kswin.drift_detected(); ++i) kswin.Update(s[i]);
  ASSERT_TRUE(kswin.drift_detected());
  EXPECT_EQ(kswin.window_length(), 100);  // River keeps the newest stat_size
  kswin.Update(s[i]);
  EXPECT_EQ(kswin.window_length(), 1);  // ... and empties it on the next update
  EXPECT_EQ(kswin.n(), 1);
}

TEST(KswinTest, UnseededDetectorsStillDetect) {
  std::vector<double> stream(500, 0.0);
  stream.resize(1000, 5.0);
  Kswin kswin;
  std::vector<int> drifts = Drifts(kswin, stream);
  ASSERT_FALSE(drifts.empty());
  EXPECT_GE(drifts.front(), 500);
  EXPECT_LT(drifts.front(), 530);
}

// ---------------------------------------------------------------- factory

TEST(MakeDetectorTest, BuildsEveryDetectorWithRiverDefaults) {
  for (const std::string& name : DetectorNames()) {
    auto d = MakeDetector(name, {});
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ((*d)->name(), name);
    EXPECT_FALSE((*d)->Statistics().empty());
  }
  auto adwin = MakeDetector("adwin", {{"delta", "0.01"},
                                      {"clock", "1"},
                                      {"max_buckets", "3"},
                                      {"min_window_length", "2"},
                                      {"grace_period", "0"}});
  ASSERT_TRUE(adwin.ok()) << adwin.status();
  const auto& o = static_cast<Adwin&>(**adwin).options();
  EXPECT_EQ(o.delta, 0.01);
  EXPECT_EQ(o.clock, 1);
  EXPECT_EQ(o.max_buckets, 3);
  EXPECT_TRUE(MakeDetector("hddm_w",
                           {{"two_sided_test", "True"}, {"lambda_val", "0.1"}})
                  .ok());
  EXPECT_TRUE(MakeDetector("page_hinkley", {{"mode", "down"}}).ok());
  EXPECT_TRUE(
      MakeDetector("kswin",
                   {{"seed", "42"}, {"window_size", "60"}, {"stat_size", "30"}})
          .ok());
}

TEST(MakeDetectorTest, RejectsBadInput) {
  auto status = [](absl::string_view name,
                   std::map<std::string, std::string> p) {
    auto d = MakeDetector(name, p);
    EXPECT_FALSE(d.ok()) << name;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(d.status().message());
  };
  EXPECT_THAT(status("adwinn", {}),
              HasSubstr("unknown detector 'adwinn'; allowed: adwin, "
                        "page_hinkley, ddm, eddm, hddm_a, hddm_w, kswin"));
  EXPECT_THAT(status("adwin", {{"alpha", "1"}}),
              HasSubstr("adwin: unknown parameter 'alpha'; allowed: delta, "
                        "clock, max_buckets, min_window_length, grace_period"));
  EXPECT_THAT(status("adwin", {{"delta", "abc"}}),
              HasSubstr("delta='abc' is not valid; allowed: a finite number"));
  EXPECT_THAT(status("adwin", {{"delta", "nan"}}),
              HasSubstr("a finite number"));
  EXPECT_THAT(status("adwin", {{"delta", "1.5"}}),
              HasSubstr("delta=1.5 is out of range; allowed: 0 < delta < 1"));
  EXPECT_THAT(status("adwin", {{"clock", "3.5"}}), HasSubstr("an integer"));
  EXPECT_THAT(status("adwin", {{"clock", "0"}}), HasSubstr("clock >= 1"));
  EXPECT_THAT(status("page_hinkley", {{"mode", "sideways"}}),
              HasSubstr("allowed: up, down or both"));
  EXPECT_THAT(status("page_hinkley", {{"alpha", "0"}}),
              HasSubstr("0 < alpha <= 1"));
  EXPECT_THAT(status("ddm", {{"warm_start", "-1"}}),
              HasSubstr("warm_start >= 0"));
  EXPECT_THAT(status("eddm", {{"alpha", "0.5"}, {"beta", "0.9"}}),
              HasSubstr("alpha >= beta"));
  EXPECT_THAT(status("hddm_a", {{"two_sided_test", "yes"}}),
              HasSubstr("true or false"));
  EXPECT_THAT(status("hddm_w", {{"lambda_val", "0"}}),
              HasSubstr("0 < lambda_val <= 1"));
  EXPECT_THAT(status("kswin", {{"window_size", "50"}}),
              HasSubstr("window_size=50 is out of range"));
  EXPECT_THAT(status("kswin", {{"alpha", "2"}}), HasSubstr("0 <= alpha <= 1"));
  EXPECT_THAT(status("kswin", {{"seed", "-3"}}), HasSubstr("seed='-3'"));
}

TEST(MakeDetectorTest, ParameterNames) {
  EXPECT_THAT(DetectorParameterNames("hddm_w"),
              ElementsAre("drift_confidence", "warning_confidence",
                          "lambda_val", "two_sided_test"));
  EXPECT_THAT(DetectorParameterNames("nope"), IsEmpty());
}

}  // namespace
}  // namespace continuum::drift
