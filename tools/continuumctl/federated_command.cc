#include "tools/continuumctl/federated_command.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <cfloat>
#include <cmath>
#include <iostream>
#include <istream>
#include <ostream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "continuum/v1/federated.grpc.pb.h"
#include "lib/core/proto_time.h"
#include "lib/federated/privacy.h"
#include "lib/federated/rdp_accountant.h"
#include "tools/continuumctl/cli_util.h"
#include "tools/continuumctl/drift_command.h"

ABSL_DECLARE_FLAG(std::vector<std::string>, param);
ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, reason);
ABSL_DECLARE_FLAG(std::string, filter);
ABSL_DECLARE_FLAG(int, epochs);
ABSL_DECLARE_FLAG(double, learning_rate);

ABSL_FLAG(std::string, rule, "",
          "federated aggregate (default fedavg) and start: the aggregation "
          "rule: fedavg, fedprox, median, trimmed_mean, krum or multi_krum.");
ABSL_FLAG(std::string, round_config, "",
          "federated start: a file holding the round's FederatedConfig, in "
          "protobuf text format (or JSON when it starts with '{'), e.g. "
          "'differential_privacy { enabled: true clip_norm: 1 "
          "noise_multiplier: 1 }'; --rule, --min_sites, --max_sites, "
          "--epochs and --learning_rate override its fields.");
ABSL_FLAG(int, min_sites, 0,
          "federated start: fewest sites for the round (0 = the model's "
          "setting, else 2).");
ABSL_FLAG(int, max_sites, 0,
          "federated start: membership closes when this many joined (0 = "
          "the model's setting).");
ABSL_FLAG(double, noise, 0,
          "federated epsilon: the noise multiplier (noise stddev / clip "
          "norm), > 0.");
ABSL_FLAG(double, sample_rate, 0,
          "federated epsilon: the share of sites sampled into each round, "
          "in (0, 1].");
ABSL_FLAG(int64_t, steps, 0,
          "federated epsilon: rounds, >= 1; predict, forecasters: every "
          "STEPS rows of --csv are one window (time steps, oldest first), "
          "sent as [windows, STEPS, features] (0 = a row per CSV row).");
ABSL_FLAG(double, delta, 1e-5,
          "federated epsilon: delta of the (epsilon, delta) guarantee, in "
          "(0, 1).");

namespace continuum::ctl {
namespace {

namespace pb = ::google::protobuf;

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

absl::StatusOr<UpdateLine> ParseUpdateLine(absl::string_view text, int line) {
  pb::Struct object;
  const auto parsed = pb::util::JsonStringToMessage(
      std::string(text), &object, pb::util::JsonParseOptions());
  if (!parsed.ok()) {
    return LineError(line, absl::StrCat("not a JSON object (",
                                        std::string(parsed.message()), ")"));
  }
  UpdateLine update;
  bool has_values = false;
  bool has_samples = false;
  for (const auto& [key, value] : object.fields()) {
    if (key == "values") {
      if (value.kind_case() != pb::Value::kListValue) {
        return LineError(line, "\"values\" must be an array of numbers");
      }
      has_values = true;
      update.values.reserve(value.list_value().values_size());
      for (int i = 0; i < value.list_value().values_size(); ++i) {
        const pb::Value& v = value.list_value().values(i);
        if (v.kind_case() != pb::Value::kNumberValue ||
            !std::isfinite(v.number_value()) ||
            std::fabs(v.number_value()) > FLT_MAX) {
          return LineError(line, absl::StrCat("values[", i,
                                              "] is not a finite float"));
        }
        update.values.push_back(static_cast<float>(v.number_value()));
      }
    } else if (key == "samples") {
      const double s = value.number_value();
      if (value.kind_case() != pb::Value::kNumberValue || !(s >= 1) ||
          s != std::floor(s) || s > 9007199254740992.0) {
        return LineError(line, "\"samples\" must be an integer >= 1");
      }
      has_samples = true;
      update.samples = static_cast<int64_t>(s);
    } else {
      return LineError(line, absl::StrCat("unknown field \"", key,
                                          "\"; expected values and samples"));
    }
  }
  if (!has_values) return LineError(line, "\"values\" is missing");
  if (!has_samples) return LineError(line, "\"samples\" is missing");
  return update;
}

absl::Status ParseParam(const std::map<std::string, std::string>& params,
                        const std::string& name, double* out) {
  auto it = params.find(name);
  if (it == params.end()) return absl::OkStatus();
  if (!absl::SimpleAtod(it->second, out) || !std::isfinite(*out)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "=", it->second, " is not a number"));
  }
  return absl::OkStatus();
}

