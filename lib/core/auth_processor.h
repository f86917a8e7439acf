// Authentication of gRPC calls (server.auth): an AuthMetadataProcessor that
// identifies each call by its bearer token (from the identities file, or a
// JWT checked by jwt.h) or client certificate, checks
// the method's roles (auth.h), removes the token from the metadata the
// handlers see, and hands the identity to them as properties of the call's
// AuthContext, read back by ActorOf (call_identity.h). It runs before the
// call reaches its handler: a refused call never runs. gRPC applies an
// AuthMetadataProcessor only on secure ports, hence auth needs server.tls.
//
// Thread safety: Process may run on several gRPC threads at once.
#ifndef CONTINUUM_LIB_CORE_AUTH_PROCESSOR_H_
#define CONTINUUM_LIB_CORE_AUTH_PROCESSOR_H_

#include <grpcpp/security/auth_metadata_processor.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/config/v1/server_config.pb.h"
#include "lib/core/auth.h"
#include "lib/core/jwt.h"

namespace continuum::core {

// AuthContext properties a checked call carries.
inline constexpr char kSubjectProperty[] = "continuum.subject";
inline constexpr char kMayDelegateProperty[] = "continuum.may_delegate";

class CallAuthenticator final : public grpc::AuthMetadataProcessor {
 public:
  // Reads the identities file and builds the method policy;
  // INVALID_ARGUMENT or FAILED_PRECONDITION naming the file or field.
  static absl::StatusOr<std::shared_ptr<CallAuthenticator>> Create(
      const config::v1::AuthConfig& config);

  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  CallAuthenticator(std::string path, MethodPolicy policy, IdentityTable table,
                    std::filesystem::file_time_type mtime,
                    std::optional<JwtVerifier> jwt);
  // Re-reads the identities file if it changed (checked at most every
  // second); a bad file keeps the last good table (logged).
  void MaybeReload() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;  // Empty: no identities file (JWTs only).
  const MethodPolicy policy_;
  const std::optional<JwtVerifier> jwt_;
  absl::Mutex mu_;
  IdentityTable table_ ABSL_GUARDED_BY(mu_);
  std::filesystem::file_time_type mtime_ ABSL_GUARDED_BY(mu_);
  absl::Time last_check_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_AUTH_PROCESSOR_H_
