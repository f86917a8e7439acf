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

TEST(VersionNameTest, AVersionIsAPositiveDecimalLatestOrAnAlias) {
  for (const char* good : {"1", "7", "1234567", "latest", "golden", "a-b_c"}) {
    EXPECT_TRUE(
        ParseVersionName(absl::StrCat("models/fraud/versions/", good)).ok())
        << good;
  }
  EXPECT_EQ(ParseVersionName("models/fraud/versions/12")->number, 12);
  EXPECT_EQ(ParseVersionName("models/fraud/versions/golden")->number, 0);
  for (const char* bad : {"0", "-1", "+1", "01", "007", "1.5", "1e3", "Gold",
                          "9223372036854775808", "_x"}) {
    absl::StatusOr<VersionRef> ref =
        ParseVersionName(absl::StrCat("models/fraud/versions/", bad));
    EXPECT_EQ(ref.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(ref.status().message(),
              absl::StrCat("name \"models/fraud/versions/", bad,
                           "\": the version must be a number from 1 without "
                           "sign or leading zero (e.g. 7), \"latest\" or an "
                           "alias"));
  }
  EXPECT_EQ(ParseVersionNumber("models/fraud/versions/0", "TransitionVersion")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
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
  metadata.clear_validation_report();
  metadata.mutable_parent()->set_model("fraud");
  metadata.mutable_parent()->set_version(3);
  EXPECT_TRUE(CheckUploadMetadata(metadata).ok());
  metadata.mutable_parent()->set_model("other");
  EXPECT_EQ(CheckUploadMetadata(metadata).message(),
            "metadata.parent.model \"other\" differs from metadata.model "
            "\"fraud\": a version's parent is a version of the same model");
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

namespace continuum::registry {
namespace {

TEST_F(RegistryTest, GetVersionRefusesNumbersThatAreNotVersionNumbers) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  EXPECT_EQ(registry_->GetVersion("models/fraud/versions/1")->version(), 1);
  EXPECT_EQ(registry_->GetVersion("models/fraud/versions/latest")->version(),
            1);
  // These said "model fraud has no versions" (0, -1) or resolved to
  // version 1 (+1, 01).
  for (const char* bad : {"0", "-1", "+1", "01"}) {
    absl::StatusOr<v1::Version> v =
        registry_->GetVersion(absl::StrCat("models/fraud/versions/", bad));
    EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(absl::StrContains(v.status().message(), "number from 1"))
        << v.status();
  }
  EXPECT_EQ(registry_->GetVersion("models/fraud/versions/2").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      registry_->GetVersion("models/fraud/versions/golden").status().code(),
      absl::StatusCode::kNotFound);
}

TEST_F(RegistryTest, ListVersionsFiltersByCreateTimeAndVersion) {
  Register("fraud");
  // Versions 1..4 uploaded a day apart from 2025-01-01T00:00:00Z.
  clock_.Set(absl::FromUnixSeconds(1735689600));
  for (int v = 1; v <= 4; ++v) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("v", v)).ok());
    clock_.Advance(absl::Hours(24));
  }
  v1::ListVersionsRequest request;
  request.set_parent("models/fraud");
  auto numbers = [&](const std::string& filter) {
    request.set_filter(filter);
    std::vector<int64_t> out;
    absl::StatusOr<v1::ListVersionsResponse> page =
        registry_->ListVersions(request);
    EXPECT_TRUE(page.ok()) << filter << ": " << page.status();
    if (page.ok()) {
      for (const v1::Version& v : page->versions()) out.push_back(v.version());
    }
    return out;
  };
  EXPECT_EQ(numbers("create_time > \"2025-01-02T00:00:00Z\""),
            (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(numbers("create_time >= \"2025-01-02T00:00:00Z\""),
            (std::vector<int64_t>{4, 3, 2}));
  EXPECT_EQ(numbers("create_time < \"2025-01-02T00:00:00Z\" OR version = 4"),
            (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(numbers("version > 1 AND version <= 3"),
            (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(numbers("state = REGISTERED AND version != 2"),
            (std::vector<int64_t>{4, 3, 1}));
  request.set_filter("create_time > yesterday");
  EXPECT_EQ(registry_->ListVersions(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_filter("state = REGISTERD");
  EXPECT_EQ(registry_->ListVersions(request).status().message(),
            "filter: \"REGISTERD\" is not a value of "
            "continuum.v1.VersionState (key state)");
}

TEST_F(RegistryTest, PageTokensBelongToTheirQuery) {
  Register("fraud");
  Register("other");
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("f", v)).ok());
    ASSERT_TRUE(UploadBytes("other", absl::StrCat("o", v)).ok());
  }
  v1::ListVersionsRequest request;
  request.set_parent("models/fraud");
  request.set_page_size(1);
  auto page = registry_->ListVersions(request);
  ASSERT_TRUE(page.ok()) << page.status();
  const std::string token = page->next_page_token();
  ASSERT_FALSE(token.empty());
  // A plain number was the old token: no longer accepted.
  EXPECT_NE(token, "3");
  request.set_page_token(token);
  EXPECT_EQ(registry_->ListVersions(request)->versions(0).version(), 2);
  for (auto edit :
       {+[](v1::ListVersionsRequest& r) { r.set_parent("models/other"); },
        +[](v1::ListVersionsRequest& r) { r.set_filter("version > 0"); },
        +[](v1::ListVersionsRequest& r) { r.set_page_token("2"); },
        +[](v1::ListVersionsRequest& r) {
          r.set_page_token(r.page_token() + "A");
        }}) {
    v1::ListVersionsRequest edited = request;
    edit(edited);
    absl::StatusOr<v1::ListVersionsResponse> r =
        registry_->ListVersions(edited);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
        << edited.ShortDebugString();
    EXPECT_TRUE(absl::StrContains(r.status().message(), "page_token"))
        << r.status();
  }
  v1::ListModelsRequest models;
  models.set_page_size(1);
  auto first = registry_->ListModels(models);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->models(0).name(), "models/fraud");
  models.set_page_token(first->next_page_token());
  EXPECT_EQ(registry_->ListModels(models)->models(0).name(), "models/other");
  models.set_filter("family = MLP_CLASSIFIER");
  EXPECT_EQ(registry_->ListModels(models).status().code(),
            absl::StatusCode::kInvalidArgument);
  models.clear_filter();
  models.set_page_token(token);  // A ListVersions token.
  EXPECT_EQ(registry_->ListModels(models).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::registry
