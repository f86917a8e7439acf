#include "tools/continuumctl/registry_commands.h"

#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "lib/store/blob_store.h"
#include "services/registry/audit_chain.h"
#include "tools/continuumctl/cli_util.h"

ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::string, filter);

ABSL_FLAG(std::string, model, "", "Model id (registry commands, predict).");
ABSL_FLAG(std::string, family, "mlp_classifier",
          "models register: mlp_classifier, mlp_regressor, autoencoder or "
          "gru_forecaster.");
ABSL_FLAG(
    std::string, plan, "",
    "models register: rollout plan, immediate or canary (default canary).");
ABSL_FLAG(
    std::string, version, "",
    "Version: a resource name models/M/versions/N, or a number with --model.");
ABSL_FLAG(std::string, file, "", "upload: the artifact file.");
ABSL_FLAG(std::string, spec, "",
          "models register: the model's ModelSpec in protobuf text format, "
          "e.g. 'sequence_length: 48 horizons: [1, 6, 24] hidden_sizes: 32' "
          "for a gru_forecaster; a file with it: @FILE.");
ABSL_FLAG(std::string, report, "",
          "upload, validate: a ValidationReport in proto3 JSON.");
ABSL_FLAG(bool, complete, false, "promote: go straight to production.");
ABSL_FLAG(int, percent, -1, "traffic: the canary's share, 0..100.");
ABSL_FLAG(std::string, reason, "", "Reason recorded in the audit log.");

namespace continuum::ctl {
namespace {

using google::protobuf::util::TimeUtil;

std::unique_ptr<v1::RegistryService::Stub> Stub() {
  return v1::RegistryService::NewStub(TargetChannel());
}

absl::Status Require(std::initializer_list<std::pair<const char*, bool>> flags,
                     absl::string_view usage) {
  if (absl::GetFlag(FLAGS_target).empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target is required; ", usage));
  }
  for (auto [name, present] : flags) {
    if (!present) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " is required; ", usage));
    }
  }
  return absl::OkStatus();
}

// --version as a resource name.
std::string VersionName() {
  std::string version = absl::GetFlag(FLAGS_version);
  int64_t number = 0;
  if (absl::SimpleAtoi(version, &number) || version == "latest" ||
      version == "production") {
    return absl::StrCat("models/", absl::GetFlag(FLAGS_model), "/versions/",
                        version);
  }
  return version;
}

std::string ModelName() {
  return absl::StrCat("models/", absl::GetFlag(FLAGS_model));
}

absl::StatusOr<v1::ValidationReport> ReadReport(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::stringstream text;
  text << in.rdbuf();
  v1::ValidationReport report;
  auto status =
      google::protobuf::util::JsonStringToMessage(text.str(), &report);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is not a ValidationReport in JSON: ", status.message().as_string()));
  }
  return report;
}

std::string State(v1::VersionState s) {
  std::string name = v1::VersionState_Name(s);
  return name.substr(std::string("VERSION_STATE_").size());
}

void PrintDecision(const v1::ValidationDecision& d) {
  std::cout << d.summary() << "\n";
  std::vector<std::vector<std::string>> rows = {
      {"GATE", "SET", "RESULT", "DETAIL"}};
  for (const v1::GateResult& g : d.gates()) {
    rows.push_back(
        {g.gate(), g.evaluation_set(),
         g.skipped() ? "skipped" : (g.passed() ? "passed" : "FAILED"),
         g.message()});
  }
  PrintTable(rows);
}

// --spec's text, or with a leading @ the file it names, as a ModelSpec.
absl::StatusOr<v1::ModelSpec> ParseSpecText(const std::string& flag) {
  std::string text = flag;
  if (absl::StartsWith(flag, "@")) {
    std::ifstream in(flag.substr(1));
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("--spec: cannot read ", flag.substr(1)));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    text = buffer.str();
  }
  v1::ModelSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--spec: not a continuum.v1.ModelSpec in protobuf text format: '",
        text, "'"));
  }
  return spec;
}

}  // namespace

