// The model artifact bundle reader (lib/model/bundle.h, plain C++ and
// protobuf: the part of loading an artifact before LibTorch sees it). The
// input goes in twice: as a whole file (magic, CRC, message), and wrapped
// by the fuzzer in the magic and a valid CRC so that the message parser
// and ValidateBundle (spec, shapes, finite weights, normalisation,
// thresholds) are reached. A bundle that validates must serialize and parse
// back to the same message.
#include <cstddef>
#include <cstdint>
#include <string>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "lib/model/bundle.h"
#include "lib/store/crc32c.h"

namespace {

std::string Deterministic(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

void Check(const std::string& file) {
  absl::StatusOr<continuum::internal::v1::ModelBundle> bundle =
      continuum::model::ParseBundle(file);
  if (!bundle.ok()) return;
  if (!continuum::model::ValidateBundle(*bundle).ok()) return;
  absl::StatusOr<std::string> again = continuum::model::SerializeBundle(*bundle);
  if (!again.ok()) return;  // Over 2 GiB: not from a fuzzer's input.
  absl::StatusOr<continuum::internal::v1::ModelBundle> back =
      continuum::model::ParseBundle(*again);
  // Compared in deterministic serialization: a map's entries (the
  // manifest's hyperparameters) may otherwise come out in any order.
  if (!back.ok() || Deterministic(*back) != Deterministic(*bundle)) {
    __builtin_trap();  // A valid bundle does not survive a round trip.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Check(input);
  std::string wrapped(continuum::model::kBundleMagic);
  wrapped += input;
  const uint32_t crc = continuum::store::Crc32c(wrapped);
  for (int i = 0; i < 4; ++i) wrapped.push_back(static_cast<char>(crc >> (8 * i)));
  Check(wrapped);
  return 0;
}
