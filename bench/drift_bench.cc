// drift_bench: nanoseconds per update of each streaming drift detector on a
// 10-million-observation stream, beside a reference measured in the same
// run on the same data: a plain loop summing the stream (the cost of
// reading it). Two streams of 0/1 observations (valid input for every
// detector, binary ones included):
//   stationary  Bernoulli(0.3) throughout: ADWIN's window grows to the
//               whole stream, its worst case;
//   shifting    the rate alternates 0.2 / 0.6 every 500,000 observations.
// Each figure is the best of --repeats runs. Prints a table; with --json
// also one JSON object as the last line.
//
// The verdict comes from the reference measured in this run: ADWIN's
// update (the worse of the two streams) <= 40x the reference loop's
// observation. That is the design's absolute bar (docs/design.md: <= 25 ns
// per update) expressed against the reference as measured beside it when
// the bar was set (about 0.6 ns per observation on the 2-core machine): a
// machine that reads the stream half as fast gets twice the time. The
// absolute figure is printed for information, and so is River's, which is
// not measured here: its compiled ADWIN took 45 ns per update on the same
// kind of machine (River's Cython core called from Python on the same
// stream, measured once when the design's bar was set).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/drift/adwin.h"
#include "lib/drift/binary_detectors.h"
#include "lib/drift/kswin.h"
#include "lib/drift/page_hinkley.h"
#include "lib/drift/python_random.h"
#include "lib/drift/streaming_detector.h"

ABSL_FLAG(bool, json, false, "Print one JSON object as the last line.");
ABSL_FLAG(int64_t, observations, 10000000, "Observations per stream.");
ABSL_FLAG(int, repeats, 3, "Runs per figure; the best is reported.");

namespace {

using Clock = std::chrono::steady_clock;
namespace drift = continuum::drift;

constexpr double kAdwinBarNs = 25.0;    // the design's, for information
constexpr double kAdwinBarRatio = 40.0;  // the verdict, against the reference

std::vector<double> MakeStream(int64_t n, bool shifting) {
  drift::PythonRandom rng(shifting ? 2 : 1);
  std::vector<double> stream(n);
  for (int64_t i = 0; i < n; ++i) {
    const double p = !shifting ? 0.3 : ((i / 500000) % 2 == 0 ? 0.2 : 0.6);
    stream[i] = rng.Random() < p ? 1.0 : 0.0;
  }
  return stream;
}

struct Timing {
  double ns_per_update = 0;
  int64_t drifts = 0;
};

// Runs a fresh detector over the stream `repeats` times (calls through the
// concrete type, as a service holding one would).
template <typename Detector, typename Options>
Timing Measure(const Options& options, const std::vector<double>& stream,
               int repeats) {
  Timing best;
  best.ns_per_update = 1e300;
  for (int r = 0; r < repeats; ++r) {
    Detector detector(options);
    int64_t drifts = 0;
    const auto start = Clock::now();
    for (double x : stream) {
      detector.Update(x);
      drifts += detector.drift_detected();
    }
    const double ns =
        std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    best.ns_per_update = std::min(best.ns_per_update, ns / stream.size());
    best.drifts = drifts;
  }
  return best;
}

// The same through the StreamingDetector interface (a virtual call each).
Timing MeasureVirtual(const std::vector<double>& stream, int repeats) {
  Timing best;
  best.ns_per_update = 1e300;
  for (int r = 0; r < repeats; ++r) {
    std::unique_ptr<drift::StreamingDetector> detector =
        *drift::MakeDetector("adwin", {});
    int64_t drifts = 0;
    const auto start = Clock::now();
    for (double x : stream) {
      detector->Update(x);
      drifts += detector->drift_detected();
    }
    const double ns =
        std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    best.ns_per_update = std::min(best.ns_per_update, ns / stream.size());
    best.drifts = drifts;
  }
  return best;
}

double MeasureReference(const std::vector<double>& stream, int repeats) {
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) {
    const auto start = Clock::now();
    double sum = 0;
    for (double x : stream) sum += x;
    const double ns =
        std::chrono::duration<double, std::nano>(Clock::now() - start).count();
    volatile double sink = sum;
    (void)sink;
    best = std::min(best, ns / stream.size());
  }
  return best;
}

struct Row {
  std::string name;
  Timing stationary;
  Timing shifting;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t n = absl::GetFlag(FLAGS_observations);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const std::vector<double> stationary = MakeStream(n, false);
  const std::vector<double> shifting = MakeStream(n, true);

