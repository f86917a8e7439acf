#include "tools/continuumctl/drift_command.h"

#include <grpcpp/grpcpp.h>

#include <cmath>
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "tools/continuumctl/cli_util.h"

ABSL_FLAG(std::string, detector, "",
          "drift replay: the detector: adwin, page_hinkley, ddm, eddm, "
          "hddm_a, hddm_w or kswin.");
ABSL_FLAG(std::vector<std::string>, param, {},
          "drift replay: a detector parameter NAME=VALUE (River's names, e.g. "
          "delta=0.002); federated aggregate: a rule parameter (e.g. "
          "trim_fraction=0.2); repeat the flag for several, or separate them "
          "with commas.");
ABSL_FLAG(bool, warnings, false,
          "drift replay: also print 'warning INDEX' for every observation "
          "after which the detector was in its warning zone.");

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, filter);

namespace continuum::ctl {
namespace {

absl::StatusOr<std::string> ModelFlag(absl::string_view verb) {
  const std::string model = absl::GetFlag(FLAGS_model);
  if (model.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--model=M is required (continuumctl drift ", verb,
                     " --model=M)"));
  }
  return model;
}

// `drift status --model=M`: what the drift service watches and has seen.
int RunStatus() {
  absl::StatusOr<std::string> model = ModelFlag("status");
  if (!model.ok()) return Fail("drift status", model.status());
  auto stub = v1::DriftService::NewStub(TargetChannel());
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetDriftStatusRequest request;
  request.set_name(absl::StrCat("models/", *model));
  v1::GetDriftStatusResponse status;
  grpc::Status s = stub->GetDriftStatus(&context, request, &status);
  if (!s.ok()) return FailGrpc("drift status", s);
  if (JsonOutput()) return PrintJson(status);
  std::cout << "models/" << status.model() << ": " << status.observations()
            << " observations; cool-down until " << TimeText(status.cooldown_until())
            << "\n";
  if (status.performance_size() > 0) {
    std::vector<std::vector<std::string>> rows = {
        {"VERSION", "ROLE", "OBSERVATIONS", "OUTCOMES", "ERROR RATE",
         "REFERENCE"}};
    for (const v1::VersionPerformance& p : status.performance()) {
      rows.push_back(
          {absl::StrCat(p.version()),
           p.role() == v1::SERVING_ROLE_UNSPECIFIED
               ? "-"
               : Short(v1::ServingRole_Name(p.role()), "SERVING_ROLE_"),
           absl::StrCat(p.observations()), absl::StrCat(p.outcomes()),
           p.has_error_rate() ? absl::StrFormat("%.4f", p.error_rate()) : "-",
           p.has_reference_error_rate()
               ? absl::StrFormat("%.4f", p.reference_error_rate())
               : "-"});
    }
    PrintTable(rows);
  }
  if (status.detectors_size() > 0) {
    std::vector<std::vector<std::string>> rows = {
        {"DETECTOR", "SIGNAL", "FEATURE", "VERSION", "STATE", "OBSERVATIONS",
         "DRIFTS", "WARNINGS", "LAST DRIFT"}};
    for (const v1::DetectorStatus& d : status.detectors()) {
      rows.push_back(
          {d.detector_id(),
           Short(v1::MonitoredSignal_Name(d.signal()), "MONITORED_SIGNAL_"),
           absl::StrCat(d.feature_index()), absl::StrCat(d.version()),
           Short(v1::DetectorState_Name(d.state()), "DETECTOR_STATE_"),
           absl::StrCat(d.observations()), absl::StrCat(d.drift_count()),
           absl::StrCat(d.warning_count()), TimeText(d.last_drift_time())});
    }
    PrintTable(rows);
  }
  return 0;
}

// `drift alerts --model=M [--filter=F]`: the model's alerts, newest first.
int RunAlerts() {
  absl::StatusOr<std::string> model = ModelFlag("alerts");
  if (!model.ok()) return Fail("drift alerts", model.status());
  auto stub = v1::DriftService::NewStub(TargetChannel());
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListAlertsRequest request;
  request.set_parent(absl::StrCat("models/", *model));
  request.set_filter(absl::GetFlag(FLAGS_filter));
  v1::ListAlertsResponse response;
  grpc::Status s = stub->ListAlerts(&context, request, &response);
  if (!s.ok()) return FailGrpc("drift alerts", s);
  if (JsonOutput()) return PrintJson(response);
  std::vector<std::vector<std::string>> rows = {
      {"ALERT", "TYPE", "SEVERITY", "VERSION", "DETECTOR", "TIME", "ACTION",
       "MESSAGE"}};
  for (const v1::Alert& a : response.alerts()) {
    const v1::ActionResult& r = a.action_result();
    std::string action =
        Short(v1::DriftAction_Name(r.action()), "DRIFT_ACTION_");
    if (r.dry_run()) absl::StrAppend(&action, " (dry run)");
    if (r.suppressed_by_cooldown()) absl::StrAppend(&action, " (cool-down)");
    rows.push_back({absl::StrCat(a.sequence()),
                    Short(v1::AlertType_Name(a.type()), "ALERT_TYPE_"),
                    Short(v1::AlertSeverity_Name(a.severity()),
                          "ALERT_SEVERITY_"),
                    absl::StrCat(a.version()), a.detector(),
                    TimeText(a.create_time()), action, a.message()});
  }
  PrintTable(rows);
  std::cout << response.alerts_size() << " alert"
            << (response.alerts_size() == 1 ? "" : "s")
            << (response.next_page_token().empty() ? "" : " (more: narrow --filter)")
            << "\n";
  return 0;
}

}  // namespace

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
  if (!args.empty() && (args[0] == "status" || args[0] == "alerts")) {
    if (args.size() > 1) {
      std::cerr << "drift " << args[0] << ": unexpected argument '" << args[1]
                << "'; use --model=M\n";
      return 2;
    }
    return args[0] == "status" ? RunStatus() : RunAlerts();
  }
  if (args.empty() || args[0] != "replay") {
    std::cerr << "drift: expected a subcommand: continuumctl drift status "
                 "--model=M | drift alerts --model=M [--filter=F] | drift "
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
