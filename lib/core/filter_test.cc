#include "lib/core/filter.h"

#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/strings/match.h"

namespace continuum::core {
namespace {

bool AnyKey(absl::string_view) { return true; }

bool Eval(const Filter& f, const std::map<std::string, std::string>& values) {
  return f.Matches([&](absl::string_view key) -> std::optional<std::string> {
    auto it = values.find(std::string(key));
    if (it == values.end()) return std::nullopt;
    return it->second;
  });
}

TEST(FilterTest, EmptyMatchesEverything) {
  auto f = Filter::Parse("  ", AnyKey);
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->empty());
  EXPECT_TRUE(Eval(*f, {}));
}

TEST(FilterTest, AndBindsTighterThanOr) {
  auto f = Filter::Parse(
      "attributes.site = \"eu-1\" AND attributes.entity != test OR state = "
      "PRODUCTION",
      AnyKey);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->disjuncts().size(), 2u);
  EXPECT_EQ(f->disjuncts()[0].size(), 2u);
  EXPECT_TRUE(Eval(*f, {{"attributes.site", "eu-1"}}));
  EXPECT_FALSE(
      Eval(*f, {{"attributes.site", "eu-1"}, {"attributes.entity", "test"}}));
  EXPECT_TRUE(Eval(*f, {{"attributes.site", "us"}, {"state", "PRODUCTION"}}));
  EXPECT_FALSE(Eval(*f, {{"attributes.site", "us"}}));
}

TEST(FilterTest, QuotedValuesWithEscapes) {
  auto f = Filter::Parse(R"(name = "a \"b\" c")", AnyKey);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(Eval(*f, {{"name", "a \"b\" c"}}));
}

TEST(FilterTest, ErrorsNameTheProblem) {
  auto allowed = [](absl::string_view k) { return k == "state"; };
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {Case{"colour = red", "unknown key \"colour\""},
                        Case{"state red", "expected = or !="},
                        Case{"state = ", "expected a value"},
                        Case{"state = \"open", "unterminated string"},
                        Case{"state = a XOR state = b", "expected AND or OR"},
                        Case{"= a", "expected a key"}}) {
    auto f = Filter::Parse(c.text, allowed);
    ASSERT_FALSE(f.ok()) << c.text;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(f.status().message(), c.message))
        << c.text << ": " << f.status();
  }
}

TEST(FilterTest, OrderedComparisonsOnlyWhereTheCallerOrders) {
  auto keys = [](absl::string_view k) {
    return k == "version" || k == "state" || k == "create_time";
  };
  auto ordered = [](absl::string_view k) {
    return k == "version" || k == "create_time";
  };
  auto f = Filter::Parse(
      "version>10 AND version <= 20 OR create_time >= \"2025-01-01T00:00:00Z\"",
      keys, ordered);
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_EQ(f->disjuncts().size(), 2u);
  EXPECT_EQ(f->disjuncts()[0][0].op, Filter::Op::kGreater);
  EXPECT_EQ(f->disjuncts()[0][1].op, Filter::Op::kLessEqual);
  EXPECT_EQ(f->disjuncts()[1][0].op, Filter::Op::kGreaterEqual);
  EXPECT_EQ(f->disjuncts()[1][0].value, "2025-01-01T00:00:00Z");
  // Evaluate with the version as a number and no time.
  auto version_is = [&](int64_t version) {
    return f->Evaluate([&](const Filter::Comparison& c) {
      if (c.key != "version") return false;
      absl::StatusOr<int64_t> v = IntegerValue(c);
      return v.ok() && OrderHolds(c.op, version < *v ? -1 : version > *v);
    });
  };
  EXPECT_FALSE(version_is(10));
  EXPECT_TRUE(version_is(11));
  EXPECT_TRUE(version_is(20));
  EXPECT_FALSE(version_is(21));
  // An ordered operator on another key, or without an `ordered` predicate.
  for (auto* text : {"state > a", "state<=a"}) {
    auto bad = Filter::Parse(text, keys, ordered);
    ASSERT_FALSE(bad.ok()) << text;
    EXPECT_TRUE(absl::StrContains(bad.status().message(),
                                  "expected = or != after \"state\""))
        << bad.status();
  }
  auto unordered = Filter::Parse("version > 1", keys);
  EXPECT_EQ(unordered.status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = Filter::Parse("version ~ 1", keys, ordered);
  EXPECT_TRUE(absl::StrContains(missing.status().message(),
                                "expected = or !=, <, <=, > or >= after"))
      << missing.status();
  // Matches (string values) never holds an ordered comparison.
  auto g = Filter::Parse("version > 1", keys, ordered);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(Eval(*g, {{"version", "5"}}));
}

TEST(FilterTest, OrderHoldsAndTypedValues) {
  EXPECT_TRUE(OrderHolds(Filter::Op::kEqual, 0));
  EXPECT_FALSE(OrderHolds(Filter::Op::kNotEqual, 0));
  EXPECT_TRUE(OrderHolds(Filter::Op::kLess, -1));
  EXPECT_FALSE(OrderHolds(Filter::Op::kLess, 0));
  EXPECT_TRUE(OrderHolds(Filter::Op::kLessEqual, 0));
  EXPECT_TRUE(OrderHolds(Filter::Op::kGreater, 1));
  EXPECT_TRUE(OrderHolds(Filter::Op::kGreaterEqual, 0));
  EXPECT_FALSE(OrderHolds(Filter::Op::kGreaterEqual, -1));
  Filter::Comparison c{.key = "version", .value = "ten"};
  EXPECT_EQ(IntegerValue(c).status().message(),
            "filter: \"ten\" is not an integer (key version)");
  c.value = "-3";
  EXPECT_EQ(*IntegerValue(c), -3);
  c = {.key = "create_time", .value = "2025-01-01T00:00:00Z"};
  ASSERT_TRUE(TimeValue(c).ok());
  EXPECT_EQ(*TimeValue(c), absl::FromUnixSeconds(1735689600));
  c.value = "2025-01-01T01:00:00+01:00";
  EXPECT_EQ(*TimeValue(c), absl::FromUnixSeconds(1735689600));
  c.value = "yesterday";
  EXPECT_EQ(TimeValue(c).status().message(),
            "filter: \"yesterday\" is not an RFC 3339 time such as "
            "\"2025-01-01T00:00:00Z\" (key create_time)");
}

TEST(FilterEnumsTest, MisspeltEnumValuesAreInvalidArgument) {
  const google::protobuf::EnumDescriptor* type =
      google::protobuf::FieldDescriptorProto::Type_descriptor();
  absl::StatusOr<Filter> f =
      Filter::Parse("kind = TYPE_INT32 OR kind = INT64 OR other = WHATEVER",
                    [](absl::string_view) { return true; });
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_TRUE(CheckFilterEnums(*f, {{"kind", type}}).ok());
  f = Filter::Parse("kind = TYPE_INT32 OR kind != INT46",
                    [](absl::string_view) { return true; });
  ASSERT_TRUE(f.ok());
  absl::Status s = CheckFilterEnums(*f, {{"kind", type}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "filter: \"INT46\" is not a value of "
            "google.protobuf.FieldDescriptorProto.Type (key kind)");
}

}  // namespace
}  // namespace continuum::core
