// ADWIN (ADaptive WINdowing; Bifet & Gavalda 2007) with River's exact
// algorithm (river/drift/adwin.py + adwin_c.pyx, the ADWIN2 bucket
// compression): a window kept as rows of at most `max_buckets` buckets,
// row i summarising 2^i observations; every `clock` updates (once the window
// is wider than `grace_period`) every cut of the window into an older part
// W0 and a newer part W1 is tested, and the oldest bucket is dropped while a
// cut with |mean(W0) - mean(W1)| above the Hoeffding-style bound exists.
//
// As in River, a detection resets the whole detector on the next Update()
// (River's ADWIN.update calls _reset() when drift_detected is set), so the
// window then starts empty and n_detections() goes back to 0.
//
// Storage is flat and preallocated (64 rows, each a ring of
// max_buckets + 1 buckets); Update() never allocates. The cut tests of a
// pass are evaluated four at a time with AVX where the CPU has it (IEEE
// division and square root are exact per lane, so the results are the same
// bits as the scalar path's and River's).
#ifndef CONTINUUM_LIB_DRIFT_ADWIN_H_
#define CONTINUUM_LIB_DRIFT_ADWIN_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift {

struct AdwinOptions {
  double delta = 0.002;       // significance, 0 < delta < 1
  int clock = 32;             // test for change every `clock` updates, >= 1
  int max_buckets = 5;        // buckets per row before merging, 1..4096
  int min_window_length = 5;  // smallest sub-window a cut may leave, >= 1
  int grace_period = 10;      // no test until the window is wider, >= 0

  absl::Status Validate() const;
};

class Adwin final : public StreamingDetector {
 public:
  explicit Adwin(const AdwinOptions& options = {});

  absl::string_view name() const override { return "adwin"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  // Observations in the window.
  double width() const { return width_; }
  // Their sum.
  double total() const { return total_; }
  // Their sum of squared deviations from the window's mean (River's
  // `variance`: not divided by the width, whatever River's docstring says).
  double variance() const { return variance_; }
  // total / width, 0 for an empty window.
  double estimation() const { return width_ == 0 ? 0.0 : total_ / width_; }
  // Updates that detected drift since the last reset (River's count: at
  // most 1, since a detection resets the detector on the next update).
  int64_t n_detections() const { return n_detections_; }
  // Rows of buckets in use (row i holds buckets of 2^i observations).
  int rows() const { return rows_; }

  const AdwinOptions& options() const { return options_; }

  // Whether the cut tests may use AVX when the CPU has it (default true);
  // process-wide, for tests comparing the vector and the scalar paths.
  static void AllowVectorInstructions(bool allow);

 private:
  static constexpr int kMaxRows = 64;

  // Slot of the k-th oldest bucket of `row`.
  int Slot(int row, int k) const {
    const int slot = heads_[row] + k;
    return row * stride_ + (slot >= stride_ ? slot - stride_ : slot);
  }
  // Drops the `n` oldest buckets of `row`.
  void PopFront(int row, int n) {
    heads_[row] += n;
    if (heads_[row] >= stride_) heads_[row] -= stride_;
    counts_[row] -= n;
  }
  void InsertElement(double value);
  void CompressBuckets();
  double DeleteElement();
  bool DetectChange();
  bool TestCuts();

  AdwinOptions options_;
  int stride_;  // max_buckets + 1 slots per row
  std::vector<double> totals_;
  std::vector<double> variances_;
  int counts_[kMaxRows];
  int heads_[kMaxRows];
  double inverse_sizes_[kMaxRows];  // 2^-row
  int rows_ = 1;
  double total_ = 0.0;
  double width_ = 0.0;
  int64_t tick_ = 0;
  int64_t until_check_ = 0;  // updates left before tick_ % clock == 0
  int64_t n_detections_ = 0;
  // Not next to total_: stores of adjacent fields merged into one 16-byte
  // store defeat store-to-load forwarding of the next update's 8-byte load
  // (a measured 2x slowdown).
  double variance_ = 0.0;
  bool drift_detected_ = false;
  // Scratch for one pass over the cuts (no allocation per update).
  std::vector<double> cut_n0_, cut_n1_, cut_u0_, cut_u1_;
};

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_ADWIN_H_
