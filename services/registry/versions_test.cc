// Versions: names, the version an upload creates, and, through the Registry
// facade, uploads, transitions, downloads and ListVersions.
#include "services/registry/versions.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/store/blob_store.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

TEST(VersionNameTest, ParsesNumbersAliasesAndLatest) {
  EXPECT_EQ(VersionName("fraud", 3), "models/fraud/versions/3");
  absl::StatusOr<VersionRef> ref = ParseVersionName("models/fraud/versions/7");
  ASSERT_TRUE(ref.ok()) << ref.status();
  EXPECT_EQ(ref->model, "fraud");
  EXPECT_EQ(ref->token, "7");
  EXPECT_EQ(ParseVersionName("models/fraud/versions/production")->token,
            "production");
  for (const char* bad :
       {"models/fraud", "models/fraud/versions/", "models/Fraud/versions/1",
        "models/fraud/version/1", "models/fraud/versions/1/x"}) {
    EXPECT_EQ(ParseVersionName(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  absl::StatusOr<VersionNumber> number =
      ParseVersionNumber("models/fraud/versions/4", "TransitionVersion");
  ASSERT_TRUE(number.ok());
  EXPECT_EQ(number->model, "fraud");
  EXPECT_EQ(number->number, 4);
  absl::StatusOr<VersionNumber> latest =
      ParseVersionNumber("models/fraud/versions/latest", "TransitionVersion");
  EXPECT_EQ(latest.status().message(),
            "TransitionVersion needs a version number");
}

TEST(NewVersionTest, CarriesTheLineageAndStartsRegistered) {
  v1::UploadVersionMetadata metadata;
  metadata.set_model("fraud");
  metadata.set_code_version("abc123");
  metadata.set_run("models/fraud/runs/9");
  (*metadata.mutable_tags())["team"] = "risk";
  const absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  v1::Version v =
      NewVersion(metadata, 5, std::string(64, 'a'), 42, now, "trainer");
  EXPECT_EQ(v.name(), "models/fraud/versions/5");
  EXPECT_EQ(v.version(), 5);
  EXPECT_EQ(v.state(), v1::VERSION_STATE_REGISTERED);
  EXPECT_EQ(v.size_bytes(), 42);
  EXPECT_EQ(v.code_version(), "abc123");
  EXPECT_EQ(v.run(), "models/fraud/runs/9");
  EXPECT_EQ(v.tags().at("team"), "risk");
  EXPECT_EQ(v.creator(), "trainer");
  ASSERT_EQ(v.state_history_size(), 1);
  EXPECT_EQ(v.state_history(0).to_state(), v1::VERSION_STATE_REGISTERED);
  EXPECT_EQ(v.state_history(0).reason(), "uploaded");
}

TEST(CheckUploadMetadataTest, NamesTheBadField) {
  v1::UploadVersionMetadata metadata;
  metadata.set_model("fraud");
  metadata.set_sha256("xyz");
  EXPECT_TRUE(absl::StrContains(CheckUploadMetadata(metadata).message(),
                                "metadata.sha256"));
  metadata.set_sha256(store::Sha256Hex("x"));
  metadata.set_size_bytes(-1);
  EXPECT_TRUE(
      absl::StrContains(CheckUploadMetadata(metadata).message(), "size_bytes"));
  metadata.set_size_bytes(0);
  EXPECT_TRUE(CheckUploadMetadata(metadata).ok());
  metadata.mutable_validation_report();  // No evaluations.
  EXPECT_EQ(CheckUploadMetadata(metadata).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseVersionFilterTest, KnowsStatesAndTags) {
  EXPECT_TRUE(
      ParseVersionFilter("state = VERSION_STATE_CANARY OR tags.team = x").ok());
  EXPECT_EQ(ParseVersionFilter("state = SHINY").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseVersionFilter("colour = red").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CheckManualTransitionTest, StatesOfValidationAndPromoteAreRefused) {
  EXPECT_TRUE(CheckManualTransition(v1::VERSION_STATE_ARCHIVED).ok());
  EXPECT_EQ(CheckManualTransition(v1::VERSION_STATE_CANARY).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(
      CheckManualTransition(v1::VERSION_STATE_VALIDATED).message(),
      "SubmitValidation"));
}

TEST_F(RegistryTest, UploadChecksBytesAndIsIdempotent) {
  Register("fraud");
  auto wrong = UploadBytes("fraud", "weights", store::Sha256Hex("other"));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss)
      << wrong.status();
  auto empty = UploadBytes("fraud", "");
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UploadBytes("nope", "weights").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(UploadBytes("fraud", "weights", "xyz").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing was stored by the failures.
  EXPECT_EQ(registry_->GetModel("models/fraud")->latest_version(), 0);

  auto first = UploadBytes("fraud", "weights v1");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->created());
  EXPECT_EQ(first->version().version(), 1);
  EXPECT_EQ(first->version().state(), S::VERSION_STATE_REGISTERED);
  auto again = UploadBytes("fraud", "weights v1");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->created());
  EXPECT_EQ(again->version().version(), 1);
  EXPECT_EQ(UploadBytes("fraud", "weights v2")->version().version(), 2);
}

TEST_F(RegistryTest, OversizedMetadataIsRejected) {
  Register("fraud");
  v1::UploadVersionMetadata metadata;
  metadata.set_model("fraud");
  metadata.set_sha256(store::Sha256Hex("x"));
  metadata.set_description(std::string(2 << 20, 'd'));
  auto upload = registry_->BeginUpload(metadata);
  EXPECT_EQ(upload.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(upload.status().message(), "at most 1 MiB"))
      << upload.status();
}

TEST_F(RegistryTest, IllegalTransitionsNameTheCurrentState) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  v1::TransitionVersionRequest request;
  request.set_name("models/fraud/versions/1");
  request.set_to_state(S::VERSION_STATE_ARCHIVED);
  auto result = registry_->TransitionVersion(caller_, request);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(result.status().message(), "VERSION_STATE_REGISTERED"))
      << result.status();
  request.set_to_state(S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(registry_->TransitionVersion(caller_, request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, CorruptArtifactIsDataLossOnDownload) {
  Register("fraud");
  std::string bytes(100000, 'w');
  ASSERT_TRUE(UploadBytes("fraud", bytes).ok());
  auto download = registry_->OpenArtifact("models/fraud/versions/1");
  ASSERT_TRUE(download.ok());
  std::string all;
  std::string chunk;
  do {
    ASSERT_TRUE(download->reader->Next(4096, &chunk).ok());
    all += chunk;
  } while (!chunk.empty());
  EXPECT_EQ(all, bytes);

  // Flip one byte of the stored blob.
  std::string sha = store::Sha256Hex(bytes);
  std::string path = absl::StrCat(dir_, "/blobs/sha256/", sha.substr(0, 2), "/",
                                  sha.substr(2));
  ASSERT_TRUE(std::filesystem::exists(path)) << path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5000);
    f.put('x');
  }
  download = registry_->OpenArtifact("models/fraud/versions/1");
  ASSERT_TRUE(download.ok());
  absl::Status end;
  do {
    end = download->reader->Next(4096, &chunk);
  } while (end.ok() && !chunk.empty());
  EXPECT_EQ(end.code(), absl::StatusCode::kDataLoss) << end;
}

TEST_F(RegistryTest, ListVersionsFiltersAndPages) {
  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  Register("fraud", immediate);
  for (int v = 1; v <= 5; ++v)
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat(v)).ok());
  ASSERT_TRUE(Validate("models/fraud/versions/5", GoodReport()).ok());
  v1::ListVersionsRequest request;
  request.set_parent("models/fraud");
  request.set_page_size(2);
  auto page = registry_->ListVersions(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->versions_size(), 2);
  EXPECT_EQ(page->versions(0).version(), 5);
  request.set_page_token(page->next_page_token());
  page = registry_->ListVersions(request);
  EXPECT_EQ(page->versions(0).version(), 3);
  request.clear_page_token();
  request.set_filter("state = VERSION_STATE_REGISTERED");
  request.set_page_size(0);
  EXPECT_EQ(registry_->ListVersions(request)->versions_size(), 4);
  request.set_filter("state = SHINY");
  EXPECT_EQ(registry_->ListVersions(request).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::registry