  const double reference = std::min(MeasureReference(stationary, repeats),
                                    MeasureReference(shifting, repeats));
  std::vector<Row> rows;
  auto add = [&](const std::string& name, auto measure) {
    rows.push_back({name, measure(stationary), measure(shifting)});
  };
  add("adwin", [&](const auto& s) {
    return Measure<drift::Adwin>(drift::AdwinOptions{}, s, repeats);
  });
  add("adwin (virtual call)",
      [&](const auto& s) { return MeasureVirtual(s, repeats); });
  add("page_hinkley", [&](const auto& s) {
    return Measure<drift::PageHinkley>(drift::PageHinkleyOptions{}, s, repeats);
  });
  add("ddm", [&](const auto& s) {
    return Measure<drift::Ddm>(drift::DdmOptions{}, s, repeats);
  });
  add("eddm", [&](const auto& s) {
    return Measure<drift::Eddm>(drift::EddmOptions{}, s, repeats);
  });
  add("hddm_a", [&](const auto& s) {
    return Measure<drift::HddmA>(drift::HddmAOptions{}, s, repeats);
  });
  add("hddm_w", [&](const auto& s) {
    return Measure<drift::HddmW>(drift::HddmWOptions{}, s, repeats);
  });
  add("kswin", [&](const auto& s) {
    drift::KswinOptions options;
    options.seed = 42;
    return Measure<drift::Kswin>(options, s, 1);
  });

  std::printf(
      "drift_bench: %lld observations per stream, best of %d runs (kswin: "
      "1 run)\n\n",
      static_cast<long long>(n), repeats);
  std::printf("%-22s %16s %8s %16s %8s %10s\n", "detector", "stationary ns",
              "ratio", "shifting ns", "ratio", "drifts");
  for (const Row& row : rows) {
    std::printf(
        "%-22s %16.2f %8.1f %16.2f %8.1f %10lld\n", row.name.c_str(),
        row.stationary.ns_per_update, row.stationary.ns_per_update / reference,
        row.shifting.ns_per_update, row.shifting.ns_per_update / reference,
        static_cast<long long>(row.shifting.drifts));
  }
  std::printf("%-22s %16.2f %8.1f\n", "reference (sum loop)", reference, 1.0);
  const double adwin = std::max(rows[0].stationary.ns_per_update,
                                rows[0].shifting.ns_per_update);
  const double adwin_ratio = adwin / reference;
  std::printf(
      "\nratio: ns per update / ns per observation of the reference loop; "
      "drifts: detections on the shifting stream (%lld rate changes).\n"
      "ADWIN: %.1fx the reference loop (worse of the two streams); bar <= "
      "%.0fx: %s. For information: %.2f ns per update against the design's "
      "absolute %.0f ns; River's compiled ADWIN, measured elsewhere on this "
      "kind of machine: 45 ns.\n",
      static_cast<long long>((n - 1) / 500000), adwin_ratio, kAdwinBarRatio,
      adwin_ratio <= kAdwinBarRatio ? "met" : "NOT met", adwin, kAdwinBarNs);

  if (absl::GetFlag(FLAGS_json)) {
    std::vector<std::string> fields = {
        "\"bench\":\"drift\"", absl::StrCat("\"observations\":", n),
        absl::StrCat("\"reference_ns_per_observation\":", reference)};
    for (const Row& row : rows) {
      std::string key =
          row.name == "adwin (virtual call)" ? "adwin_virtual" : row.name;
      fields.push_back(absl::StrCat("\"", key, "_stationary_ns_per_update\":",
                                    row.stationary.ns_per_update));
      fields.push_back(absl::StrCat(
          "\"", key, "_shifting_ns_per_update\":", row.shifting.ns_per_update));
      fields.push_back(
          absl::StrCat("\"", key, "_shifting_drifts\":", row.shifting.drifts));
    }
    fields.push_back(absl::StrCat("\"adwin_ns_per_update\":", adwin));
    fields.push_back(absl::StrCat("\"adwin_ratio\":", adwin_ratio));
    fields.push_back(absl::StrCat("\"adwin_bar_ratio\":", kAdwinBarRatio));
    fields.push_back(absl::StrCat("\"adwin_design_bar_ns\":", kAdwinBarNs));
    fields.push_back(absl::StrCat("\"adwin_meets_bar\":",
                                  adwin_ratio <= kAdwinBarRatio ? "true"
                                                                : "false"));
    std::printf("{%s}\n", absl::StrJoin(fields, ",").c_str());
  }
  return 0;
}
