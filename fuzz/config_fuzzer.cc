// The services' protobuf-text configuration (lib/core/config.h): any bytes
// merge or fail with a status naming the line; a merged ServerConfig is
// validated (including server.tls and server.auth).
#include <cstddef>
#include <cstdint>
#include <string>

#include "continuum/config/v1/server_config.pb.h"
#include "lib/core/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  continuum::config::v1::ServerConfig config;
  continuum::core::ConfigLocations locations;
  if (continuum::core::MergeTextConfig(text, "fuzz.pbtxt", &config,
                                       &locations)
          .ok()) {
    (void)continuum::core::ValidateServerConfig(config);
  }
  return 0;
}
