// Requests that cannot be parsed, answered alike by every service.
//
// gRPC answers a request body that does not parse as the method's request
// message with INTERNAL and no message on the synchronous API, and with
// UNIMPLEMENTED and no message on the callback API. A server interceptor
// (installed by ServiceServer) sees that the request of a call with a
// single request message (unary and server-streaming methods) never
// arrived, and replaces that status with
//   INVALID_ARGUMENT: the request is not a valid continuum.v1.GetModelRequest
//   (its bytes do not parse as that message)
// Client streams are the handlers' to check: there a missing message may
// be the client's half-close (lib/core/stream_messages.h).
#ifndef CONTINUUM_LIB_CORE_PARSE_ERRORS_H_
#define CONTINUUM_LIB_CORE_PARSE_ERRORS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace continuum::core {

// The status message for a request of `method` ("/pkg.Service/Method")
// that did not parse: names the request type when the method is known to
// the linked protobuf descriptors.
std::string UnparsableRequestMessage(absl::string_view method);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewParseErrorInterceptorFactory();

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_PARSE_ERRORS_H_
