// KSWIN (Kolmogorov-Smirnov WINdowing; Raab, Heusinger & Schleif 2020)
// with River's algorithm (river/drift/kswin.py): a sliding window of the
// last `window_size` observations; once it is full, every update draws
// `stat_size` positions uniformly without replacement from the older
// window_size - stat_size observations and runs the two-sided two-sample KS
// test (scipy's ks_2samp, method "auto": exact p-value at these sizes)
// between them and the `stat_size` newest observations. Drift when
// p-value <= alpha and the statistic > 0.1.
//
// River draws the sample with Python's random.Random(seed).sample; the
// default IndexSampler reproduces that generator bit for bit, so a seeded
// KSWIN gives River's detections. River re-creates the generator from the
// same seed on every reset (after each drift), and so does the sampler's
// Reset(). Without a seed, each reset draws a fresh seed from the OS, as
// Python's Random(None) does. Tests can inject any IndexSampler.
//
// On drift River keeps the `stat_size` newest observations as the window,
// but its next update resets the detector and empties the window anyway;
// this class does the same.
#ifndef CONTINUUM_LIB_DRIFT_KSWIN_H_
#define CONTINUUM_LIB_DRIFT_KSWIN_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift {

// Draws k distinct positions from [0, n).
class IndexSampler {
 public:
  virtual ~IndexSampler() = default;
  // Back to the initial (seeded) state.
  virtual void Reset() = 0;
  // `out` is resized to k.
  virtual void Sample(int n, int k, std::vector<int>* out) = 0;
};

// Python's random.Random(seed).sample(range(n), k); with no seed, a fresh
// random seed at construction and at every Reset().
std::unique_ptr<IndexSampler> MakePythonIndexSampler(
    std::optional<uint64_t> seed);

struct KswinOptions {
  double alpha = 0.005;                         // 0 <= alpha <= 1
  int window_size = 100;                        // >= 2 * stat_size
  int stat_size = 30;                           // >= 1
  std::optional<uint64_t> seed = std::nullopt;  // none: a fresh seed per reset
  absl::Status Validate() const;
};

class Kswin final : public StreamingDetector {
 public:
  // `sampler` defaults to MakePythonIndexSampler(options.seed).
  explicit Kswin(const KswinOptions& options = {},
                 std::unique_ptr<IndexSampler> sampler = nullptr);

  absl::string_view name() const override { return "kswin"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  // The last test's p-value (0 before the first test, as in River) and
  // statistic.
  double p_value() const { return p_value_; }
  double statistic() const { return statistic_; }
  // Observations since the last reset.
  int64_t n() const { return n_; }
  // Observations in the window.
  int window_length() const { return length_; }
  // Observation i of the window, 0 the oldest.
  double window(int i) const {
    return ring_[(head_ + i) % options_.window_size];
  }

 private:
  KswinOptions options_;
  std::unique_ptr<IndexSampler> sampler_;
  std::vector<double> ring_;
  int head_ = 0;    // position of the oldest observation
  int length_ = 0;  // observations held
  int64_t n_ = 0;
  double p_value_ = 0.0;
  double statistic_ = 0.0;
  bool drift_detected_ = false;
  std::vector<int> positions_;
  std::vector<double> sample_;
  std::vector<double> recent_;
};

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_KSWIN_H_
