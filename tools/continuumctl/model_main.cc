// continuum-model: `continuumctl model` (init, import, export, inspect of
// bundles on local disk), in a binary of its own because it needs LibTorch
// and continuumctl does not load it. continuumctl runs it for `model`; it
// can also be run directly.
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "tools/continuumctl/help_text.h"
#include "tools/continuumctl/model_command.h"

namespace {

bool IsHelpFlag(absl::string_view arg) {
  return arg == "--help" || arg == "-h" || arg == "-help" ||
         arg == "--helpfull" || arg == "help";
}

bool IsModelFlagFile(absl::string_view file) {
  return absl::StrContains(file, "tools/continuumctl/");
}

}  // namespace

int main(int argc, char** argv) {
  namespace ctl = continuum::ctl;
  for (int i = 1; i < argc; ++i) {
    if (IsHelpFlag(argv[i])) {
      std::cout << ctl::CommandHelpText(
          ctl::kModelCommandUsage, ctl::kModelCommandSummary,
          {ctl::kModelCommandFlags.begin(), ctl::kModelCommandFlags.end()});
      return 0;
    }
  }
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsModelFlagFile;
  usage_config.contains_helpshort_flags = IsModelFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      std::string("continuumctl model: ") +
      std::string(ctl::kModelCommandSummary));
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> args(positional.begin() + 1, positional.end());
  return ctl::RunModelCommand(args);
}
