// Resource ids and names (lib/core/resource_names.h).
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/core/resource_names.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)continuum::core::ValidateResourceId("model", text);
  (void)continuum::core::ParseResourceName(text, "models", "model");
  (void)continuum::core::MatchResourceName(
      text, "models/{model}/versions/{version}");
  return 0;
}
