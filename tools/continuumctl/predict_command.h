// `continuumctl predict`: sends rows to an inference pod's Predict and
// prints what answered: the version and its role, each row's prediction,
// and whether the rows were logged (LogPolicy: evaluation traffic is sent
// with --log=never, so that it never becomes training data, replay rows or
// drift observations).
//
//   continuumctl predict --target=INFERENCE --model=M --csv=FILE
//       [--log=default|never|sampled|always] [--pin=N] [--routing_key=K]
//
// The CSV holds one row per line, features only, no header (a first line
// that is not numeric is skipped as a header).
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_PREDICT_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_PREDICT_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/inference.pb.h"

namespace continuum::ctl {

// "default", "never", "sampled", "always" (any case) as a LogPolicy.
// INVALID_ARGUMENT naming the accepted words for anything else.
absl::StatusOr<v1::LogPolicy> ParseLogPolicy(absl::string_view text);

// Rows of floats from CSV text: one row per non-empty line, every row as
// wide as the first; a first line that does not parse as numbers is a
// header and skipped. INVALID_ARGUMENT names the line and column.
struct Rows {
  int width = 0;
  std::vector<float> values;  // rows * width, row-major
  int64_t size() const {
    return width > 0 ? static_cast<int64_t>(values.size()) / width : 0;
  }
};
absl::StatusOr<Rows> ParseRows(absl::string_view csv);

int RunPredictCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_PREDICT_COMMAND_H_
