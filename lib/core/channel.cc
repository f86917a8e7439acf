#include "lib/core/channel.h"

#include "lib/core/tls.h"

#include <algorithm>

namespace continuum::core {

std::shared_ptr<grpc::Channel> CreateServiceChannel(
    const std::string& address, absl::Duration max_reconnect_backoff) {
  grpc::ChannelArguments args;
  const int64_t ms = std::max<int64_t>(
      100, absl::ToInt64Milliseconds(max_reconnect_backoff));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(ms));
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel(address, ServiceChannelCredentials(), args);
}

}  // namespace continuum::core