absl::Status ParseParam(const std::map<std::string, std::string>& params,
                        const std::string& name, int* out) {
  auto it = params.find(name);
  if (it == params.end()) return absl::OkStatus();
  if (!absl::SimpleAtoi(it->second, out) || *out < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, "=", it->second, " is not an integer >= 0"));
  }
  return absl::OkStatus();
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "\"inf\"" : "\"-inf\"";
  if (std::isnan(v)) return "\"nan\"";
  return absl::StrFormat("%.9g", v);
}

std::unique_ptr<v1::FederatedService::Stub> Stub() {
  return v1::FederatedService::NewStub(TargetChannel());
}

std::string Version(const v1::VersionRef& v) {
  return v.version() == 0 ? "-" : absl::StrCat(v.version());
}

int PrintRoundTable(const std::vector<const v1::Round*>& rounds) {
  std::vector<std::vector<std::string>> rows = {
      {"ROUND", "STATE", "BASE", "SITES", "SUBMITTED", "ROWS", "EPSILON",
       "RESULT", "CREATED"}};
  for (const v1::Round* r : rounds) {
    int submitted = 0;
    for (const v1::Participant& p : r->participants()) {
      submitted += p.state() == v1::PARTICIPANT_STATE_SUBMITTED;
    }
    rows.push_back(
        {r->name(), Short(v1::RoundState_Name(r->state()), "ROUND_STATE_"),
         Version(r->base_version()), absl::StrCat(r->participants_size()),
         absl::StrCat(submitted), absl::StrCat(r->total_samples()),
         r->config().differential_privacy().enabled()
             ? absl::StrFormat("%.3f", r->privacy().epsilon())
             : "-",
         Version(r->result_version()), TimeText(r->create_time())});
  }
  PrintTable(rows);
  return 0;
}

