// Who makes a call, on both ends of it: the server reads the caller a
// request names, a client names itself on the calls it makes. One copy for
// every service.
//
// Without authentication (server.auth unset) the caller is whatever the
// `x-continuum-actor` metadata says: a name for the audit log, not a proof
// of identity. Services that call each other name themselves ("trainer",
// "drift"), operators' tools name the tool ("continuumctl"). With
// authentication (auth_processor.h) the caller is the authenticated
// subject, and the metadata counts only from a role that may act for
// others ("alice on behalf of bob").
#ifndef CONTINUUM_LIB_CORE_CALL_IDENTITY_H_
#define CONTINUUM_LIB_CORE_CALL_IDENTITY_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace continuum::core {

// The metadata key a caller names itself with.
inline constexpr char kActorMetadataKey[] = "x-continuum-actor";
// The actor of a call that names none.
inline constexpr char kAnonymousActor[] = "anonymous";
// Longest actor kept; longer names are cut to this many bytes.
inline constexpr size_t kMaxActorBytes = 128;

// The authenticated subject (see above), else the actor named in the
// call's metadata, cut to kMaxActorBytes, or kAnonymousActor when the call
// names none (or an empty one). Works for the
// synchronous and the callback API (both contexts derive from
// ServerContextBase).
std::string ActorOf(const grpc::ServerContextBase& context);

// Prepares an outgoing call to another service: its deadline and the
// calling service's name (`actor`, e.g. "trainer") for the callee's audit.
// Example:
//   grpc::ClientContext context;
//   core::PrepareCall(context, "drift", absl::Now() + timeout_);
void PrepareCall(grpc::ClientContext& context, absl::string_view actor,
                 absl::Time deadline);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_CALL_IDENTITY_H_
