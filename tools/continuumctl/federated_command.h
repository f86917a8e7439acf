// `continuumctl federated`: the offline tools of federated learning, so
// that operators can check a rule or plan a privacy budget before a round:
//
//   continuumctl federated aggregate --rule=NAME [--param K=V ...]
//       < updates.jsonl
//   continuumctl federated epsilon --noise=Z --sample_rate=Q --steps=N
//       [--delta=D]
//
// aggregate reads one update per line, {"values": [...], "samples": N}
// (federated.proto's update layout: local - base, flattened), and prints
// one JSON object: the aggregate's values, total_samples, the indices of
// the updates it is made of (`selected`), its L2 norm, and for Krum rules
// every update's score and the f used. Rules: fedavg (fedprox), median,
// trimmed_mean, krum, multi_krum (lib/federated/aggregation.h). Parameters:
//   trim_fraction=X        trimmed mean, [0, 0.5), default 0.1
//   byzantine_sites=F      Krum rules, default the largest n allows
//   multi_krum_selected=M  Multi-Krum, default n - f
//   clip_norm=C            clip each update to L2 norm C first, as the
//                          coordinator does with differential privacy
//
// epsilon prints the (epsilon, delta) guarantee of N rounds (steps) of the
// sampled Gaussian mechanism with noise multiplier Z and sampling rate Q,
// from the RDP accountant the coordinator uses (lib/federated/
// rdp_accountant.h: Opacus's orders and conversion), and the best order.
//
// Exit codes: 0 done, 2 bad usage or input ("line N: ..." for an update).
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_FEDERATED_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_FEDERATED_COMMAND_H_

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/federated/aggregation.h"

namespace continuum::ctl {

struct UpdateLine {
  std::vector<float> values;
  int64_t samples = 0;
};

// Reads JSON lines {"values": [numbers], "samples": integer > 0}; blank
// lines are skipped. INVALID_ARGUMENT "line N: ..." (N from 1) for a line
// that is not such an object, a value that is not a finite float, or an
// unknown field.
absl::StatusOr<std::vector<UpdateLine>> ReadUpdateLines(std::istream& in);

// Aggregates the updates read from `in` with `rule` and `params` (the
// names above) and writes the JSON object described above to `out`.
// INVALID_ARGUMENT for an unknown rule or parameter, a bad value, bad
// input, or updates the rule refuses.
absl::Status AggregateUpdates(std::istream& in, const std::string& rule,
                              const std::map<std::string, std::string>& params,
                              std::ostream& out);

// Writes the epsilon report: a line of text, or with `json` one object
// {"epsilon", "delta", "order", "noise_multiplier", "sample_rate",
// "steps"}. INVALID_ARGUMENT for values out of range.
absl::Status WriteEpsilon(double noise_multiplier, double sample_rate,
                          int64_t steps, double delta, bool json,
                          std::ostream& out);

// Runs the command with the parsed flags; returns the exit code.
int RunFederatedCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_FEDERATED_COMMAND_H_
