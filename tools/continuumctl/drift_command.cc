#include "tools/continuumctl/drift_command.h"

#include <cmath>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

ABSL_FLAG(std::string, detector, "",
          "drift replay: the detector: adwin, page_hinkley, ddm, eddm, "
          "hddm_a, hddm_w or kswin.");
ABSL_FLAG(std::vector<std::string>, param, {},
          "drift replay: a detector parameter NAME=VALUE (River's names, e.g. "
          "delta=0.002); repeat the flag for several, or separate them with "
          "commas.");
ABSL_FLAG(bool, warnings, false,
          "drift replay: also print 'warning INDEX' for every observation "
          "after which the detector was in its warning zone.");

namespace continuum::ctl {

std::vector<std::string> MergeRepeatedFlag(const std::vector<std::string>& args,
                                           absl::string_view name) {
  const std::string long_form = absl::StrCat("--", name);
  const std::string short_form = absl::StrCat("-", name);
  std::vector<std::string> out;
  std::vector<std::string> values;
  size_t merged_at = 0;  // position in `out` of the merged flag; 0: none yet
  size_t i = 0;
  if (!args.empty()) out.push_back(args[i++]);
  for (; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") break;
    std::string value;
    bool matched = false;
    for (const std::string& form : {long_form, short_form}) {
      if (arg == form && i + 1 < args.size()) {
        value = args[++i];
        matched = true;
        break;
      }
      if (absl::StartsWith(arg, form + "=")) {
        value = arg.substr(form.size() + 1);
        matched = true;
        break;
      }
    }
    if (!matched) {
      out.push_back(arg);
      continue;
    }
    if (merged_at == 0) {
      merged_at = out.size();
      out.emplace_back();
    }
    values.push_back(value);
  }
  for (; i < args.size(); ++i) out.push_back(args[i]);
  if (merged_at != 0) {
    out[merged_at] = absl::StrCat(long_form, "=", absl::StrJoin(values, ","));
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> ParseDetectorParams(
    const std::vector<std::string>& items) {
  std::map<std::string, std::string> params;
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--param '", item, "' is not NAME=VALUE (e.g. --param delta=0.002)"));
    }
    std::string key(absl::StripAsciiWhitespace(item.substr(0, eq)));
    std::string value(absl::StripAsciiWhitespace(item.substr(eq + 1)));
    if (!params.emplace(key, value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("--param ", key, " is given more than once"));
    }
  }
  return params;
}

absl::Status ReplayStream(drift::StreamingDetector& detector, std::istream& in,
                          bool warnings, std::ostream& out) {
  std::string line;
  int64_t index = 0;
  while (std::getline(in, line)) {
    const absl::string_view text = absl::StripAsciiWhitespace(line);
    double x;
    if (text.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", index + 1, ": empty line; expected one number per line"));
    }
    if (!absl::SimpleAtod(text, &x) || !std::isfinite(x)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", index + 1, ": '", text,
          "' is not a finite number; expected one number per line"));
    }
    detector.Update(x);
    if (warnings && detector.warning_detected()) {
      out << "warning " << index << '\n';
    }
    if (detector.drift_detected()) out << index << '\n';
    ++index;
  }
  if (in.bad()) return absl::DataLossError("reading the stream failed");
  return absl::OkStatus();
}

int RunDriftCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] != "replay") {
    std::cerr << "drift: expected the subcommand 'replay': continuumctl drift "
                 "replay --detector=NAME [--param NAME=VALUE ...] [--warnings] "
                 "< stream.txt\n";
    return 2;
  }
  if (args.size() > 1) {
    std::cerr << "drift replay: unexpected argument '" << args[1]
              << "'; the stream is read from stdin\n";
    return 2;
  }
  const std::string name = absl::GetFlag(FLAGS_detector);
  if (name.empty()) {
    std::cerr << "drift replay: --detector is required; allowed: "
              << absl::StrJoin(drift::DetectorNames(), ", ") << "\n";
    return 2;
  }
  absl::StatusOr<std::map<std::string, std::string>> params =
      ParseDetectorParams(absl::GetFlag(FLAGS_param));
  if (!params.ok()) {
    std::cerr << "drift replay: " << params.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<drift::StreamingDetector>> detector =
      drift::MakeDetector(name, *params);
  if (!detector.ok()) {
    std::cerr << "drift replay: " << detector.status().message() << "\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  absl::Status status = ReplayStream(**detector, std::cin,
                                     absl::GetFlag(FLAGS_warnings), std::cout);
  std::cout.flush();
  if (!status.ok()) {
    std::cerr << "drift replay: " << status.message() << "\n";
    return 2;
  }
  return 0;
}

}  // namespace continuum::ctl