int RunModelsCommand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: continuumctl models (list | get --model=M | register "
      "--model=M [--family=F] [--spec=TEXT|@FILE] [--plan=immediate|canary])";
  if (args.size() != 1)
    return Fail("models", absl::InvalidArgumentError(usage));
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  if (args[0] == "list") {
    if (absl::Status s = Require({}, usage); !s.ok()) return Fail("models", s);
    v1::ListModelsRequest request;
    v1::ListModelsResponse response;
    grpc::Status s = stub->ListModels(&context, request, &response);
    if (!s.ok()) return FailGrpc("models", s);
    if (JsonOutput()) return PrintJson(response);
    std::vector<std::vector<std::string>> rows = {
        {"MODEL", "FAMILY", "LATEST", "PRODUCTION", "REVISION"}};
    for (const v1::Model& m : response.models()) {
      rows.push_back({m.name().substr(7), v1::ModelFamily_Name(m.family()),
                      absl::StrCat(m.latest_version()),
                      absl::StrCat(m.production_version()),
                      absl::StrCat(m.deployment_revision())});
    }
    PrintTable(rows);
    return 0;
  }
  if (absl::Status s =
          Require({{"model", !absl::GetFlag(FLAGS_model).empty()}}, usage);
      !s.ok()) {
    return Fail("models", s);
  }
  if (args[0] == "get") {
    v1::GetModelRequest request;
    request.set_name(ModelName());
    v1::GetModelResponse response;
    grpc::Status s = stub->GetModel(&context, request, &response);
    if (!s.ok()) return FailGrpc("models", s);
    return PrintJson(response.model());
  }
  if (args[0] == "register") {
    v1::RegisterModelRequest request;
    request.set_model_id(absl::GetFlag(FLAGS_model));
    v1::ModelFamily family;
    if (!v1::ModelFamily_Parse(
            "MODEL_FAMILY_" +
                absl::AsciiStrToUpper(absl::GetFlag(FLAGS_family)),
            &family)) {
      return Fail("models",
                  absl::InvalidArgumentError(
                      "--family must be mlp_classifier, mlp_regressor, "
                      "autoencoder, gru_forecaster or torchscript"));
    }
    request.mutable_model()->set_family(family);
    if (!absl::GetFlag(FLAGS_spec).empty()) {
      absl::StatusOr<v1::ModelSpec> spec =
          ParseSpecText(absl::GetFlag(FLAGS_spec));
      if (!spec.ok()) return Fail("models", spec.status());
      *request.mutable_model()->mutable_spec() = *spec;
    }
    if (absl::GetFlag(FLAGS_plan) == "immediate") {
      request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
    } else if (!absl::GetFlag(FLAGS_plan).empty() &&
               absl::GetFlag(FLAGS_plan) != "canary") {
      return Fail("models", absl::InvalidArgumentError(
                                "--plan must be immediate or canary"));
    }
    v1::RegisterModelResponse response;
    grpc::Status s = stub->RegisterModel(&context, request, &response);
    if (!s.ok()) return FailGrpc("models", s);
    std::cout << "registered " << response.model().name() << "\n";
    return 0;
  }
  return Fail("models", absl::InvalidArgumentError(usage));
}

int RunVersionsCommand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: continuumctl versions (list --model=M | get --version=V)";
  if (args.size() != 1)
    return Fail("versions", absl::InvalidArgumentError(usage));
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  if (args[0] == "list") {
    if (absl::Status s =
            Require({{"model", !absl::GetFlag(FLAGS_model).empty()}}, usage);
        !s.ok()) {
      return Fail("versions", s);
    }
    v1::ListVersionsRequest request;
    request.set_parent(ModelName());
    request.set_brief(true);
    v1::ListVersionsResponse response;
    grpc::Status s = stub->ListVersions(&context, request, &response);
    if (!s.ok()) return FailGrpc("versions", s);
    if (JsonOutput()) return PrintJson(response);
    std::vector<std::vector<std::string>> rows = {
        {"VERSION", "STATE", "SIZE", "SHA256", "CREATED", "VALIDATION"}};
    for (const v1::Version& v : response.versions()) {
      rows.push_back({absl::StrCat(v.version()), State(v.state()),
                      absl::StrCat(v.size_bytes()), v.sha256().substr(0, 12),
                      TimeUtil::ToString(v.create_time()),
                      v.validation().summary()});
    }
    PrintTable(rows);
    return 0;
  }
  if (args[0] == "get") {
    if (absl::Status s = Require(
            {{"version", !absl::GetFlag(FLAGS_version).empty()}}, usage);
        !s.ok()) {
      return Fail("versions", s);
    }
    v1::GetVersionRequest request;
    request.set_name(VersionName());
    v1::GetVersionResponse response;
    grpc::Status s = stub->GetVersion(&context, request, &response);
    if (!s.ok()) return FailGrpc("versions", s);
    return PrintJson(response.version());
  }
  return Fail("versions", absl::InvalidArgumentError(usage));
}

