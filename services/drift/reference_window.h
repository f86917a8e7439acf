// What the reference tests of one model version compare: the version's
// training reference, prepared for the tests, and a ring of the most
// recent observations with features.
//
// PreparedReference: the ReferenceStatistics of a version's bundle with
// each feature's (and the prediction scores') finite sample values as
// doubles, sorted ascending, as lib/drift's tests read them.
//
// ReferenceWindow: the last `rows` prediction rows with features: each
// row's features (row-major), its prediction score (the confidence, else
// the predicted value, else NaN) and its event time (the batch's, else the
// time of receipt). Changing the capacity or the feature dimension empties
// it. Columns() copies the window out, one column per feature, so that the
// tests (and their sorting) run outside DriftMonitor's lock.
//
// Not thread-safe: DriftMonitor holds its mutex around every call.
#ifndef CONTINUUM_SERVICES_DRIFT_REFERENCE_WINDOW_H_
#define CONTINUUM_SERVICES_DRIFT_REFERENCE_WINDOW_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/drift.pb.h"

namespace continuum::drift_service {

struct PreparedReference {
  struct Feature {
    std::vector<double> sample;  // Finite values, ascending.
    bool categorical = false;
    std::string name;
  };
  std::vector<Feature> features;
  std::vector<double> predictions;  // Finite values, ascending.
  std::optional<double> error_rate;
  int64_t sample_count = 0;  // Training rows the sample was drawn from.

  static std::shared_ptr<const PreparedReference> Prepare(
      const v1::ReferenceStatistics& stats);
  // "loaded: 8 features, 5000 training rows, error rate 0.1".
  std::string Describe() const;
};

// A copy of a window (in no particular row order): one column per
// feature, the finite prediction scores, the rows' event-time span.
struct WindowColumns {
  std::vector<std::vector<double>> features;
  std::vector<double> scores;
  int64_t rows = 0;
  int64_t first_micros = 0;
  int64_t last_micros = 0;
};

class ReferenceWindow {
 public:
  // Appends the rows of a prediction batch with features, keeping the last
  // `rows` (>= 1); rows without an event time are stamped `now`.
  void Append(const v1::ObservationBatch& batch, int64_t rows, absl::Time now);
  // Empties the ring (rows_total stays).
  void Clear();

  // Rows held now, and rows ever appended.
  int64_t count() const { return count_; }
  int64_t rows_total() const { return rows_total_; }
  // Features per row (of the rows appended last).
  int64_t dim() const { return dim_; }

  // The rows held, as columns.
  WindowColumns Columns() const;

 private:
  int64_t capacity_ = 0;
  int64_t dim_ = 0;
  std::vector<float> features_;
  std::vector<double> scores_;
  std::vector<int64_t> micros_;
  int64_t next_ = 0;
  int64_t count_ = 0;
  int64_t rows_total_ = 0;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_REFERENCE_WINDOW_H_
