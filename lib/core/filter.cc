#include "lib/core/filter.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace continuum::core {
namespace {

class Lexer {
 public:
  explicit Lexer(absl::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  size_t pos() const { return pos_; }

  // A key: letters, digits, '_', '.', '-'.
  std::string Word() {
    SkipSpace();
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (absl::ascii_isalnum(text_[pos_]) || text_[pos_] == '_' ||
            text_[pos_] == '.' || text_[pos_] == '-')) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // One of the operators, longest first.
  std::optional<Filter::Op> Operator() {
    SkipSpace();
    static constexpr std::pair<absl::string_view, Filter::Op> kOps[] = {
        {"!=", Filter::Op::kNotEqual},     {"<=", Filter::Op::kLessEqual},
        {">=", Filter::Op::kGreaterEqual}, {"=", Filter::Op::kEqual},
        {"<", Filter::Op::kLess},          {">", Filter::Op::kGreater}};
    for (const auto& [text, op] : kOps) {
      if (text_.substr(pos_, text.size()) == text) {
        pos_ += text.size();
        return op;
      }
    }
    return std::nullopt;
  }

  absl::StatusOr<std::string> Value() {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      size_t start = pos_;
      ++pos_;
      std::string value;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) ++pos_;
        value.push_back(text_[pos_++]);
      }
      if (pos_ >= text_.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "filter: unterminated string starting at offset ", start));
      }
      ++pos_;
      return value;
    }
    std::string word = Word();
    if (word.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter: expected a value at offset ", pos_));
    }
    return word;
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

absl::StatusOr<Filter> Filter::Parse(
    absl::string_view text,
    const std::function<bool(absl::string_view key)>& key_allowed,
    const std::function<bool(absl::string_view key)>& ordered) {
  Filter filter;
  Lexer lexer(text);
  if (lexer.AtEnd()) return filter;
  std::vector<Comparison> conjunction;
  while (true) {
    size_t key_pos = (lexer.SkipSpace(), lexer.pos());
    Comparison c;
    c.key = lexer.Word();
    if (c.key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter: expected a key at offset ", key_pos));
    }
    if (!key_allowed(c.key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter: unknown key \"", c.key, "\" at offset ", key_pos));
    }
    const size_t op_pos = (lexer.SkipSpace(), lexer.pos());
    std::optional<Op> op = lexer.Operator();
    const bool may_order = ordered != nullptr && ordered(c.key);
    if (!op.has_value() ||
        (!may_order && *op != Op::kEqual && *op != Op::kNotEqual)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter: expected = or !=", may_order ? ", <, <=, > or >=" : "",
          " after \"", c.key, "\" at offset ", op_pos));
    }
    c.op = *op;
    c.equal = *op == Op::kEqual;
    absl::StatusOr<std::string> value = lexer.Value();
    if (!value.ok()) return value.status();
    c.value = *std::move(value);
    conjunction.push_back(std::move(c));

    if (lexer.AtEnd()) break;
    size_t word_pos = lexer.pos();
    std::string keyword = lexer.Word();
    if (keyword == "AND") continue;
    if (keyword == "OR") {
      filter.disjuncts_.push_back(std::move(conjunction));
      conjunction.clear();
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "filter: expected AND or OR at offset ", word_pos,
        keyword.empty() ? "" : absl::StrCat(", found \"", keyword, "\"")));
  }
  filter.disjuncts_.push_back(std::move(conjunction));
  return filter;
}

bool Filter::Matches(
    const std::function<std::optional<std::string>(absl::string_view key)>&
        lookup) const {
  return Evaluate([&](const Comparison& c) {
    if (c.op != Op::kEqual && c.op != Op::kNotEqual) return false;
    std::optional<std::string> value = lookup(c.key);
    return (value.has_value() && *value == c.value) == (c.op == Op::kEqual);
  });
}

bool Filter::Evaluate(
    const std::function<bool(const Comparison&)>& holds) const {
  if (disjuncts_.empty()) return true;
  for (const std::vector<Comparison>& conjunction : disjuncts_) {
    bool all = true;
    for (const Comparison& c : conjunction) {
      if (!holds(c)) {
        all = false;
        break;
      }
    }
    if (all) return true;
  }
  return false;
}

bool OrderHolds(Filter::Op op, int order) {
  switch (op) {
    case Filter::Op::kEqual:
      return order == 0;
    case Filter::Op::kNotEqual:
      return order != 0;
    case Filter::Op::kLess:
      return order < 0;
    case Filter::Op::kLessEqual:
      return order <= 0;
    case Filter::Op::kGreater:
      return order > 0;
    case Filter::Op::kGreaterEqual:
      return order >= 0;
  }
  return false;
}

absl::StatusOr<int64_t> IntegerValue(const Filter::Comparison& c) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(c.value, &value)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "filter: \"", c.value, "\" is not an integer (key ", c.key, ")"));
  }
  return value;
}

absl::StatusOr<absl::Time> TimeValue(const Filter::Comparison& c) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, c.value, &time, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter: \"", c.value,
                     "\" is not an RFC 3339 time such as "
                     "\"2025-01-01T00:00:00Z\" (key ",
                     c.key, ")"));
  }
  return time;
}

bool IsEnumValueName(const google::protobuf::EnumDescriptor* type,
                     absl::string_view value) {
  const std::string name(value);
  if (type->FindValueByName(name) != nullptr) return true;
  // The prefix every value carries (Buf's ENUM_VALUE_PREFIX): the enum's
  // name in UPPER_SNAKE_CASE and "_", e.g. VersionState -> VERSION_STATE_.
  std::string prefix;
  for (char c : type->name()) {
    if (absl::ascii_isupper(c) && !prefix.empty()) prefix += '_';
    prefix += absl::ascii_toupper(c);
  }
  return type->FindValueByName(absl::StrCat(prefix, "_", name)) != nullptr;
}

absl::Status CheckFilterEnums(
    const Filter& filter,
    const absl::flat_hash_map<std::string,
                              const google::protobuf::EnumDescriptor*>& enums) {
  for (const auto& conjunction : filter.disjuncts()) {
    for (const Filter::Comparison& c : conjunction) {
      auto it = enums.find(c.key);
      if (it == enums.end() || IsEnumValueName(it->second, c.value)) continue;
      return absl::InvalidArgumentError(
          absl::StrCat("filter: \"", c.value, "\" is not a value of ",
                       it->second->full_name(), " (key ", c.key, ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace continuum::core