int RunUploadCommand(const std::vector<std::string>&) {
  const char* usage =
      "usage: continuumctl upload --model=M --file=F [--report=R.json]";
  if (absl::Status s = Require({{"model", !absl::GetFlag(FLAGS_model).empty()},
                                {"file", !absl::GetFlag(FLAGS_file).empty()}},
                               usage);
      !s.ok()) {
    return Fail("upload", s);
  }
  const std::string path = absl::GetFlag(FLAGS_file);
  // First pass: the digest (the registry checks the bytes against it).
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail("upload", absl::NotFoundError("cannot open " + path));
  store::Sha256 sha;
  std::string buffer(1 << 20, '\0');
  int64_t size = 0;
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    sha.Update(absl::string_view(buffer.data(), in.gcount()));
    size += in.gcount();
  }
  v1::UploadVersionRequest request;
  v1::UploadVersionMetadata* metadata = request.mutable_metadata();
  metadata->set_model(absl::GetFlag(FLAGS_model));
  metadata->set_sha256(sha.FinishHex());
  metadata->set_size_bytes(size);
  if (!absl::GetFlag(FLAGS_report).empty()) {
    absl::StatusOr<v1::ValidationReport> report =
        ReadReport(absl::GetFlag(FLAGS_report));
    if (!report.ok()) return Fail("upload", report.status());
    *metadata->mutable_validation_report() = *report;
  }
  auto stub = Stub();
  grpc::ClientContext context;
  v1::UploadVersionResponse response;
  auto writer = stub->UploadVersion(&context, &response);
  writer->Write(request);
  in.clear();
  in.seekg(0);
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    request.set_chunk(buffer.data(), in.gcount());
    if (!writer->Write(request)) break;
  }
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return FailGrpc("upload", s);
  std::cout << (response.created() ? "uploaded " : "already stored as ")
            << response.version().name() << " ("
            << State(response.version().state()) << ", sha256 "
            << response.version().sha256() << ")\n";
  if (response.has_decision()) PrintDecision(response.decision());
  return 0;
}

int RunDownloadCommand(const std::vector<std::string>&) {
  const char* usage = "usage: continuumctl download --version=V --output=F";
  if (absl::Status s =
          Require({{"version", !absl::GetFlag(FLAGS_version).empty()},
                   {"output", !absl::GetFlag(FLAGS_output).empty()}},
                  usage);
      !s.ok()) {
    return Fail("download", s);
  }
  const std::string path = absl::GetFlag(FLAGS_output);
  const std::string partial = path + ".part";
  auto stub = Stub();
  grpc::ClientContext context;
  v1::DownloadArtifactRequest request;
  request.set_name(VersionName());
  auto reader = stub->DownloadArtifact(&context, request);
  std::ofstream out(partial, std::ios::binary | std::ios::trunc);
  v1::DownloadArtifactResponse response;
  store::Sha256 sha;
  std::string expected;
  while (reader->Read(&response)) {
    if (response.has_info()) expected = response.info().sha256();
    out << response.chunk();
    sha.Update(response.chunk());
  }
  out.close();
  grpc::Status s = reader->Finish();
  std::string got = sha.FinishHex();
  if (!s.ok() || got != expected) {
    std::remove(partial.c_str());
    if (!s.ok()) return FailGrpc("download", s);
    return Fail("download",
                absl::DataLossError(absl::StrCat("received bytes hash to ", got,
                                                 ", expected ", expected)));
  }
  std::rename(partial.c_str(), path.c_str());
  std::cout << "downloaded " << request.name() << " to " << path << " (sha256 "
            << got << ")\n";
  return 0;
}

int RunValidateCommand(const std::vector<std::string>&) {
  const char* usage =
      "usage: continuumctl validate --version=V --report=R.json";
  if (absl::Status s =
          Require({{"version", !absl::GetFlag(FLAGS_version).empty()},
                   {"report", !absl::GetFlag(FLAGS_report).empty()}},
                  usage);
      !s.ok()) {
    return Fail("validate", s);
  }
  absl::StatusOr<v1::ValidationReport> report =
      ReadReport(absl::GetFlag(FLAGS_report));
  if (!report.ok()) return Fail("validate", report.status());
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::SubmitValidationRequest request;
  request.set_name(VersionName());
  *request.mutable_report() = *report;
  v1::SubmitValidationResponse response;
  grpc::Status s = stub->SubmitValidation(&context, request, &response);
  if (!s.ok()) return FailGrpc("validate", s);
  if (JsonOutput()) return PrintJson(response);
  std::cout << response.version().name() << " is now "
            << State(response.version().state()) << "\n";
  PrintDecision(response.decision());
  return response.decision().approved() ? 0 : 1;
}