int StartRound() {
  if (absl::GetFlag(FLAGS_model).empty()) {
    return Fail("federated start", absl::InvalidArgumentError(
                                       "--model=M is required"));
  }
  v1::StartRoundRequest request;
  request.set_parent(absl::StrCat("models/", absl::GetFlag(FLAGS_model)));
  request.set_reason(absl::GetFlag(FLAGS_reason));
  const std::string rule = absl::GetFlag(FLAGS_rule);
  if (const std::string path = absl::GetFlag(FLAGS_round_config);
      !path.empty()) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return Fail("federated start",
                  absl::InvalidArgumentError(
                      absl::StrCat("--round_config: cannot read ", path)));
    }
    const std::string body = text.str();
    const bool json =
        absl::StartsWith(absl::StripLeadingAsciiWhitespace(body), "{");
    bool parsed = false;
    std::string error;
    if (json) {
      const auto s = pb::util::JsonStringToMessage(body,
                                                   request.mutable_config());
      parsed = s.ok();
      error = std::string(s.message());
    } else {
      parsed = pb::TextFormat::ParseFromString(body, request.mutable_config());
      error = "not a FederatedConfig in protobuf text format";
    }
    if (!parsed) {
      return Fail("federated start",
                  absl::InvalidArgumentError(absl::StrCat(
                      "--round_config: ", path, ": ", error)));
    }
  }
  if (!rule.empty() || absl::GetFlag(FLAGS_min_sites) > 0 ||
      absl::GetFlag(FLAGS_max_sites) > 0 || absl::GetFlag(FLAGS_epochs) > 0 ||
      absl::GetFlag(FLAGS_learning_rate) > 0) {
    v1::FederatedConfig* config = request.mutable_config();
    if (!rule.empty()) {
      const std::string name = absl::StrCat(
          "AGGREGATION_",
          absl::AsciiStrToUpper(rule == "median" ? "coordinate_median" : rule));
      v1::Aggregation a;
      if (!v1::Aggregation_Parse(name, &a)) {
        return Fail("federated start",
                    absl::InvalidArgumentError(absl::StrCat(
                        "--rule=", rule,
                        ": one of fedavg, fedprox, median, trimmed_mean, "
                        "krum, multi_krum")));
      }
      config->set_aggregation(a);
    }
    if (absl::GetFlag(FLAGS_min_sites) > 0) {
      config->set_min_sites(absl::GetFlag(FLAGS_min_sites));
    }
    if (absl::GetFlag(FLAGS_max_sites) > 0) {
      config->set_max_sites(absl::GetFlag(FLAGS_max_sites));
    }
    if (absl::GetFlag(FLAGS_epochs) > 0) {
      config->set_local_epochs(absl::GetFlag(FLAGS_epochs));
    }
    if (absl::GetFlag(FLAGS_learning_rate) > 0) {
      config->set_local_learning_rate(absl::GetFlag(FLAGS_learning_rate));
    }
  }
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::StartRoundResponse response;
  grpc::Status s = Stub()->StartRound(&context, request, &response);
  if (!s.ok()) return FailGrpc("federated start", s);
  if (JsonOutput()) return PrintJson(response.round());
  const v1::Round& r = response.round();
  std::cout << "opened " << r.name() << " on version "
            << r.base_version().version() << " (" << r.num_parameters()
            << " parameters, " << Short(v1::Aggregation_Name(
                                            r.config().aggregation()),
                                        "AGGREGATION_")
            << ", " << r.config().min_sites() << " to "
            << (r.config().max_sites() == 0
                    ? std::string("any number of")
                    : absl::StrCat(r.config().max_sites()))
            << " sites); joins close at " << TimeText(r.join_deadline()) << "\n";
  return 0;
}

int ListRounds() {
  v1::ListRoundsRequest request;
  request.set_parent(absl::GetFlag(FLAGS_model).empty()
                         ? "models/-"
                         : absl::StrCat("models/", absl::GetFlag(FLAGS_model)));
  request.set_filter(absl::GetFlag(FLAGS_filter));
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListRoundsResponse response;
  grpc::Status s = Stub()->ListRounds(&context, request, &response);
  if (!s.ok()) return FailGrpc("federated rounds", s);
  if (JsonOutput()) return PrintJson(response);
  std::vector<const v1::Round*> rounds;
  for (const v1::Round& r : response.rounds()) rounds.push_back(&r);
  return PrintRoundTable(rounds);
}

