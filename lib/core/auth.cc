#include "lib/core/auth.h"

#include <openssl/sha.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace continuum::core {
namespace {

using RoleMap = std::map<std::string, std::set<std::string>>;

bool IsHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  return true;
}

absl::Status LineError(int line, absl::string_view problem) {
  return absl::InvalidArgumentError(
      absl::StrCat("identities file line ", line, ": ", problem));
}

absl::StatusOr<std::set<std::string>> ParseRoles(absl::string_view text,
                                                 int line) {
  std::set<std::string> roles;
  for (absl::string_view r : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    if (KnownRoles().count(std::string(r)) == 0) {
      return LineError(line,
                       absl::StrCat("unknown role '", r, "' (known: ",
                                    absl::StrJoin(KnownRoles(), ", "), ")"));
    }
    roles.insert(std::string(r));
  }
  if (roles.empty()) return LineError(line, "no role");
  return roles;
}

// The method name of a path /package.Service/Method.
absl::string_view MethodOf(absl::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? path : path.substr(slash + 1);
}

RoleMap BuildDefaults() {
  RoleMap m;
  auto allow = [&m](std::initializer_list<const char*> methods,
                    std::initializer_list<const char*> roles) {
    for (const char* method : methods) {
      for (const char* role : roles) m[method].insert(role);
    }
  };
  // Reading metadata: everyone with a role but producers and sites.
  allow({"GetDataset", "ListDatasets", "GetDatasetStats", "GetModel",
         "ListModels", "GetVersion", "ListVersions", "DownloadArtifact",
         "GetRolloutStatus", "WatchDeployments", "GetRun", "ListRuns",
         "WatchRun", "GetTrainingConfig", "GetModelStatus", "GetMonitor",
         "ListMonitors", "GetDriftStatus", "ListAlerts", "GetAlert",
         "WatchAlerts", "ListRounds", "ListSites", "GetRound"},
        {"viewer", "trainer", "operator", "pod"});
  allow({"Predict", "PredictStream"},
        {"viewer", "producer", "operator", "pod"});
  allow({"Ingest", "IngestBatch", "ReportOutcome", "Observe"},
        {"producer", "pod"});
  allow({"Scan", "SampleReplay", "UploadVersion", "SubmitValidation",
         "RecordAuditEvent"},
        {"trainer"});
  allow({"ReportServingState"}, {"pod"});
  allow({"CreateDataset", "UpdateDataset", "RegisterModel", "UpdateModel",
         "SetTags", "SetAlias", "DeleteAlias", "TransitionVersion", "Promote",
         "SetTraffic", "PauseRollout", "ResumeRollout", "AbortRollout",
         "Rollback", "TriggerRun", "CancelRun", "ConfigureTraining",
         "PauseSchedule", "ResumeSchedule", "ConfigureMonitor", "StartRound",
         "UpdateSite"},
        {"operator"});
  allow({"GetRound", "JoinRound", "SubmitUpdate", "RevealMaskSeeds"},
        {"site"});
  // DeleteDataset and ExportAudit: admin only (no entry).
  return m;
}

}  // namespace

std::string TokenHash(absl::string_view token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * SHA256_DIGEST_LENGTH);
  for (unsigned char b : digest) {
    hex.push_back(kHex[b >> 4]);
    hex.push_back(kHex[b & 15]);
  }
  return hex;
}

const std::set<std::string>& KnownRoles() {
  static const auto* roles = new std::set<std::string>{
      "viewer", "producer", "trainer", "operator", "pod", "site", kAdminRole};
  return *roles;
}

const RoleMap& DefaultMethodRoles() {
  static const auto* roles = new RoleMap(BuildDefaults());
  return *roles;
}

