// `continuumctl drift replay`: runs a streaming drift detector (lib/drift)
// over a recorded stream, so that users can tune detectors offline:
//
//   continuumctl drift replay --detector=adwin --param delta=0.002
//       [--param NAME=VALUE ...] [--warnings] < stream.txt
//
// stdin holds one number per line. For every observation after which the
// detector signalled drift, its 0-based index is printed on its own line;
// with --warnings, "warning INDEX" lines too (before the index's drift line
// when both happen). A line that is not one finite number stops the replay
// with "line N: ..." on stderr and exit code 2.
//
// --param may be repeated (main.cc merges the occurrences before absl parses
// the flags, since an absl flag keeps only its last value) or given once as
// a comma-separated list: --param delta=0.01,clock=1.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_DRIFT_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_DRIFT_COMMAND_H_

#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::ctl {

// Returns `args` (args[0] is the program) with every occurrence of flag
// `name` (--name=V, --name V, -name=V, -name V) before a "--" merged into
// one --name=V1,V2,... at the place of the first occurrence. Other
// arguments are kept in order.
std::vector<std::string> MergeRepeatedFlag(const std::vector<std::string>& args,
                                           absl::string_view name);

// Parses NAME=VALUE items. INVALID_ARGUMENT for an item without '=', with an
// empty name, or a name given twice.
absl::StatusOr<std::map<std::string, std::string>> ParseDetectorParams(
    const std::vector<std::string>& items);

// Feeds every line of `in` to `detector` and writes the detections to
// `out` as described above. INVALID_ARGUMENT "line N: ..." (N from 1) for
// an empty line or one that is not a finite number.
absl::Status ReplayStream(drift::StreamingDetector& detector, std::istream& in,
                          bool warnings, std::ostream& out);

// Runs the command with the parsed flags; returns the exit code: 0 done,
// 2 bad usage or input.
int RunDriftCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_DRIFT_COMMAND_H_
