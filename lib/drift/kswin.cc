#include "lib/drift/kswin.h"

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "lib/drift/ks.h"
#include "lib/drift/python_random.h"

namespace continuum::drift {
namespace {

class PythonIndexSampler final : public IndexSampler {
 public:
  explicit PythonIndexSampler(std::optional<uint64_t> seed) : seed_(seed) {
    Reset();
  }
  void Reset() override {
    uint64_t seed;
    if (seed_.has_value()) {
      seed = *seed_;
    } else {
      std::random_device device;
      seed = (static_cast<uint64_t>(device()) << 32) | device();
    }
    random_.emplace(seed);
  }
  void Sample(int n, int k, std::vector<int>* out) override {
    random_->SampleRange(n, k, out);
  }

 private:
  std::optional<uint64_t> seed_;
  std::optional<PythonRandom> random_;
};

}  // namespace

std::unique_ptr<IndexSampler> MakePythonIndexSampler(
    std::optional<uint64_t> seed) {
  return std::make_unique<PythonIndexSampler>(seed);
}

absl::Status KswinOptions::Validate() const {
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kswin: alpha=", alpha, " is out of range; allowed: 0 <= alpha <= 1"));
  }
  if (stat_size < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("kswin: stat_size=", stat_size,
                     " is out of range; allowed: stat_size >= 1"));
  }
  if (window_size < 2 * stat_size || window_size > (1 << 24)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kswin: window_size=", window_size,
        " is out of range; allowed: 2 * stat_size (", 2 * stat_size,
        ") <= window_size <= 16777216 (the sample of stat_size is drawn from "
        "the window_size - stat_size older observations)"));
  }
  return absl::OkStatus();
}

Kswin::Kswin(const KswinOptions& options, std::unique_ptr<IndexSampler> sampler)
    : options_(options),
      sampler_(sampler != nullptr ? std::move(sampler)
                                  : MakePythonIndexSampler(options.seed)),
      ring_(options.window_size) {
  positions_.reserve(options.stat_size);
  sample_.resize(options.stat_size);
  recent_.resize(options.stat_size);
  Reset();
}

void Kswin::Reset() {
  head_ = 0;
  length_ = 0;
  n_ = 0;
  p_value_ = 0.0;
  statistic_ = 0.0;
  drift_detected_ = false;
  sampler_->Reset();
}

void Kswin::Update(double x) {
  if (drift_detected_) Reset();
  ++n_;
  const int size = options_.window_size;
  const int stat = options_.stat_size;
  // deque(maxlen=window_size).append: the oldest falls out when full.
  if (length_ < size) {
    ring_[(head_ + length_) % size] = x;
    ++length_;
  } else {
    ring_[head_] = x;
    head_ = (head_ + 1) % size;
  }
  if (length_ < size) {
    drift_detected_ = false;
    return;
  }
  sampler_->Sample(size - stat, stat, &positions_);
  for (int i = 0; i < stat; ++i) sample_[i] = window(positions_[i]);
  for (int i = 0; i < stat; ++i) recent_[i] = window(size - stat + i);
  std::sort(sample_.begin(), sample_.end());
  std::sort(recent_.begin(), recent_.end());
  const KsResult result = KsTwoSampleSorted(sample_, recent_);
  statistic_ = result.statistic;
  p_value_ = result.p_value;
  if (p_value_ <= options_.alpha && statistic_ > 0.1) {
    drift_detected_ = true;
    // River keeps the newest stat_size observations (emptied by the reset
    // at the next update).
    std::vector<double> newest(stat);
    for (int i = 0; i < stat; ++i) newest[i] = window(size - stat + i);
    for (int i = 0; i < stat; ++i) ring_[i] = newest[i];
    head_ = 0;
    length_ = stat;
  } else {
    drift_detected_ = false;
  }
}

std::vector<DetectorStatistic> Kswin::Statistics() const {
  return {{"p_value", p_value_},
          {"statistic", statistic_},
          {"n", static_cast<double>(n_)},
          {"window_length", static_cast<double>(length_)}};
}

}  // namespace continuum::drift
