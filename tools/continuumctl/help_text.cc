#include "tools/continuumctl/help_text.h"

#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"

namespace continuum::ctl {

std::string FlagHelpLine(absl::string_view name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return absl::StrCat("  --", name, "\n");
  const std::string value = flag->DefaultValue();
  return absl::StrCat("  --", name, value.empty() ? "" : "=", value, "\n      ",
                      flag->Help(), "\n");
}

std::string CommandHelpText(absl::string_view usage, absl::string_view summary,
                            const std::vector<absl::string_view>& flags) {
  std::string help = absl::StrCat("Usage: ", usage, "\n\n", summary, "\n");
  if (!flags.empty()) {
    absl::StrAppend(&help, "\nFlags:\n");
    for (absl::string_view f : flags) absl::StrAppend(&help, FlagHelpLine(f));
  }
  return help;
}

}  // namespace continuum::ctl
