// `continuumctl model`: model artifact bundles on local disk.
//
//   continuumctl model init --family=mlp_classifier --inputs=784 --classes=10
//       [--hidden=256,128] [--targets=N] [--latent=N] [--activation=relu]
//       [--model=M] [--seed=N] --output=FILE
//   continuumctl model inspect FILE
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_COMMAND_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"

namespace continuum::ctl {

// The bundle `model init` writes for the current flags (not yet written).
absl::StatusOr<internal::v1::ModelBundle> InitBundleFromFlags();

// The text `model inspect` prints for the bundle file bytes `bytes` read from
// `path`: the manifest as JSON, a table of tensors (name, shape, mean, std),
// the size and CRC-32C, and the validation verdict. Errors: as ParseBundle.
absl::StatusOr<std::string> InspectBundle(const std::string& path,
                                          const std::string& bytes);

// Runs `model init` or `model inspect`; returns the exit code: 0 done,
// 1 the bundle is invalid (inspect), 2 bad usage or I/O error.
int RunModelCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_COMMAND_H_
