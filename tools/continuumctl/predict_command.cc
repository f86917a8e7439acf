#include "tools/continuumctl/predict_command.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "continuum/v1/inference.grpc.pb.h"
#include "tools/continuumctl/cli_util.h"
#include "tools/continuumctl/collector_commands.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, csv);
ABSL_FLAG(std::string, log, "default",
          "predict: how the rows are logged: default (the pod's policy for "
          "the caller), never (evaluation traffic), sampled, always.");
ABSL_FLAG(int64_t, pin, 0,
          "predict: pin a version number the pod holds (0 = the "
          "deployment's routing).");
ABSL_FLAG(std::string, routing_key, "",
          "predict: key for sticky routing between stable and canary.");
// --steps (defined with `federated epsilon`): for predict, every STEPS rows
// of --csv are one forecaster window.
ABSL_DECLARE_FLAG(int64_t, steps);

namespace continuum::ctl {
namespace {

constexpr char kCommand[] = "predict";

// Parses one CSV line of numbers into `out`; false if a field is not one.
bool ParseNumbers(const std::vector<std::string>& fields,
                  std::vector<float>* out, size_t* bad_column) {
  out->clear();
  for (size_t i = 0; i < fields.size(); ++i) {
    float v = 0;
    if (!absl::SimpleAtof(absl::StripAsciiWhitespace(fields[i]), &v)) {
      *bad_column = i + 1;
      return false;
    }
    out->push_back(v);
  }
  return true;
}

// One row of the printed table for row `i` of `response`.
std::vector<std::string> RowOf(const v1::PredictResponse& response, int i,
                               int64_t width) {
  std::vector<std::string> row = {absl::StrCat(i)};
  if (response.predicted_classes_size() > i) {
    row.push_back(absl::StrCat(response.predicted_classes(i)));
  } else if (response.scores_size() > i) {
    row.push_back(absl::StrFormat(
        "score %.4g%s", response.scores(i),
        response.anomalies_size() > i && response.anomalies(i) ? " anomaly"
                                                               : ""));
  } else {
    row.push_back("");
  }
  std::vector<std::string> outputs;
  const auto& data = response.outputs().data();
  for (int64_t j = 0; j < width && i * width + j < data.size(); ++j) {
    outputs.push_back(absl::StrFormat("%.4g", data[i * width + j]));
  }
  row.push_back(absl::StrJoin(outputs, " "));
  return row;
}

}  // namespace

absl::StatusOr<v1::LogPolicy> ParseLogPolicy(absl::string_view text) {
  const std::string word = absl::AsciiStrToLower(text);
  if (word == "default") return v1::LOG_POLICY_UNSPECIFIED;
  if (word == "never") return v1::LOG_POLICY_NEVER;
  if (word == "sampled") return v1::LOG_POLICY_SAMPLED;
  if (word == "always") return v1::LOG_POLICY_ALWAYS;
  return absl::InvalidArgumentError(
      absl::StrCat("--log: '", text,
                   "' is not one of default, never, sampled, always"));
}

absl::StatusOr<Rows> ParseRows(absl::string_view csv) {
  Rows rows;
  std::vector<float> row;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(csv, '\n')) {
    ++line_number;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) continue;
    absl::StatusOr<std::vector<std::string>> fields = SplitCsvLine(line);
    if (!fields.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", fields.status().message()));
    }
    size_t bad_column = 0;
    if (!ParseNumbers(*fields, &row, &bad_column)) {
      if (rows.width == 0 && line_number == 1) continue;  // A header.
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ", column ", bad_column, ": '",
                       (*fields)[bad_column - 1], "' is not a number"));
    }
    if (rows.width == 0) rows.width = static_cast<int>(row.size());
    if (static_cast<int>(row.size()) != rows.width) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, " has ", row.size(),
                       " values; the first row has ", rows.width));
    }
    rows.values.insert(rows.values.end(), row.begin(), row.end());
  }
  if (rows.size() == 0) {
    return absl::InvalidArgumentError("the CSV holds no rows");
  }
  return rows;
}

int RunPredictCommand(const std::vector<std::string>& args) {
  if (!args.empty()) {
    return Fail(kCommand, absl::InvalidArgumentError(absl::StrCat(
                              "unexpected argument '", args.front(), "'")));
  }
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string model = absl::GetFlag(FLAGS_model);
  const std::string path = absl::GetFlag(FLAGS_csv);
  if (target.empty() || model.empty() || path.empty()) {
    return Fail(kCommand,
                absl::InvalidArgumentError(
                    "--target (the inference pod), --model and --csv are "
                    "required"));
  }
  absl::StatusOr<v1::LogPolicy> log = ParseLogPolicy(absl::GetFlag(FLAGS_log));
  if (!log.ok()) return Fail(kCommand, log.status());
  std::ifstream in(path);
  if (!in) {
    return Fail(kCommand, absl::InvalidArgumentError(
                              absl::StrCat("cannot read --csv ", path)));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<Rows> rows = ParseRows(text.str());
  if (!rows.ok()) {
    return Fail(kCommand, absl::InvalidArgumentError(absl::StrCat(
                              path, ": ", rows.status().message())));
  }

  v1::PredictRequest request;
  request.set_model(model);
  request.set_version(absl::GetFlag(FLAGS_pin));
  request.set_routing_key(absl::GetFlag(FLAGS_routing_key));
  request.set_log(*log);
  const int64_t steps = absl::GetFlag(FLAGS_steps);
  if (steps < 0 || (steps > 0 && rows->size() % steps != 0)) {
    return Fail(kCommand,
                absl::InvalidArgumentError(absl::StrCat(
                    "--steps=", steps, ": ", path, " holds ", rows->size(),
                    " rows, not whole windows of ", steps, " steps")));
  }
  if (steps > 0) {
    request.mutable_inputs()->add_shape(rows->size() / steps);
    request.mutable_inputs()->add_shape(steps);
  } else {
    request.mutable_inputs()->add_shape(rows->size());
  }
  request.mutable_inputs()->add_shape(rows->width);
  *request.mutable_inputs()->mutable_data() = {rows->values.begin(),
                                               rows->values.end()};
  auto stub = v1::InferenceService::NewStub(TargetChannel());
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::PredictResponse response;
  grpc::Status s = stub->Predict(&context, request, &response);
  if (!s.ok()) return FailGrpc(kCommand, s);
  if (JsonOutput()) return PrintJson(response);

  // Rows answered, each with every value of its output (a forecaster's
  // horizons x series x quantiles).
  const auto& shape = response.outputs().shape();
  const int64_t n = shape.empty() ? 0 : shape[0];
  const int64_t width = n > 0 ? response.outputs().data_size() / n : 0;
  std::vector<std::vector<std::string>> table = {
      {"ROW", "PREDICTION", "OUTPUTS"}};
  for (int64_t i = 0; i < n; ++i) {
    table.push_back(RowOf(response, static_cast<int>(i), width));
  }
  PrintTable(table);
  std::cout << "models/" << response.model() << "/versions/"
            << response.version().version() << " ("
            << v1::ServingRole_Name(response.role()) << ", pod "
            << response.pod_id() << "): " << n << " rows, "
            << (response.logged() ? "logged" : "not logged") << " (--log="
            << absl::AsciiStrToLower(absl::GetFlag(FLAGS_log)) << ")\n";
  return 0;
}

}  // namespace continuum::ctl
