// A small filter language for List and Scan calls (a subset of AIP-160):
//
//   filter := conjunction ("OR" conjunction)*
//   conjunction := comparison ("AND" comparison)*
//   comparison := KEY ("=" | "!=") VALUE
//
// KEY is a dotted name (`labels.team`, `attributes.site`, `state`); VALUE is
// a double-quoted string (with \" and \\ escapes) or a bare word
// (`LABEL_KIND_CLASS`, `42`). AND binds tighter than OR; there are no
// parentheses. Keywords are upper case. Example:
//   attributes.site = "eu-1" AND attributes.entity != "test" OR state =
//   PRODUCTION
#ifndef CONTINUUM_LIB_CORE_FILTER_H_
#define CONTINUUM_LIB_CORE_FILTER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace continuum::core {

class Filter {
 public:
  // One `KEY op VALUE`.
  struct Comparison {
    std::string key;
    bool equal = true;  // false for !=
    std::string value;
  };

  // Parses `text`; an empty text matches everything. `key_allowed` says
  // which keys the caller supports. INVALID_ARGUMENT names the position and
  // the problem, e.g. `filter: unknown key "colour" at offset 0`.
  static absl::StatusOr<Filter> Parse(
      absl::string_view text,
      const std::function<bool(absl::string_view key)>& key_allowed);

  // Evaluates the filter; `lookup` returns a key's value for the object at
  // hand, or nullopt if it has none (then `=` is false and `!=` true).
  bool Matches(
      const std::function<std::optional<std::string>(absl::string_view key)>&
          lookup) const;

  bool empty() const { return disjuncts_.empty(); }
  // The parsed form: OR of ANDs.
  const std::vector<std::vector<Comparison>>& disjuncts() const {
    return disjuncts_;
  }

 private:
  std::vector<std::vector<Comparison>> disjuncts_;
};

// Checks the values compared with enum-typed keys: each must name a value
// of the key's enum, in full (`VERSION_STATE_PRODUCTION`) or without the
// enum's prefix (`PRODUCTION`). A misspelt value would otherwise match
// nothing and look like an empty result. INVALID_ARGUMENT:
//   filter: "PRODUCTON" is not a value of continuum.v1.VersionState (key
//   state)
// Example: CheckFilterEnums(*filter, {{"state", v1::VersionState_descriptor()}})
absl::Status CheckFilterEnums(
    const Filter& filter,
    const absl::flat_hash_map<std::string,
                              const google::protobuf::EnumDescriptor*>& enums);

// Whether `value` names a value of `type` in one of the two forms above.
bool IsEnumValueName(const google::protobuf::EnumDescriptor* type,
                     absl::string_view value);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_FILTER_H_
