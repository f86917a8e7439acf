#include "tools/continuumctl/collector_commands.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace continuum::ctl {
namespace {

v1::DatasetSchema Schema() {
  v1::DatasetSchema schema;
  schema.set_feature_dim(2);
  schema.set_label_kind(v1::LABEL_KIND_CLASS);
  schema.set_num_classes(3);
  return schema;
}

TEST(CsvTest, SplitsQuotedFields) {
  auto fields = SplitCsvLine("a,\"b, c\",\"say \"\"hi\"\"\",\r");
  ASSERT_TRUE(fields.ok());
  EXPECT_EQ(*fields, (std::vector<std::string>{"a", "b, c", "say \"hi\"", ""}));
  EXPECT_FALSE(SplitCsvLine("a,\"open").ok());
}

TEST(CsvTest, HeaderMapsColumns) {
  auto layout = ParseCsvHeader(
      {"id", "x", "attr.site", "label", "y", "event_time"}, Schema());
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->id, 0);
  EXPECT_EQ(layout->label, 3);
  EXPECT_EQ(layout->event_time, 5);
  EXPECT_EQ(layout->features, (std::vector<int>{1, 4}));
  ASSERT_EQ(layout->attributes.size(), 1u);
  EXPECT_EQ(layout->attributes[0].second, "site");

  EXPECT_TRUE(absl::StrContains(
      ParseCsvHeader({"x", "y"}, Schema()).status().message(), "no \"id\""));
  EXPECT_TRUE(absl::StrContains(
      ParseCsvHeader({"id", "x"}, Schema()).status().message(),
      "1 feature columns, the data set has 2"));
}

TEST(CsvTest, TimesOutsideATimestampAreRefused) {
  // fuzz/regressions/ingest/parse_time_out_of_range: 4.4e29 seconds once
  // overflowed the conversion to int64.
  for (const char* text : {"4.44444e+29", "-1e300", "inf", "nan",
                           "253402300800", "-62135596801"}) {
    absl::StatusOr<google::protobuf::Timestamp> t = ParseTime(text);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_TRUE(absl::StrContains(t.status().message(), "years 1 to 9999") ||
                absl::StrContains(t.status().message(), "not an RFC 3339"))
        << t.status();
  }
  EXPECT_EQ(ParseTime("253402300799")->seconds(), 253402300799);
  EXPECT_EQ(ParseTime("-62135596800")->seconds(), -62135596800);
}

TEST(CsvTest, RowsBecomeRecords) {
  auto layout = ParseCsvHeader(
      {"id", "event_time", "label", "a", "b", "attr.site"}, Schema());
  ASSERT_TRUE(layout.ok());
  auto record =
      ParseCsvRow({"r1", "2026-11-23T10:00:00Z", "2", "0.5", "-1", "eu"},
                  *layout, Schema());
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->id(), "r1");
  EXPECT_EQ(record->event_time().seconds(), 1795428000);
  EXPECT_EQ(record->label().class_index(), 2);
  EXPECT_EQ(record->features_size(), 2);
  EXPECT_FLOAT_EQ(record->features(1), -1);
  EXPECT_EQ(record->attributes().at("site"), "eu");

  // Unix seconds, no label.
  record =
      ParseCsvRow({"r2", "1795428000.5", "", "1", "2", ""}, *layout, Schema());
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(record->has_label());
  EXPECT_EQ(record->event_time().nanos(), 500000000);

  EXPECT_TRUE(absl::StrContains(
      ParseCsvRow({"r3", "", "1", "x", "2", ""}, *layout, Schema())
          .status()
          .message(),
      "column 4: \"x\" is not a number"));
  EXPECT_TRUE(absl::StrContains(
      ParseCsvRow({"r4", "yesterday", "1", "1", "2", ""}, *layout, Schema())
          .status()
          .message(),
      "event_time"));
  EXPECT_TRUE(absl::StrContains(
      ParseCsvRow({"", "", "1", "1", "2", ""}, *layout, Schema())
          .status()
          .message(),
      "id is empty"));
}

}  // namespace
}  // namespace continuum::ctl
