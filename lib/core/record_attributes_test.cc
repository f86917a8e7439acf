#include "lib/core/record_attributes.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"

namespace continuum::core {
namespace {

using Attributes = google::protobuf::Map<std::string, std::string>;

TEST(RecordAttributesTest, Keys) {
  EXPECT_TRUE(IsRecordAttributeKey("site"));
  EXPECT_TRUE(IsRecordAttributeKey("a_1"));
  EXPECT_TRUE(IsRecordAttributeKey(std::string(63, 'a')));
  for (const std::string& bad :
       {std::string(""), std::string("Site"), std::string("1a"),
        std::string("_a"), std::string("a-b"), std::string(64, 'a')}) {
    EXPECT_FALSE(IsRecordAttributeKey(bad)) << bad;
  }
}

TEST(RecordAttributesTest, CountSizeAndKeys) {
  Attributes ok;
  ok["site"] = "eu-1";
  EXPECT_TRUE(CheckRecordAttributes(ok).ok());
  EXPECT_TRUE(CheckRecordAttributes(Attributes()).ok());

  Attributes bad_key = ok;
  bad_key["Site"] = "x";
  EXPECT_EQ(CheckRecordAttributes(bad_key).message(),
            "attribute key \"Site\" must match [a-z][a-z0-9_]{0,62}");

  Attributes many;
  for (int i = 0; i < kMaxRecordAttributes + 1; ++i) {
    many[absl::StrCat("k", i)] = "v";
  }
  EXPECT_EQ(CheckRecordAttributes(many).message(), "33 attributes; at most 32");

  Attributes big;
  big["blob"] = std::string(kMaxRecordAttributeBytes, 'x');
  absl::Status s = CheckRecordAttributes(big);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "attributes take 4100 bytes; at most 4096");
  big["blob"].resize(kMaxRecordAttributeBytes - 4);
  EXPECT_TRUE(CheckRecordAttributes(big).ok());
}

}  // namespace
}  // namespace continuum::core
