// `continuumctl model`: model artifact bundles on local disk. Built into
// its own binary, continuum-model (model_main.cc), which `continuumctl
// model` runs: these commands need LibTorch, continuumctl does not.
//
//   continuumctl model init --family=mlp_classifier --inputs=784 --classes=10
//       [--hidden=256,128] [--targets=N] [--latent=N] [--activation=relu]
//       [--model=M] [--seed=N] --output=FILE
//   continuumctl model import --torchscript=FILE.pt --task=T
//       --input_shape=D[,D...] [--loss=L] [--trainable=P[,P...]]
//       [--classes=K | --targets=K] [--model=M] --output=FILE
//   continuumctl model fit --spec=TEXT|@FILE --train=FILE.csv --output=FILE
//       (model_fit_command.h)
//   continuumctl model predict BUNDLE --input=FILE.csv
//   continuumctl model export BUNDLE --output=FILE.pt
//   continuumctl model inspect FILE
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_COMMAND_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_COMMAND_H_

#include <array>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/internal/v1/model_bundle.pb.h"

namespace continuum::ctl {

// The command's line in continuumctl's list, its usage and its flags (for
// `continuumctl model --help`, printed by continuum-model).
inline constexpr absl::string_view kModelCommandSummary =
    "Model bundles on disk: init --family=F --inputs=N --classes=K "
    "[--hidden=256,128] [--seed=N] --output=FILE | fit --spec=TEXT "
    "--train=FILE.csv --output=FILE | predict BUNDLE --input=FILE.csv | "
    "import --torchscript=FILE.pt --task=T --input_shape=D[,D...] "
    "--output=FILE | export BUNDLE --output=FILE.pt | inspect FILE.";
inline constexpr absl::string_view kModelCommandUsage =
    "continuumctl model init --family=F --inputs=N (--classes=K | "
    "--targets=N | --latent=N) [--hidden=256,128] [--activation=relu] "
    "[--seed=N] --output=FILE | model import --torchscript=FILE.pt "
    "--task=classification|regression|anomaly_score --input_shape=D[,D...] "
    "[--loss=cross_entropy|mse|method:NAME] [--trainable=PREFIX[,PREFIX...]] "
    "[--classes=K | --targets=K] [--model=M] --output=FILE | model fit "
    "--spec=TEXT|@FILE --train=FILE.csv [--epochs=N] [--learning_rate=X] "
    "[--holdout=0.1] [--season=N] [--seed=N] --output=FILE | model predict "
    "BUNDLE --input=FILE.csv | model export BUNDLE --output=FILE.pt | model "
    "inspect FILE";
inline constexpr std::array<absl::string_view, 22> kModelCommandFlags = {
    "family",      "inputs",  "classes",   "targets", "latent",
    "hidden",      "activation", "seed",   "torchscript", "task",
    "input_shape", "loss",    "trainable", "model",   "output",
    "spec",        "train",   "input",     "epochs",  "learning_rate",
    "holdout",     "season"};

// The bundle `model init` writes for the current flags (not yet written).
absl::StatusOr<internal::v1::ModelBundle> InitBundleFromFlags();

// The text `model inspect` prints for the bundle file bytes `bytes` read from
// `path`: the manifest as JSON, a table of tensors (name, shape, mean, std),
// the size and CRC-32C, and the validation verdict. Errors: as ParseBundle.
absl::StatusOr<std::string> InspectBundle(const std::string& path,
                                          const std::string& bytes);

// Runs `model init`, `import`, `export` or `inspect`; returns the exit
// code: 0 done, 1 the bundle or module is refused (import, export) or
// invalid (inspect), 2 bad usage or I/O error.
int RunModelCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_MODEL_COMMAND_H_
