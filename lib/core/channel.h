// Client channels between the services.
#ifndef CONTINUUM_LIB_CORE_CHANNEL_H_
#define CONTINUUM_LIB_CORE_CHANNEL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"

namespace continuum::core {

// A channel to another service at `address` (HOST:PORT). gRPC's own
// reconnect backoff grows to 2 minutes, so a peer back from an outage would
// be reached that late; here it is capped at `max_reconnect_backoff`
// (clamped to at least 100 ms). Receives messages up to 64 MiB. Plaintext,
// or TLS with the process's settings (tls.h SetServiceChannelTls, from
// `server.tls`).
std::shared_ptr<grpc::Channel> CreateServiceChannel(
    const std::string& address,
    absl::Duration max_reconnect_backoff = absl::Seconds(5));

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_CHANNEL_H_