int ShowRound(const std::string& name) {
  v1::GetRoundRequest request;
  request.set_name(name);
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetRoundResponse response;
  grpc::Status s = Stub()->GetRound(&context, request, &response);
  if (!s.ok()) return FailGrpc("federated round", s);
  if (JsonOutput()) return PrintJson(response.round());
  const v1::Round& r = response.round();
  PrintRoundTable({&r});
  if (r.has_error()) std::cout << "error: " << r.error().message() << "\n";
  if (r.has_aggregate_norm()) {
    std::cout << "aggregate norm " << r.aggregate_norm() << "; run "
              << (r.run().empty() ? "-" : r.run()) << "\n";
  }
  // Where the round's time went (site phases: the slowest site's).
  const v1::RoundPhases& ph = r.phases();
  std::string slowest;
  absl::Duration longest;
  std::vector<std::string> phases;
  for (const auto& [label, d] :
       {std::pair{"join", &ph.join()}, std::pair{"download", &ph.download()},
        std::pair{"local training", &ph.local_training()},
        std::pair{"upload", &ph.upload()},
        std::pair{"aggregation", &ph.aggregation()},
        std::pair{"validation", &ph.validation()}}) {
    const absl::Duration t = core::FromProto(*d);
    phases.push_back(absl::StrFormat("%s %.2f s", label,
                                     absl::ToDoubleSeconds(t)));
    if (t > longest) {
      longest = t;
      slowest = label;
    }
  }
  if (!slowest.empty()) {
    std::cout << "phases: " << absl::StrJoin(phases, ", ") << " (slowest: "
              << slowest << ")\n";
  }
  std::vector<std::vector<std::string>> rows = {
      {"SITE", "INDEX", "STATE", "ROWS", "NORM", "OUTLIER SCORE", "DOWNLOAD",
       "TRAINING", "UPLOAD", "REASON"}};
  auto seconds = [](const google::protobuf::Duration& d) {
    return absl::StrFormat("%.2f s",
                           absl::ToDoubleSeconds(core::FromProto(d)));
  };
  for (const v1::Participant& p : r.participants()) {
    const bool timed = p.has_timings();
    rows.push_back(
        {p.site_id(), absl::StrCat(p.index()),
         Short(v1::ParticipantState_Name(p.state()), "PARTICIPANT_STATE_"),
         absl::StrCat(p.sample_count()),
         p.has_update_norm() ? absl::StrFormat("%.4g", p.update_norm()) : "-",
         p.has_outlier_score() ? absl::StrFormat("%.2f", p.outlier_score())
                               : "-",
         timed ? seconds(p.timings().download()) : "-",
         timed ? seconds(p.timings().local_training()) : "-",
         timed ? seconds(p.timings().upload()) : "-", p.reason()});
  }
  PrintTable(rows);
  return 0;
}

int ListSites() {
  v1::ListSitesRequest request;
  request.set_filter(absl::GetFlag(FLAGS_filter));
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListSitesResponse response;
  grpc::Status s = Stub()->ListSites(&context, request, &response);
  if (!s.ok()) return FailGrpc("federated sites", s);
  if (JsonOutput()) return PrintJson(response);
  std::vector<std::vector<std::string>> rows = {
      {"SITE", "TRUST", "JOINED", "AGGREGATED", "OUTLIER ROUNDS", "LAST SEEN",
       "REASON"}};
  for (const v1::Site& site : response.sites()) {
    rows.push_back({site.name(),
                    Short(v1::SiteTrust_Name(site.trust()), "SITE_TRUST_"),
                    absl::StrCat(site.rounds_joined()),
                    absl::StrCat(site.rounds_aggregated()),
                    absl::StrCat(site.consecutive_outliers()),
                    TimeText(site.last_seen_time()), site.trust_reason()});
  }
  PrintTable(rows);
  return 0;
}

int SetTrust(const std::string& verb, const std::string& site,
             v1::SiteTrust trust) {
  v1::UpdateSiteRequest request;
  request.mutable_site()->set_name(absl::StrCat("sites/", site));
  request.mutable_site()->set_trust(trust);
  request.mutable_site()->set_trust_reason(
      absl::GetFlag(FLAGS_reason).empty()
          ? absl::StrCat(verb == "exclude" ? "excluded" : "readmitted",
                         " by an operator")
          : absl::GetFlag(FLAGS_reason));
  request.mutable_update_mask()->add_paths("trust");
  request.mutable_update_mask()->add_paths("trust_reason");
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::UpdateSiteResponse response;
  grpc::Status s = Stub()->UpdateSite(&context, request, &response);
  if (!s.ok()) return FailGrpc(absl::StrCat("federated ", verb), s);
  if (JsonOutput()) return PrintJson(response.site());
  std::cout << response.site().name() << " is "
            << Short(v1::SiteTrust_Name(response.site().trust()),
                     "SITE_TRUST_")
            << " (" << response.site().trust_reason() << ")\n";
  return 0;
}

}  // namespace

absl::StatusOr<std::vector<UpdateLine>> ReadUpdateLines(std::istream& in) {
  std::vector<UpdateLine> updates;
  std::string text;
  int line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (absl::StripAsciiWhitespace(text).empty()) continue;
    absl::StatusOr<UpdateLine> u = ParseUpdateLine(text, line);
    if (!u.ok()) return u.status();
    updates.push_back(*std::move(u));
  }
  return updates;
}

