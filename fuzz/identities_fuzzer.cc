// The identities file parser (lib/core/auth.h): any bytes parse or fail
// with a status; a parsed table answers lookups.
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/core/auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<continuum::core::IdentityTable> table =
      continuum::core::IdentityTable::Parse(text);
  if (table.ok()) {
    (void)table->ForToken(text);
    (void)table->ForCertificate(text);
  }
  return 0;
}
