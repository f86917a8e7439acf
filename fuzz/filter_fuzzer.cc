// The filter language of List, Scan and ExportAudit (lib/core/filter.h):
// any bytes parse or fail with a status naming the offset.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "lib/core/filter.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto keys = [](absl::string_view key) {
    return key == "state" || key == "actor" || key == "create_time" ||
           key.substr(0, 11) == "attributes.";
  };
  auto ordered = [](absl::string_view key) { return key == "create_time"; };
  absl::StatusOr<continuum::core::Filter> filter =
      continuum::core::Filter::Parse(text, keys, ordered);
  if (filter.ok()) {
    for (const auto& conjunction : filter->disjuncts()) {
      for (const auto& c : conjunction) {
        (void)continuum::core::IntegerValue(c);
        (void)continuum::core::TimeValue(c);
      }
    }
  }
  return 0;
}
