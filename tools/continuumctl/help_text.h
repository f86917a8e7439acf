// The per-command help of continuumctl (`continuumctl NAME --help`) and of
// continuum-model (`continuumctl model --help` runs it), in one format:
//
//   Usage: USAGE
//
//   SUMMARY
//
//   Flags:
//     --name=DEFAULT
//         help
//
// Plain absl flags; no gRPC, no LibTorch.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_HELP_TEXT_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_HELP_TEXT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace continuum::ctl {

// One flag as `  --name=DEFAULT\n      help\n` (`  --name\n` for a flag
// this binary does not define).
std::string FlagHelpLine(absl::string_view name);

// The help of a command: its usage line, summary and flags (above).
std::string CommandHelpText(absl::string_view usage, absl::string_view summary,
                            const std::vector<absl::string_view>& flags);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_HELP_TEXT_H_
