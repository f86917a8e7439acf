#include "lib/core/call_identity.h"

#include <algorithm>
#include <memory>

#include "lib/core/auth.h"
#include "lib/core/auth_processor.h"

namespace continuum::core {

std::string ActorOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kActorMetadataKey);
  std::string claimed;
  if (it != metadata.end()) {
    claimed.assign(it->second.data(),
                   std::min(it->second.size(), kMaxActorBytes));
  }
  // An authenticated call (server.auth): the subject, and the claimed
  // actor only from a caller that may act for others.
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context()) {
    auto subject = auth->FindPropertyValues(kSubjectProperty);
    if (!subject.empty()) {
      auto may = auth->FindPropertyValues(kMayDelegateProperty);
      Identity identity;
      identity.subject.assign(subject[0].data(), subject[0].size());
      return RecordedActor(identity, claimed,
                           !may.empty() && may[0] == "1");
    }
  }
  return claimed.empty() ? kAnonymousActor : claimed;
}

void PrepareCall(grpc::ClientContext& context, absl::string_view actor,
                 absl::Time deadline) {
  context.set_deadline(absl::ToChronoTime(deadline));
  context.AddMetadata(kActorMetadataKey, std::string(actor));
}

}  // namespace continuum::core
