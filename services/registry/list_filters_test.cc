// The ListModels and ListVersions filters: keys, enum values in both
// forms, integer and time comparisons, and the errors.
#include "services/registry/list_filters.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "lib/core/proto_time.h"

namespace continuum::registry {
namespace {

v1::Model Model(v1::ModelFamily family, const std::string& team) {
  v1::Model m;
  m.set_name("models/fraud");
  m.set_family(family);
  (*m.mutable_labels())["team"] = team;
  return m;
}

v1::Version Version(int64_t number, v1::VersionState state,
                    int64_t create_seconds, int64_t parent = 0) {
  v1::Version v;
  v.set_version(number);
  v.set_state(state);
  *v.mutable_create_time() =
      core::ToProto(absl::FromUnixSeconds(create_seconds));
  v.mutable_parent()->set_version(parent);
  (*v.mutable_tags())["dataset"] = "a";
  return v;
}

// Moved from models_test (ParseModelFilterTest), with the enum checks.
TEST(ModelFilterTest, KnowsNameFamilyAndLabels) {
  EXPECT_TRUE(ModelFilter::Parse("labels.team = risk OR family = "
                                 "MODEL_FAMILY_AUTOENCODER AND name = x")
                  .ok());
  EXPECT_FALSE(ModelFilter::Parse("labels. = x").ok());
  EXPECT_FALSE(ModelFilter::Parse("colour = red").ok());
}

TEST(ModelFilterTest, FamiliesInEitherFormAndMisspeltOnesRefused) {
  const v1::Model ae = Model(v1::MODEL_FAMILY_AUTOENCODER, "risk");
  for (const char* text :
       {"family = MODEL_FAMILY_AUTOENCODER", "family = AUTOENCODER",
        "family != MLP_CLASSIFIER AND labels.team = risk",
        "name = \"models/fraud\""}) {
    absl::StatusOr<ModelFilter> f = ModelFilter::Parse(text);
    ASSERT_TRUE(f.ok()) << text << ": " << f.status();
    EXPECT_TRUE(f->Matches(ae)) << text;
  }
  EXPECT_FALSE(ModelFilter::Parse("family = MLP_CLASSIFIER")->Matches(ae));
  EXPECT_FALSE(ModelFilter::Parse("labels.team = ops")->Matches(ae));
  absl::StatusOr<ModelFilter> bad = ModelFilter::Parse("family = AUTOENCODR");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "filter: \"AUTOENCODR\" is not a value of "
            "continuum.v1.ModelFamily (key family)");
}

// Moved from versions_test (ParseVersionFilterTest).
TEST(VersionFilterTest, KnowsStatesAndTags) {
  EXPECT_TRUE(
      VersionFilter::Parse("state = VERSION_STATE_CANARY OR tags.team = x")
          .ok());
  EXPECT_EQ(VersionFilter::Parse("state = SHINY").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VersionFilter::Parse("colour = red").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(VersionFilterTest, ComparesNumbersTimesAndStates) {
  const v1::Version v7 =
      Version(7, v1::VERSION_STATE_CANARY, 1'736'000'000, /*parent=*/6);
  struct Case {
    const char* text;
    bool matches;
  };
  for (const Case& c : {
           Case{"version > 6", true},
           Case{"version > 7", false},
           Case{"version >= 7 AND version <= 7", true},
           Case{"version != 7", false},
           Case{"parent.version = 6", true},
           Case{"parent.version < 6", false},
           Case{"create_time > \"2025-01-01T00:00:00Z\"", true},
           Case{"create_time < \"2025-01-01T00:00:00Z\"", false},
           Case{"create_time >= \"2025-01-04T14:13:20Z\"", true},  // equal
           Case{"create_time > \"2025-01-04T15:13:20+01:00\"", false},
           Case{"state = CANARY", true},
           Case{"state = VERSION_STATE_CANARY AND tags.dataset = a", true},
           Case{"state != CANARY OR tags.dataset = b", false},
           Case{"tags.missing != x", true},
       }) {
    absl::StatusOr<VersionFilter> f = VersionFilter::Parse(c.text);
    ASSERT_TRUE(f.ok()) << c.text << ": " << f.status();
    EXPECT_EQ(f->Matches(v7), c.matches) << c.text;
  }
}

TEST(VersionFilterTest, BadValuesAndOperatorsAreInvalidArgument) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"state = PRODUCTON",
                "filter: \"PRODUCTON\" is not a value of "
                "continuum.v1.VersionState (key state)"},
           Case{"version > ten",
                "filter: \"ten\" is not an integer (key "
                "version)"},
           Case{"create_time > \"yesterday\"",
                "filter: \"yesterday\" is not an RFC 3339 time such as "
                "\"2025-01-01T00:00:00Z\" (key create_time)"},
           Case{"state > CANARY", "expected = or != after \"state\""},
           Case{"tags.x < 3", "expected = or != after \"tags.x\""},
           Case{"colour = red", "unknown key \"colour\""},
       }) {
    absl::StatusOr<VersionFilter> f = VersionFilter::Parse(c.text);
    ASSERT_FALSE(f.ok()) << c.text;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(f.status().message(), c.message))
        << c.text << ": " << f.status();
  }
}

}  // namespace
}  // namespace continuum::registry
