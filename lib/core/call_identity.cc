#include "lib/core/call_identity.h"

#include <algorithm>

namespace continuum::core {

std::string ActorOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kActorMetadataKey);
  if (it == metadata.end() || it->second.empty()) return kAnonymousActor;
  return std::string(it->second.data(),
                     std::min(it->second.size(), kMaxActorBytes));
}

void PrepareCall(grpc::ClientContext& context, absl::string_view actor,
                 absl::Time deadline) {
  context.set_deadline(absl::ToChronoTime(deadline));
  context.AddMetadata(kActorMetadataKey, std::string(actor));
}

}  // namespace continuum::core
