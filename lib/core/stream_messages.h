// Client streams read as raw bytes, so that a message that does not parse
// is told apart from the client's half-close.
//
// With gRPC's typed readers both end Read() with false: a stream of
// [valid, unparsable, valid] looked like one message and a clean end, so a
// handler answered OK and the third message was lost without the client
// knowing. Handlers of client streams (collector Ingest, drift Observe,
// inference PredictStream) read grpc::ByteBuffer through the generated
// WithRawCallbackMethod_* mix-ins and parse each message with
// ParseStreamMessage, ending the call with its INVALID_ARGUMENT (saying
// which message failed and, the handler adds, what was already done);
// SerializeStreamMessage makes their responses.
#ifndef CONTINUUM_LIB_CORE_STREAM_MESSAGES_H_
#define CONTINUUM_LIB_CORE_STREAM_MESSAGES_H_

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace continuum::core {

// Parses message `index` (1-based) of a client stream into *out.
// INVALID_ARGUMENT: "message 3 of the stream is not a valid
// continuum.v1.IngestRequest (its bytes do not parse as that message)".
// Empties `buffer`.
template <typename Message>
absl::Status ParseStreamMessage(grpc::ByteBuffer& buffer, int64_t index,
                                Message* out) {
  grpc::ProtoBufferReader reader(&buffer);
  if (!out->ParseFromZeroCopyStream(&reader)) {
    buffer.Clear();
    return absl::InvalidArgumentError(absl::StrCat(
        "message ", index, " of the stream is not a valid ",
        Message::descriptor()->full_name(),
        " (its bytes do not parse as that message)"));
  }
  buffer.Clear();
  return absl::OkStatus();
}

// Serializes `message` into *out: a response of a raw stream's call.
template <typename Message>
grpc::Status SerializeStreamMessage(const Message& message,
                                    grpc::ByteBuffer* out) {
  bool own_buffer = false;
  return grpc::SerializationTraits<Message>::Serialize(message, out,
                                                       &own_buffer);
}

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_STREAM_MESSAGES_H_
