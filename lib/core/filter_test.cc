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

TEST(FilterEnumsTest, MisspeltEnumValuesAreInvalidArgument) {
  const google::protobuf::EnumDescriptor* type =
      google::protobuf::FieldDescriptorProto::Type_descriptor();
  absl::StatusOr<Filter> f = Filter::Parse(
      "kind = TYPE_INT32 OR kind = INT64 OR other = WHATEVER",
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
