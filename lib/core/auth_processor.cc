#include "lib/core/auth_processor.h"

#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/logging.h"  // Formats absl::string_view.
#include "spdlog/spdlog.h"

namespace continuum::core {
namespace {

constexpr char kBearer[] = "Bearer ";

absl::StatusOr<IdentityTable> ReadTable(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server.auth.identities_file: cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<IdentityTable> table = IdentityTable::Parse(text.str());
  if (!table.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "server.auth.identities_file ", path, ": ", table.status().message()));
  }
  return table;
}

std::string Str(grpc::string_ref s) { return std::string(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::shared_ptr<CallAuthenticator>> CallAuthenticator::Create(
    const config::v1::AuthConfig& config) {
  absl::StatusOr<MethodPolicy> policy = MethodPolicy::Create(config);
  if (!policy.ok()) return policy.status();
  std::optional<JwtVerifier> jwt;
  if (config.has_jwt()) {
    absl::StatusOr<JwtVerifier> verifier = JwtVerifier::Create(config.jwt());
    if (!verifier.ok()) return verifier.status();
    jwt = *std::move(verifier);
  }
  const std::string& path = config.identities_file();
  std::filesystem::file_time_type mtime;
  IdentityTable table;
  if (!path.empty()) {
    std::error_code error;
    mtime = std::filesystem::last_write_time(path, error);
    absl::StatusOr<IdentityTable> read = ReadTable(path);
    if (!read.ok()) return read.status();
    table = *std::move(read);
  }
  return std::shared_ptr<CallAuthenticator>(
      new CallAuthenticator(path, *std::move(policy), std::move(table), mtime,
                            std::move(jwt)));
}

CallAuthenticator::CallAuthenticator(std::string path, MethodPolicy policy,
                                     IdentityTable table,
                                     std::filesystem::file_time_type mtime,
                                     std::optional<JwtVerifier> jwt)
    : path_(std::move(path)),
      policy_(std::move(policy)),
      jwt_(std::move(jwt)),
      table_(std::move(table)),
      mtime_(mtime),
      last_check_(absl::Now()) {}

void CallAuthenticator::MaybeReload() {
  if (path_.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    if (now - last_check_ < absl::Seconds(1)) return;
    last_check_ = now;
    std::error_code error;
    const auto mtime = std::filesystem::last_write_time(path_, error);
    if (error || mtime == mtime_) return;
    mtime_ = mtime;
  }
  absl::StatusOr<IdentityTable> table = ReadTable(path_);
  if (!table.ok()) {
    spdlog::error("auth: keeping the previous identities: {}",
                  table.status().message());
    return;
  }
  absl::MutexLock lock(&mu_);
  spdlog::info("auth: identities file {} re-read ({} entries)", path_,
               table->size());
  table_ = *std::move(table);
}

grpc::Status CallAuthenticator::Process(const InputMetadata& auth_metadata,
                                        grpc::AuthContext* context,
                                        OutputMetadata* consumed_auth_metadata,
                                        OutputMetadata* /*response_metadata*/) {
  std::string path;
  if (auto it = auth_metadata.find(":path"); it != auth_metadata.end()) {
    path = Str(it->second);
  }
  if (MethodPolicy::IsOpen(path)) return grpc::Status::OK;
  MaybeReload();
  std::optional<Identity> identity;
  if (auto it = auth_metadata.find("authorization");
      it != auth_metadata.end()) {
    const std::string value = Str(it->second);
    // The token never reaches a handler (or a log).
    consumed_auth_metadata->insert(std::make_pair(Str(it->first), value));
    if (!absl::StartsWith(value, kBearer)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          "the authorization metadata is not 'Bearer TOKEN'");
    }
    const std::string token = value.substr(sizeof(kBearer) - 1);
    if (jwt_.has_value() && LooksLikeJwt(token)) {
      absl::StatusOr<Identity> verified = jwt_->Verify(token, absl::Now());
      if (!verified.ok()) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            std::string(verified.status().message()));
      }
      identity = *std::move(verified);
    } else {
      absl::MutexLock lock(&mu_);
      identity = table_.ForToken(token);
      if (!identity.has_value()) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            "the bearer token is not in the identities file");
      }
    }
  } else {
    for (const grpc::string_ref& name :
         context->FindPropertyValues("x509_common_name")) {
      absl::MutexLock lock(&mu_);
      identity = table_.ForCertificate(Str(name));
      if (identity.has_value()) break;
    }
  }
  if (!identity.has_value()) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat("no identity for ", path,
                     ": send 'authorization: Bearer TOKEN' or a client "
                     "certificate whose common name is in the identities "
                     "file"));
  }
  if (absl::Status s = policy_.Check(*identity, path); !s.ok()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        std::string(s.message()));
  }
  context->AddProperty(kSubjectProperty, identity->subject);
  context->AddProperty(kMayDelegateProperty,
                       policy_.MayDelegate(*identity) ? "1" : "0");
  return grpc::Status::OK;
}

}  // namespace continuum::core
