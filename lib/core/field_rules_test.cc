#include "lib/core/field_rules.h"

#include <gtest/gtest.h>

#include <string>

#include "continuum/testing/v1/rules_test.pb.h"

namespace continuum::core {
namespace {

using ::continuum::testing::v1::RulesTestRequest;

// A request that keeps every rule.
RulesTestRequest Valid() {
  RulesTestRequest r;
  r.set_model_id("fraud");
  r.mutable_needed()->set_id("n");
  return r;
}

std::string Message(const RulesTestRequest& r) {
  absl::Status s = CheckFieldRules(r);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(FieldRulesTest, AValidRequestPasses) {
  EXPECT_TRUE(CheckFieldRules(Valid()).ok());
  RulesTestRequest full = Valid();
  full.set_parent("models/fraud");
  full.set_batch_size(4096);
  full.set_rate(1);
  full.set_color(testing::v1::RULES_TEST_COLOR_RED);
  full.add_items()->set_id("12345678");
  full.add_tags("ab");
  full.add_tags("abcd");
  full.mutable_single()->set_id("s");
  full.set_limit(1);
  full.set_free(std::string(10000, 'x'));
  EXPECT_TRUE(CheckFieldRules(full).ok()) << CheckFieldRules(full);
}

TEST(FieldRulesTest, Required) {
  RulesTestRequest r = Valid();
  r.clear_model_id();
  EXPECT_EQ(Message(r), "model_id: required");
  r = Valid();
  r.clear_needed();
  EXPECT_EQ(Message(r), "needed: required");
  // A required field of a nested message, by its path.
  r = Valid();
  r.mutable_needed()->clear_id();
  EXPECT_EQ(Message(r), "needed.id: required");
}

TEST(FieldRulesTest, IdsAndNames) {
  RulesTestRequest r = Valid();
  r.set_model_id("Fraud");
  EXPECT_EQ(Message(r),
            "model_id: model id \"Fraud\" must match "
            "[a-z0-9][a-z0-9._-]{0,62}");
  r = Valid();
  r.set_parent("model/fraud");
  EXPECT_EQ(Message(r),
            "parent: name \"model/fraud\" is not of the form models/{model}");
  r.set_parent("models/Fraud");
  EXPECT_NE(Message(r).find("parent: model id \"Fraud\""), std::string::npos);
}

TEST(FieldRulesTest, NumbersInRangeZeroMeaningDefault) {
  RulesTestRequest r = Valid();
  r.set_batch_size(-1);
  EXPECT_EQ(Message(r), "batch_size: must be >= 0 (got -1)");
  r.set_batch_size(4097);
  EXPECT_EQ(Message(r), "batch_size: must be <= 4096 (got 4097)");
  r = Valid();
  r.set_rate(1.5);
  EXPECT_EQ(Message(r), "rate: must be <= 1 (got 1.5)");
  r = Valid();
  r.set_probability(1);
  EXPECT_EQ(Message(r), "probability: must be < 1 (got 1)");
  r.set_probability(-0.5);
  EXPECT_EQ(Message(r), "probability: must be > 0 (got -0.5)");
  r.set_probability(0.5);
  EXPECT_TRUE(CheckFieldRules(r).ok());
  // An explicitly present number is checked even at 0.
  r = Valid();
  r.set_limit(0);
  EXPECT_EQ(Message(r), "limit: must be >= 1 (got 0)");
  r.clear_limit();
  EXPECT_TRUE(CheckFieldRules(r).ok());
}

TEST(FieldRulesTest, EnumValuesMustBeDefined) {
  RulesTestRequest r = Valid();
  r.set_color(static_cast<testing::v1::RulesTestColor>(7));
  EXPECT_EQ(Message(r),
            "color: 7 is not a value of continuum.testing.v1.RulesTestColor");
  r = Valid();
  r.add_colors(testing::v1::RULES_TEST_COLOR_RED);
  r.add_colors(static_cast<testing::v1::RulesTestColor>(-3));
  EXPECT_EQ(Message(r), "colors[1]: -3 is not a value of "
                        "continuum.testing.v1.RulesTestColor");
}

TEST(FieldRulesTest, LengthsAndItems) {
  RulesTestRequest r = Valid();
  r.add_tags("abcde");
  EXPECT_EQ(Message(r), "tags[0]: at most 4 bytes (got 5)");
  r.set_tags(0, "a");
  EXPECT_EQ(Message(r), "tags[0]: at least 2 bytes (got 1)");
  r = Valid();
  for (int i = 0; i < 4; ++i) r.add_items()->set_id("x");
  EXPECT_EQ(Message(r), "items: at most 3 items (got 4)");
  r = Valid();
  r.add_items()->set_id("ok");
  r.add_items()->set_id("123456789");
  EXPECT_EQ(Message(r), "items[1].id: at most 8 bytes (got 9)");
  r = Valid();
  r.mutable_single()->set_id("");
  EXPECT_EQ(Message(r), "single.id: required");
}

TEST(FieldRulesTest, TheFirstBrokenFieldIsNamed) {
  RulesTestRequest r;  // model_id and needed both missing
  EXPECT_EQ(Message(r), "model_id: required");
}

}  // namespace
}  // namespace continuum::core
