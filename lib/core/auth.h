// Authentication and per-method roles, the plain C++ side (no gRPC): the
// identities file, the default role of every method, and the decision for
// one call. lib/core/auth_processor.h applies it to gRPC calls.
//
// Roles (docs/operations.md, "Security"):
//   viewer    reads metadata (Get*, List*, Watch*), downloads artifacts,
//             predicts
//   producer  sends data: Ingest, IngestBatch, ReportOutcome, Observe,
//             Predict, PredictStream
//   trainer   what viewer may, and reads records (Scan, SampleReplay),
//             uploads versions, submits validation, records a federated
//             coordinator's decisions in the audit log (RecordAuditEvent)
//   operator  what viewer may, and changes models, rollouts, training and
//             monitors (Promote, Rollback, TriggerRun, ConfigureMonitor...)
//   pod       an inference pod: what viewer and producer may, and
//             ReportServingState
//   site      a federated site: JoinRound, SubmitUpdate, RevealMaskSeeds,
//             GetRound
//   admin     every method, including DeleteDataset and ExportAudit
// A method without an entry is admin-only.
#ifndef CONTINUUM_LIB_CORE_AUTH_H_
#define CONTINUUM_LIB_CORE_AUTH_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/config/v1/server_config.pb.h"

namespace continuum::core {

inline constexpr char kAdminRole[] = "admin";

// Who a caller is.
struct Identity {
  std::string subject;
  std::set<std::string> roles;
};

// The identities file (AuthConfig.identities_file's format).
class IdentityTable {
 public:
  // INVALID_ARGUMENT naming the line: an unknown kind, a token that is not
  // sha256:<64 hex digits>, a missing subject or role, a role not in
  // KnownRoles(), a token or certificate listed twice.
  static absl::StatusOr<IdentityTable> Parse(absl::string_view text);

  // The identity of a bearer token (hashed here), or of a certificate's
  // common name.
  std::optional<Identity> ForToken(absl::string_view token) const;
  std::optional<Identity> ForCertificate(absl::string_view common_name) const;

  size_t size() const { return tokens_.size() + certificates_.size(); }

 private:
  std::map<std::string, Identity> tokens_;  // by lowercase SHA-256 hex
  std::map<std::string, Identity> certificates_;
};

// Lowercase hex SHA-256 of `token`.
std::string TokenHash(absl::string_view token);

// viewer, producer, trainer, operator, pod, site, admin.
const std::set<std::string>& KnownRoles();

// Method name (e.g. "Promote") -> roles that may call it, admin aside.
const std::map<std::string, std::set<std::string>>& DefaultMethodRoles();

// The roles of each method under `config` (its method_roles over the
// defaults) and the roles that may act for others.
class MethodPolicy {
 public:
  // INVALID_ARGUMENT for an unknown role in method_roles or
  // delegating_roles ("server.auth.method_roles[Promote]: ...").
  static absl::StatusOr<MethodPolicy> Create(
      const config::v1::AuthConfig& config);

  // Whether `path` (/package.Service/Method) needs no identity: health
  // checks and reflection.
  static bool IsOpen(absl::string_view path);

  // OK, or PERMISSION_DENIED naming the subject, its roles, the method and
  // the roles it needs.
  absl::Status Check(const Identity& identity, absl::string_view path) const;

  // Whether `identity` may name another actor (x-continuum-actor).
  bool MayDelegate(const Identity& identity) const;

 private:
  std::map<std::string, std::set<std::string>> roles_;
  std::set<std::string> delegating_;
};

// The actor recorded for a call: the subject, or "SUBJECT on behalf of
// ACTOR" when `claimed` (x-continuum-actor) names someone else and the
// caller may delegate.
std::string RecordedActor(const Identity& identity,
                          absl::string_view claimed, bool may_delegate);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_AUTH_H_
