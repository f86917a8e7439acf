// Transport security from the `server.tls` configuration (TlsConfig in
// server_config.proto): server credentials for ServiceServer, channel
// credentials for the calls a service makes to the others, and the checks
// that refuse a start naming a bad file.
//
// Keys and certificates are read by gRPC's FileWatcherCertificateProvider,
// which re-reads the files every reload_interval: a rotated certificate is
// served to new handshakes without a restart, and connections (and the
// streams on them) that are open keep their session.
#ifndef CONTINUUM_LIB_CORE_TLS_H_
#define CONTINUUM_LIB_CORE_TLS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "continuum/config/v1/server_config.pb.h"
#include "lib/core/config.h"

namespace continuum::core {

// TlsEnabled and ValidateTlsConfig are in config.h (no gRPC there).

// Each file `tls` names can be read and holds a PEM block ("-----BEGIN").
// FAILED_PRECONDITION "server.tls.FIELD: cannot read PATH: reason" or
// "... PATH is not PEM".
absl::Status CheckTlsFiles(const config::v1::TlsConfig& tls);

// The server's credentials: TLS from `tls` (client certificates required,
// requested and verified, or not requested, as configured), or insecure
// when TLS is off.
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFor(
    const config::v1::TlsConfig& tls);

// Credentials of a client of the other services: TLS verifying them with
// ca_file (the system's roots without one) and presenting this service's
// certificate, or insecure when TLS is off.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFor(
    const config::v1::TlsConfig& tls);

// The process's client TLS settings, used by CreateServiceChannel
// (channel.h). InitService sets them from `server.tls`; until then (and in
// tests that never call it) channels are plaintext.
void SetServiceChannelTls(const config::v1::TlsConfig& tls);
std::shared_ptr<grpc::ChannelCredentials> ServiceChannelCredentials();

// One line for the start-up log: "TLS on (...)" or the plaintext warning.
std::string DescribeTls(const config::v1::TlsConfig& tls);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_TLS_H_
