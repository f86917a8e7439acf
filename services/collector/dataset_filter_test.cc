#include "services/collector/dataset_filter.h"

#include <gtest/gtest.h>

#include <string>

namespace continuum::collector {
namespace {

v1::Dataset Make(const std::string& id, v1::LabelKind kind,
                 const std::string& team = "") {
  v1::Dataset d;
  d.set_name("datasets/" + id);
  d.mutable_schema()->set_label_kind(kind);
  if (!team.empty()) (*d.mutable_labels())["team"] = team;
  return d;
}

bool Matches(const std::string& filter, const v1::Dataset& d) {
  absl::StatusOr<DatasetFilter> parsed = DatasetFilter::Parse(filter);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  return parsed.ok() && parsed->Matches(d);
}

TEST(DatasetFilterTest, EmptyMatchesEverything) {
  EXPECT_TRUE(Matches("", Make("a", v1::LABEL_KIND_NONE)));
}

TEST(DatasetFilterTest, NameLabelsAndLabelKind) {
  const v1::Dataset risk = Make("fraud", v1::LABEL_KIND_CLASS, "risk");
  EXPECT_TRUE(Matches("name = \"datasets/fraud\"", risk));
  EXPECT_FALSE(Matches("name = \"datasets/other\"", risk));
  EXPECT_TRUE(Matches("labels.team = \"risk\"", risk));
  EXPECT_FALSE(Matches("labels.team != \"risk\"", risk));
  // A missing label: `=` is false, `!=` true.
  EXPECT_FALSE(Matches("labels.site = \"eu\"", risk));
  EXPECT_TRUE(Matches("labels.site != \"eu\"", risk));
  EXPECT_TRUE(Matches(
      "labels.team = \"risk\" AND schema.label_kind = LABEL_KIND_CLASS", risk));
  EXPECT_TRUE(
      Matches("labels.team = \"ops\" OR schema.label_kind = CLASS", risk));
  EXPECT_FALSE(
      Matches("labels.team = \"ops\" OR schema.label_kind = VALUE", risk));
}

TEST(DatasetFilterTest, BothSpellingsOfALabelKindMatchAlike) {
  const v1::Dataset values = Make("v", v1::LABEL_KIND_VALUE);
  for (const char* filter :
       {"schema.label_kind = LABEL_KIND_VALUE", "schema.label_kind = VALUE",
        "schema.label_kind != CLASS",
        "schema.label_kind != LABEL_KIND_CLASS"}) {
    EXPECT_TRUE(Matches(filter, values)) << filter;
  }
  EXPECT_FALSE(Matches("schema.label_kind != VALUE", values));
}

TEST(DatasetFilterTest, MisspeltLabelKindsAndUnknownKeysAreRefused) {
  absl::StatusOr<DatasetFilter> f =
      DatasetFilter::Parse("schema.label_kind = LABEL_KIND_CLAS");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.status().message(),
            "filter: \"LABEL_KIND_CLAS\" is not a value of "
            "continuum.v1.LabelKind (key schema.label_kind)");
  EXPECT_EQ(
      DatasetFilter::Parse("schema.label_kind = \"class\"").status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DatasetFilter::Parse("colour = \"red\"").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DatasetFilter::Parse("labels. = \"x\"").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::collector