absl::Status AggregateUpdates(std::istream& in, const std::string& rule_name,
                              const std::map<std::string, std::string>& params,
                              std::ostream& out) {
  absl::StatusOr<federated::Rule> rule = federated::ParseRule(rule_name);
  if (!rule.ok()) return rule.status();
  static const char* const kKnown[] = {"trim_fraction", "byzantine_sites",
                                       "multi_krum_selected", "clip_norm"};
  for (const auto& [name, value] : params) {
    if (std::find(std::begin(kKnown), std::end(kKnown), name) ==
        std::end(kKnown)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown parameter '", name, "'; one of: ",
                       absl::StrJoin(kKnown, ", ")));
    }
  }
  federated::AggregationOptions options{.rule = *rule};
  double clip_norm = 0;
  int byzantine = -1;
  if (absl::Status s = ParseParam(params, "trim_fraction",
                                  &options.trim_fraction);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseParam(params, "byzantine_sites", &byzantine);
      !s.ok()) {
    return s;
  }
  options.byzantine_sites = params.count("byzantine_sites") ? byzantine : -1;
  if (absl::Status s = ParseParam(params, "multi_krum_selected",
                                  &options.multi_krum_selected);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseParam(params, "clip_norm", &clip_norm); !s.ok()) {
    return s;
  }
  if (params.count("clip_norm") && !(clip_norm > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip_norm must be > 0 (got ", clip_norm, ")"));
  }

  absl::StatusOr<std::vector<UpdateLine>> lines = ReadUpdateLines(in);
  if (!lines.ok()) return lines.status();
  std::vector<double> norms;
  for (UpdateLine& u : *lines) {
    norms.push_back(clip_norm > 0
                        ? federated::ClipToNorm(absl::MakeSpan(u.values),
                                                clip_norm)
                        : federated::L2Norm(u.values));
  }
  std::vector<federated::SiteUpdate> updates;
  for (const UpdateLine& u : *lines) updates.push_back({u.values, u.samples});
  absl::StatusOr<federated::AggregationResult> result =
      federated::Aggregate(updates, options);
  if (!result.ok()) return result.status();

  std::vector<std::string> values;
  values.reserve(result->values.size());
  for (float v : result->values) values.push_back(Number(v));
  std::vector<std::string> fields = {
      absl::StrCat("\"rule\":\"", federated::RuleName(*rule), "\""),
      absl::StrCat("\"updates\":", updates.size()),
      absl::StrCat("\"values\":[", absl::StrJoin(values, ","), "]"),
      absl::StrCat("\"norm\":", Number(federated::L2Norm(result->values))),
      absl::StrCat("\"total_samples\":", result->total_samples),
      absl::StrCat("\"selected\":[", absl::StrJoin(result->selected, ","),
                   "]"),
      absl::StrCat("\"update_norms\":[",
                   absl::StrJoin(norms, ",",
                                 [](std::string* o, double n) {
                                   o->append(Number(n));
                                 }),
                   "]")};
  if (clip_norm > 0) {
    fields.push_back(absl::StrCat("\"clip_norm\":", Number(clip_norm)));
  }
  if (*rule == federated::Rule::kTrimmedMean) {
    fields.push_back(
        absl::StrCat("\"trimmed_per_side\":", result->trimmed_per_side));
  }
  if (*rule == federated::Rule::kKrum || *rule == federated::Rule::kMultiKrum) {
    fields.push_back(
        absl::StrCat("\"byzantine_sites\":", result->byzantine_sites));
    fields.push_back(absl::StrCat(
        "\"krum_scores\":[",
        absl::StrJoin(result->krum_scores, ",",
                      [](std::string* o, double s) { o->append(Number(s)); }),
        "]"));
  }
  out << "{" << absl::StrJoin(fields, ",") << "}\n";
  return absl::OkStatus();
}

