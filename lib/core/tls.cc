#include "lib/core/tls.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace continuum::core {
namespace {

constexpr int64_t kDefaultReloadSeconds = 60;

unsigned int ReloadSeconds(const config::v1::TlsConfig& tls) {
  const int64_t s = tls.has_reload_interval()
                        ? tls.reload_interval().seconds()
                        : kDefaultReloadSeconds;
  return static_cast<unsigned int>(std::max<int64_t>(1, s));
}

absl::Status CheckPemFile(absl::string_view field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server.tls.", field, ": cannot read ", path, ": ",
        std::strerror(errno)));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server.tls.", field, ": ", path, " is not PEM (no -----BEGIN line)"));
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::experimental::CertificateProviderInterface> ProviderFor(
    const config::v1::TlsConfig& tls) {
  return std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      tls.key_file(), tls.certificate_file(), tls.ca_file(),
      ReloadSeconds(tls));
}

struct ChannelTls {
  absl::Mutex mu;
  config::v1::TlsConfig tls ABSL_GUARDED_BY(mu);
  std::shared_ptr<grpc::ChannelCredentials> credentials ABSL_GUARDED_BY(mu);
};

ChannelTls& GlobalChannelTls() {
  static ChannelTls* tls = new ChannelTls();  // Never destroyed.
  return *tls;
}

}  // namespace

absl::Status CheckTlsFiles(const config::v1::TlsConfig& tls) {
  for (const auto& [field, path] :
       {std::pair<const char*, const std::string*>{"key_file", &tls.key_file()},
        {"certificate_file", &tls.certificate_file()},
        {"ca_file", &tls.ca_file()}}) {
    if (path->empty()) continue;
    if (absl::Status s = CheckPemFile(field, *path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(
    const config::v1::TlsConfig& tls) {
  if (!TlsEnabled(tls)) return grpc::InsecureServerCredentials();
  grpc::experimental::TlsServerCredentialsOptions options(ProviderFor(tls));
  options.watch_identity_key_cert_pairs();
  if (!tls.ca_file().empty()) {
    options.watch_root_certs();
    options.set_cert_request_type(
        tls.require_client_certificate()
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(
    const config::v1::TlsConfig& tls) {
  if (!TlsEnabled(tls)) return grpc::InsecureChannelCredentials();
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(ProviderFor(tls));
  options.watch_identity_key_cert_pairs();
  if (!tls.ca_file().empty()) options.watch_root_certs();
  return grpc::experimental::TlsCredentials(options);
}

void SetServiceChannelTls(const config::v1::TlsConfig& tls) {
  ChannelTls& g = GlobalChannelTls();
  absl::MutexLock lock(&g.mu);
  g.tls = tls;
  g.credentials = ChannelCredentialsFor(tls);
}

std::shared_ptr<grpc::ChannelCredentials> ServiceChannelCredentials() {
  ChannelTls& g = GlobalChannelTls();
  absl::MutexLock lock(&g.mu);
  if (g.credentials == nullptr) {
    g.credentials = grpc::InsecureChannelCredentials();
  }
  return g.credentials;
}

std::string DescribeTls(const config::v1::TlsConfig& tls) {
  if (!TlsEnabled(tls)) {
    return "insecure: plaintext gRPC, no client authentication (server.tls "
           "is not set; fine on loopback, not on a network)";
  }
  return absl::StrCat(
      "TLS on: certificate ", tls.certificate_file(), ", ",
      tls.ca_file().empty()
          ? "client certificates not requested"
          : (tls.require_client_certificate()
                 ? absl::StrCat("client certificates required (CA ",
                                tls.ca_file(), ")")
                 : absl::StrCat("client certificates verified when given (CA ",
                                tls.ca_file(), ")")),
      ", files re-read every ", ReloadSeconds(tls), " s");
}

}  // namespace continuum::core
