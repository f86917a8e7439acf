// A small filter language for List and Scan calls (a subset of AIP-160):
//
//   filter := conjunction ("OR" conjunction)*
//   conjunction := comparison ("AND" comparison)*
//   comparison := KEY ("=" | "!=" | "<" | "<=" | ">" | ">=") VALUE
//
// KEY is a dotted name (`labels.team`, `attributes.site`, `state`); VALUE is
// a double-quoted string (with \" and \\ escapes) or a bare word
// (`LABEL_KIND_CLASS`, `42`). AND binds tighter than OR; there are no
// parentheses. Keywords are upper case. `<`, `<=`, `>`, `>=` are accepted
// only on the keys the caller orders (numbers, times); the caller then
// evaluates each comparison itself (Evaluate, OrderHolds, IntegerValue,
// TimeValue). Example:
//   attributes.site = "eu-1" AND attributes.entity != "test" OR state =
//   PRODUCTION
//   version > 10 AND create_time >= "2025-01-01T00:00:00Z"
#ifndef CONTINUUM_LIB_CORE_FILTER_H_
#define CONTINUUM_LIB_CORE_FILTER_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"

namespace continuum::core {

class Filter {
 public:
  enum class Op {
    kEqual,
    kNotEqual,
    kLess,
    kLessEqual,
    kGreater,
    kGreaterEqual
  };

  // One `KEY op VALUE`.
  struct Comparison {
    std::string key;
    bool equal = true;  // false for != (`op` says which operator)
    std::string value;
    Op op = Op::kEqual;
  };

  // Parses `text`; an empty text matches everything. `key_allowed` says
  // which keys the caller supports, `ordered` (may be null: none) which of
  // them also take `<`, `<=`, `>`, `>=`. INVALID_ARGUMENT names the
  // position and the problem, e.g. `filter: unknown key "colour" at offset
  // 0`, `filter: expected = or != after "state" at offset 6`.
  static absl::StatusOr<Filter> Parse(
      absl::string_view text,
      const std::function<bool(absl::string_view key)>& key_allowed,
      const std::function<bool(absl::string_view key)>& ordered = nullptr);

  // Evaluates a filter of `=` and `!=` only; `lookup` returns a key's value
  // for the object at hand, or nullopt if it has none (then `=` is false
  // and `!=` true). An ordered comparison is false here: use Evaluate.
  bool Matches(
      const std::function<std::optional<std::string>(absl::string_view key)>&
          lookup) const;

  // Evaluates the filter with `holds`, which says whether one comparison
  // holds for the object at hand.
  bool Evaluate(const std::function<bool(const Comparison&)>& holds) const;

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
// Example: CheckFilterEnums(*filter, {{"state",
// v1::VersionState_descriptor()}})
absl::Status CheckFilterEnums(
    const Filter& filter,
    const absl::flat_hash_map<std::string,
                              const google::protobuf::EnumDescriptor*>& enums);

// Whether `value` names a value of `type` in one of the two forms above.
bool IsEnumValueName(const google::protobuf::EnumDescriptor* type,
                     absl::string_view value);

// Whether `op` holds given how the object's value orders against the
// comparison's: `order` < 0, 0, > 0 for less, equal, greater.
bool OrderHolds(Filter::Op op, int order);

// The comparison's value as a decimal integer, or as an RFC 3339 time
// (`2025-01-01T00:00:00Z`, quoted in the filter). INVALID_ARGUMENT:
//   filter: "ten" is not an integer (key version)
//   filter: "yesterday" is not an RFC 3339 time such as
//   "2025-01-01T00:00:00Z" (key create_time)
absl::StatusOr<int64_t> IntegerValue(const Filter::Comparison& c);
absl::StatusOr<absl::Time> TimeValue(const Filter::Comparison& c);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_FILTER_H_