namespace {

void PrintDeployment(const v1::Deployment& d) {
  std::cout << "revision " << d.revision() << ": stable " << d.stable_version();
  if (d.canary_version() != 0) {
    std::cout << ", canary " << d.canary_version() << " at "
              << d.canary_percent() << " %";
  }
  if (d.shadow_version() != 0) std::cout << ", shadow " << d.shadow_version();
  std::cout << " (" << d.reason() << ")\n";
}

}  // namespace

int RunPromoteCommand(const std::vector<std::string>&) {
  const char* usage =
      "usage: continuumctl promote --model=M [--version=N] [--complete]";
  if (absl::Status s =
          Require({{"model", !absl::GetFlag(FLAGS_model).empty()}}, usage);
      !s.ok()) {
    return Fail("promote", s);
  }
  v1::PromoteRequest request;
  request.set_name(ModelName());
  int64_t version = 0;
  if (!absl::GetFlag(FLAGS_version).empty() &&
      !absl::SimpleAtoi(absl::GetFlag(FLAGS_version), &version)) {
    return Fail("promote",
                absl::InvalidArgumentError("--version must be a number"));
  }
  request.set_version(version);
  request.set_complete(absl::GetFlag(FLAGS_complete));
  request.set_reason(absl::GetFlag(FLAGS_reason));
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::PromoteResponse response;
  grpc::Status s = stub->Promote(&context, request, &response);
  if (!s.ok()) return FailGrpc("promote", s);
  if (JsonOutput()) return PrintJson(response);
  PrintDeployment(response.deployment());
  return 0;
}

int RunTrafficCommand(const std::vector<std::string>&) {
  const char* usage = "usage: continuumctl traffic --model=M --percent=P";
  if (absl::Status s = Require({{"model", !absl::GetFlag(FLAGS_model).empty()},
                                {"percent", absl::GetFlag(FLAGS_percent) >= 0}},
                               usage);
      !s.ok()) {
    return Fail("traffic", s);
  }
  v1::SetTrafficRequest request;
  request.set_name(ModelName());
  request.set_canary_percent(absl::GetFlag(FLAGS_percent));
  request.set_reason(absl::GetFlag(FLAGS_reason));
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::SetTrafficResponse response;
  grpc::Status s = stub->SetTraffic(&context, request, &response);
  if (!s.ok()) return FailGrpc("traffic", s);
  PrintDeployment(response.deployment());
  return 0;
}

int RunRollbackCommand(const std::vector<std::string>&) {
  const char* usage =
      "usage: continuumctl rollback --model=M --reason=TEXT [--version=N]";
  if (absl::Status s =
          Require({{"model", !absl::GetFlag(FLAGS_model).empty()},
                   {"reason", !absl::GetFlag(FLAGS_reason).empty()}},
                  usage);
      !s.ok()) {
    return Fail("rollback", s);
  }
  v1::RollbackRequest request;
  request.set_name(ModelName());
  request.set_reason(absl::GetFlag(FLAGS_reason));
  int64_t version = 0;
  if (!absl::GetFlag(FLAGS_version).empty() &&
      !absl::SimpleAtoi(absl::GetFlag(FLAGS_version), &version)) {
    return Fail("rollback",
                absl::InvalidArgumentError("--version must be a number"));
  }
  request.set_to_version(version);
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::RollbackResponse response;
  grpc::Status s = stub->Rollback(&context, request, &response);
  if (!s.ok()) return FailGrpc("rollback", s);
  std::cout << "rolled back from version " << response.withdrawn().version()
            << " to version " << response.restored().version() << "\n";
  PrintDeployment(response.deployment());
  return 0;
}

