// continuumctl: the operator's command-line tool for Continuum.
//
//   continuumctl health --target=127.0.0.1:50051 [--service=NAME] [--wait]
//   continuumctl datasets list|get|stats|delete|create --target=... --dataset=D
//   continuumctl ingest --target=... --dataset=D --csv=FILE
//   continuumctl export --target=... --dataset=D --from=T --to=T
//   continuumctl drift replay --detector=adwin [--param NAME=VALUE ...] < FILE
//   continuumctl model init --family=F --inputs=N --classes=K --output=FILE
//   continuumctl model inspect FILE
//   continuumctl trainer trigger|runs|run|watch|cancel|config|pause|resume
//   continuumctl version
//
// Each command lives in its own <name>_command.cc; this file dispatches.
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "lib/core/build_info.h"
#include "tools/continuumctl/collector_commands.h"
#include "tools/continuumctl/drift_command.h"
#include "tools/continuumctl/health_command.h"
#include "tools/continuumctl/model_command.h"
#include "tools/continuumctl/registry_commands.h"
#include "tools/continuumctl/trainer_commands.h"

namespace {

struct Command {
  absl::string_view name;
  absl::string_view summary;
  std::function<int(const std::vector<std::string>&)> run;
};

int RunVersion(const std::vector<std::string>&) {
  std::cout << "continuumctl " << continuum::core::kVersion << " ("
            << continuum::core::kGitCommit << ")\n";
  return 0;
}

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"health",
       "Check a service's health: --target=HOST:PORT [--service] [--wait] "
       "[--timeout]. Exit 0 SERVING, 1 NOT_SERVING, 2 unreachable.",
       continuum::ctl::RunHealthCommand},
      {"datasets",
       "Manage the collector's data sets: list, get, stats, delete, create "
       "--dataset=D --features=N --label_kind=class --classes=K.",
       continuum::ctl::RunDatasetsCommand},
      {"ingest",
       "Load records into a data set: --dataset=D --csv=FILE or --jsonl=FILE, "
       "with a progress bar and a message for each rejected line.",
       continuum::ctl::RunIngestCommand},
      {"export",
       "Write a data set's records: --dataset=D [--from=T] [--to=T] "
       "[--format=csv|jsonl] [--output=FILE].",
       continuum::ctl::RunExportCommand},
      {"models",
       "Registry models: list, get --model=M, register --model=M "
       "[--family=F] [--plan=immediate|canary].",
       continuum::ctl::RunModelsCommand},
      {"versions", "Registry versions: list --model=M, get --version=V.",
       continuum::ctl::RunVersionsCommand},
      {"upload", "Upload an artifact: --model=M --file=F [--report=R.json].",
       continuum::ctl::RunUploadCommand},
      {"download", "Download and verify an artifact: --version=V --output=F.",
       continuum::ctl::RunDownloadCommand},
      {"validate", "Submit a validation report: --version=V --report=R.json.",
       continuum::ctl::RunValidateCommand},
      {"promote",
       "Start or advance a rollout: --model=M [--version=N] [--complete].",
       continuum::ctl::RunPromoteCommand},
      {"traffic", "Pin the canary's share: --model=M --percent=P.",
       continuum::ctl::RunTrafficCommand},
      {"rollback",
       "Roll back production: --model=M --reason=TEXT [--version=N].",
       continuum::ctl::RunRollbackCommand},
      {"rollout", "Rollout status, pause, resume or abort: --model=M [VERB].",
       continuum::ctl::RunRolloutCommand},
      {"audit",
       "Audit log: export [--output=F] | verify (recomputes the hash chain).",
       continuum::ctl::RunAuditCommand},
      {"drift",
       "Replay a recorded stream (one number per line on stdin) through a "
       "drift detector: drift replay --detector=adwin [--param NAME=VALUE, "
       "repeatable] [--warnings]; prints the index of every detection.",
       continuum::ctl::RunDriftCommand},
      {"model",
       "Model bundles on disk: init --family=F --inputs=N --classes=K "
       "[--hidden=256,128] [--seed=N] --output=FILE | inspect FILE.",
       continuum::ctl::RunModelCommand},
      {"trainer",
       "Training runs: trigger MODEL [--wait], runs [MODEL], run|watch|cancel "
       "RUN, config|pause|resume MODEL.",
       continuum::ctl::RunTrainerCommand},
      {"version", "Print the version of continuumctl.", RunVersion},
  };
  return *commands;
}

std::string Usage() {
  std::string usage =
      "continuumctl: operate a Continuum deployment.\n\n"
      "Usage: continuumctl COMMAND [flags]\n\nCommands:\n";
  for (const Command& c : Commands()) {
    absl::StrAppend(&usage, "  ", c.name, "\t", c.summary, "\n");
  }
  absl::StrAppend(&usage,
                  "\nFlags are written --name=value; --help lists them.");
  return usage;
}

bool IsContinuumFlagFile(absl::string_view file) {
  return absl::StrContains(file, "tools/continuumctl/");
}

}  // namespace

int main(int argc, char** argv) {
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsContinuumFlagFile;
  usage_config.contains_helpshort_flags = IsContinuumFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(Usage());
  // absl keeps only the last value of a repeated flag: merge the repeated
  // --param of `drift replay` into one comma-separated value first.
  std::vector<std::string> merged = continuum::ctl::MergeRepeatedFlag(
      std::vector<std::string>(argv, argv + argc), "param");
  std::vector<char*> merged_argv;
  for (std::string& arg : merged) merged_argv.push_back(arg.data());
  std::vector<char*> rest = absl::ParseCommandLine(
      static_cast<int>(merged_argv.size()), merged_argv.data());
  if (rest.size() < 2) {
    std::cerr << Usage() << "\n";
    return 2;
  }
  std::string name = rest[1];
  std::vector<std::string> args(rest.begin() + 2, rest.end());
  for (const Command& c : Commands()) {
    if (c.name == name) return c.run(args);
  }
  std::cerr << "continuumctl: unknown command '" << name << "'\n\n"
            << Usage() << "\n";
  return 2;
}