absl::Status WriteEpsilon(double noise_multiplier, double sample_rate,
                          int64_t steps, double delta, bool json,
                          std::ostream& out) {
  if (!(noise_multiplier > 0) || std::isinf(noise_multiplier)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--noise must be > 0 (got ", noise_multiplier, ")"));
  }
  if (!(sample_rate > 0 && sample_rate <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sample_rate must be in (0, 1] (got ", sample_rate, ")"));
  }
  if (steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--steps must be >= 1 (got ", steps, ")"));
  }
  federated::RdpAccountant accountant;
  if (absl::Status s = accountant.Step(noise_multiplier, sample_rate, steps);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<federated::PrivacySpent> spent = accountant.Spent(delta);
  if (!spent.ok()) return spent.status();
  if (json) {
    out << "{\"epsilon\":" << Number(spent->epsilon)
        << ",\"delta\":" << Number(delta) << ",\"order\":"
        << Number(spent->order) << ",\"noise_multiplier\":"
        << Number(noise_multiplier) << ",\"sample_rate\":"
        << Number(sample_rate) << ",\"steps\":" << steps << "}\n";
  } else {
    out << absl::StrFormat(
        "epsilon %.6g at delta %g after %d rounds of noise multiplier %g at "
        "sample rate %g (best RDP order %g)\n",
        spent->epsilon, delta, steps, noise_multiplier, sample_rate,
        spent->order);
  }
  return absl::OkStatus();
}

int RunFederatedCommand(const std::vector<std::string>& args) {
  const std::string usage =
      "federated: expected a subcommand: continuumctl federated start "
      "--model=M [--rule=R] [--min_sites=N] [--max_sites=N] | rounds "
      "[--model=M] [--filter=F] | round NAME | sites [--filter=F] | exclude "
      "SITE [--reason=T] | readmit SITE [--reason=T] | aggregate --rule=NAME "
      "[--param K=V ...] < updates.jsonl | epsilon --noise=Z "
      "--sample_rate=Q --steps=N [--delta=D]";
  if (args.empty()) {
    std::cerr << usage << "\n";
    return 2;
  }
  const std::string& verb = args[0];
  const bool takes_name =
      verb == "round" || verb == "exclude" || verb == "readmit";
  if (takes_name && args.size() != 2) {
    std::cerr << "federated " << verb << ": expected one "
              << (verb == "round" ? "round name (models/M/rounds/N)"
                                  : "site id")
              << "\n";
    return 2;
  }
  if (!takes_name && args.size() != 1) {
    std::cerr << "federated " << verb << ": unexpected argument '" << args[1]
              << "'\n";
    return 2;
  }
  if (verb == "start") return StartRound();
  if (verb == "rounds") return ListRounds();
  if (verb == "round") return ShowRound(args[1]);
  if (verb == "sites") return ListSites();
  if (verb == "exclude") return SetTrust(verb, args[1], v1::SITE_TRUST_EXCLUDED);
  if (verb == "readmit") return SetTrust(verb, args[1], v1::SITE_TRUST_TRUSTED);
  if (args[0] == "aggregate") {
    absl::StatusOr<std::map<std::string, std::string>> params =
        ParseDetectorParams(absl::GetFlag(FLAGS_param));
    if (!params.ok()) return Fail("federated aggregate", params.status());
    std::ios::sync_with_stdio(false);
    const std::string rule = absl::GetFlag(FLAGS_rule);
    absl::Status s = AggregateUpdates(std::cin, rule.empty() ? "fedavg" : rule,
                                      *params, std::cout);
    std::cout.flush();
    return s.ok() ? 0 : Fail("federated aggregate", s);
  }
  if (args[0] == "epsilon") {
    absl::Status s = WriteEpsilon(
        absl::GetFlag(FLAGS_noise), absl::GetFlag(FLAGS_sample_rate),
        absl::GetFlag(FLAGS_steps), absl::GetFlag(FLAGS_delta), JsonOutput(),
        std::cout);
    return s.ok() ? 0 : Fail("federated epsilon", s);
  }
  std::cerr << usage << "\n";
  return 2;
}

}  // namespace continuum::ctl