absl::StatusOr<IdentityTable> IdentityTable::Parse(absl::string_view text) {
  IdentityTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (const size_t hash = line.find('#'); hash != absl::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields[0] == "token") {
      if (fields.size() != 4) {
        return LineError(line_number,
                         "expected: token sha256:HEX SUBJECT ROLE[,ROLE...]");
      }
      absl::string_view hash = fields[1];
      if (!absl::ConsumePrefix(&hash, "sha256:") || !IsHex64(hash)) {
        return LineError(line_number,
                         "a token is listed as sha256: and its 64-digit hex "
                         "SHA-256, never as the token itself");
      }
      absl::StatusOr<std::set<std::string>> roles =
          ParseRoles(fields[3], line_number);
      if (!roles.ok()) return roles.status();
      const std::string key = absl::AsciiStrToLower(hash);
      if (!table.tokens_
               .emplace(key, Identity{std::string(fields[2]), *roles})
               .second) {
        return LineError(line_number, "this token is listed twice");
      }
    } else if (fields[0] == "certificate") {
      if (fields.size() != 3) {
        return LineError(line_number,
                         "expected: certificate COMMON_NAME ROLE[,ROLE...]");
      }
      absl::StatusOr<std::set<std::string>> roles =
          ParseRoles(fields[2], line_number);
      if (!roles.ok()) return roles.status();
      if (!table.certificates_
               .emplace(std::string(fields[1]),
                        Identity{absl::StrCat("cert:", fields[1]), *roles})
               .second) {
        return LineError(line_number, absl::StrCat("certificate '", fields[1],
                                                   "' is listed twice"));
      }
    } else {
      return LineError(line_number,
                       absl::StrCat("unknown kind '", fields[0],
                                    "' (token or certificate)"));
    }
  }
  return table;
}

std::optional<Identity> IdentityTable::ForToken(absl::string_view token) const {
  auto it = tokens_.find(TokenHash(token));
  if (it == tokens_.end()) return std::nullopt;
  return it->second;
}

std::optional<Identity> IdentityTable::ForCertificate(
    absl::string_view common_name) const {
  auto it = certificates_.find(std::string(common_name));
  if (it == certificates_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<MethodPolicy> MethodPolicy::Create(
    const config::v1::AuthConfig& config) {
  MethodPolicy policy;
  policy.roles_ = DefaultMethodRoles();
  for (const auto& [method, list] : config.method_roles()) {
    std::set<std::string> roles;
    for (const std::string& role : list.roles()) {
      if (KnownRoles().count(role) == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "server.auth.method_roles[", method, "]: unknown role '", role,
            "'"));
      }
      roles.insert(role);
    }
    policy.roles_[method] = std::move(roles);
  }
  for (const std::string& role : config.delegating_roles()) {
    if (KnownRoles().count(role) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "server.auth.delegating_roles: unknown role '", role, "'"));
    }
    policy.delegating_.insert(role);
  }
  if (policy.delegating_.empty()) policy.delegating_ = {kAdminRole};
  return policy;
}

bool MethodPolicy::IsOpen(absl::string_view path) {
  return absl::StartsWith(path, "/grpc.health.v1.Health/") ||
         absl::StartsWith(path, "/grpc.reflection.");
}

absl::Status MethodPolicy::Check(const Identity& identity,
                                 absl::string_view path) const {
  if (identity.roles.count(kAdminRole) > 0) return absl::OkStatus();
  const absl::string_view method = MethodOf(path);
  std::set<std::string> needed;
  if (auto it = roles_.find(std::string(method)); it != roles_.end()) {
    needed = it->second;
    for (const std::string& role : identity.roles) {
      if (needed.count(role) > 0) return absl::OkStatus();
    }
  }
  needed.insert(kAdminRole);
  return absl::PermissionDeniedError(absl::StrCat(
      identity.subject, " (roles ", absl::StrJoin(identity.roles, ", "),
      ") may not call ", path, ": it needs one of the roles ",
      absl::StrJoin(needed, ", ")));
}

bool MethodPolicy::MayDelegate(const Identity& identity) const {
  for (const std::string& role : identity.roles) {
    if (delegating_.count(role) > 0) return true;
  }
  return false;
}

std::string RecordedActor(const Identity& identity, absl::string_view claimed,
                          bool may_delegate) {
  if (claimed.empty() || !may_delegate || claimed == identity.subject) {
    return identity.subject;
  }
  return absl::StrCat(identity.subject, " on behalf of ", claimed);
}

}  // namespace continuum::core