int RunRolloutCommand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: continuumctl rollout --model=M [status | pause | resume | abort]";
  if (args.size() > 1)
    return Fail("rollout", absl::InvalidArgumentError(usage));
  if (absl::Status s =
          Require({{"model", !absl::GetFlag(FLAGS_model).empty()}}, usage);
      !s.ok()) {
    return Fail("rollout", s);
  }
  const std::string verb = args.empty() ? "status" : args[0];
  auto stub = Stub();
  grpc::ClientContext context;
  SetDeadline(&context);
  grpc::Status s;
  if (verb == "status") {
    v1::GetRolloutStatusRequest request;
    request.set_name(ModelName());
    v1::GetRolloutStatusResponse response;
    s = stub->GetRolloutStatus(&context, request, &response);
    if (s.ok()) {
      if (JsonOutput()) return PrintJson(response);
      const v1::Rollout& r = response.rollout();
      if (r.candidate_version() != 0) {
        // An empty status message printed "10 % ()".
        std::cout << "rollout of version " << r.candidate_version() << ": "
                  << v1::RolloutState_Name(r.state()) << ", "
                  << r.current_percent() << " %"
                  << (r.status_message().empty()
                          ? std::string()
                          : absl::StrCat(" (", r.status_message(), ")"))
                  << "\n";
      } else {
        std::cout << "no rollout\n";
      }
      PrintDeployment(response.deployment());
      // A version the pod failed to load shows here, not only in --json.
      std::vector<std::vector<std::string>> rows = {
          {"POD", "READY", "REVISION", "FAILED"}};
      for (const v1::PodStatus& p : response.pods()) {
        std::vector<std::string> failed;
        for (const v1::VersionServingStatus& v : p.model().versions()) {
          if (v.state() == v1::SERVING_STATE_FAILED) {
            failed.push_back(absl::StrCat("version ", v.version(), ": ",
                                          v.reason()));
          }
        }
        rows.push_back({p.pod_id(), p.ready() ? "yes" : "no",
                        absl::StrCat(p.model().revision()),
                        failed.empty() ? "-" : absl::StrJoin(failed, "; ")});
      }
      if (rows.size() > 1) PrintTable(rows);
      return 0;
    }
  } else if (verb == "pause") {
    v1::PauseRolloutRequest request;
    request.set_name(ModelName());
    request.set_reason(absl::GetFlag(FLAGS_reason));
    v1::PauseRolloutResponse response;
    s = stub->PauseRollout(&context, request, &response);
    if (s.ok()) std::cout << "paused\n";
  } else if (verb == "resume") {
    v1::ResumeRolloutRequest request;
    request.set_name(ModelName());
    request.set_reason(absl::GetFlag(FLAGS_reason));
    v1::ResumeRolloutResponse response;
    s = stub->ResumeRollout(&context, request, &response);
    if (s.ok()) PrintDeployment(response.deployment());
  } else if (verb == "abort") {
    v1::AbortRolloutRequest request;
    request.set_name(ModelName());
    request.set_reason(absl::GetFlag(FLAGS_reason));
    v1::AbortRolloutResponse response;
    s = stub->AbortRollout(&context, request, &response);
    if (s.ok()) PrintDeployment(response.deployment());
  } else {
    return Fail("rollout", absl::InvalidArgumentError(usage));
  }
  return s.ok() ? 0 : FailGrpc("rollout", s);
}

int RunAuditCommand(const std::vector<std::string>& args) {
  const char* usage =
      "usage: continuumctl audit (export [--output=F] [--filter=F] | "
      "verify)";
  if (args.size() != 1 || (args[0] != "export" && args[0] != "verify")) {
    return Fail("audit", absl::InvalidArgumentError(usage));
  }
  if (absl::Status s = Require({}, usage); !s.ok()) return Fail("audit", s);
  auto stub = Stub();
  grpc::ClientContext context;
  v1::ExportAuditRequest request;
  // A filtered export cannot be verified as a chain (registry.proto).
  if (args[0] == "verify" && !absl::GetFlag(FLAGS_filter).empty()) {
    return Fail("audit", absl::InvalidArgumentError(
                             "--filter: audit verify checks the whole chain; "
                             "filter an export instead"));
  }
  if (args[0] == "export") request.set_filter(absl::GetFlag(FLAGS_filter));
  auto reader = stub->ExportAudit(&context, request);
  std::vector<v1::AuditEntry> entries;
  v1::ExportAuditResponse response;
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (args[0] == "export" && !absl::GetFlag(FLAGS_output).empty()) {
    file.open(absl::GetFlag(FLAGS_output));
    out = &file;
  }
  google::protobuf::util::JsonPrintOptions json;
  json.preserve_proto_field_names = true;
  while (reader->Read(&response)) {
    if (args[0] == "export") {
      std::string line;
      (void)google::protobuf::util::MessageToJsonString(response.entry(), &line,
                                                        json);
      *out << line << "\n";
    } else {
      entries.push_back(response.entry());
    }
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return FailGrpc("audit", s);
  if (args[0] == "export") return 0;
  int64_t broken = registry::FindBrokenLink(entries);
  if (broken != 0) {
    std::cout << "audit chain BROKEN at entry " << broken << " of "
              << entries.size() << "\n";
    return 1;
  }
  std::cout << "audit chain verified: " << entries.size()
            << " entries, last hash "
            << (entries.empty() ? std::string(64, '0') : entries.back().hash())
            << "\n";
  return 0;
}

}  // namespace continuum::ctl
