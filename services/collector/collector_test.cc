#include "services/collector/collector.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/match.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {
namespace {

v1::CreateDatasetRequest CreateRequest(const std::string& id) {
  v1::CreateDatasetRequest request;
  request.set_dataset_id(id);
  request.mutable_dataset()->mutable_schema()->set_feature_dim(2);
  request.mutable_dataset()->mutable_schema()->set_label_kind(
      v1::LABEL_KIND_NONE);
  return request;
}

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.data_dir = testing::MakeTempDir("collector_test_");
    options_.store.seed = 1;
  }
  std::unique_ptr<Collector> Open() {
    auto collector = Collector::Open(options_);
    EXPECT_TRUE(collector.ok()) << collector.status();
    return collector.ok() ? *std::move(collector) : nullptr;
  }
  CollectorOptions options_;
};

TEST_F(CollectorTest, DeleteThenRecreateStartsEmpty) {
  auto collector = Open();
  ASSERT_TRUE(collector->CreateDataset(CreateRequest("logs")).ok());
  auto store = collector->Find("logs");
  ASSERT_TRUE(store.ok());
  google::protobuf::RepeatedPtrField<v1::Record> batch;
  v1::Record* r = batch.Add();
  r->set_id("a");
  r->mutable_event_time()->set_seconds(1'700'000'000);
  r->add_features(1);
  r->add_features(2);
  ASSERT_TRUE((*store)->Ingest(batch).ok());
  auto deleted = collector->DeleteDataset("datasets/logs");
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(deleted->deleted_records(), 1);
  // The old handle is dead, not dangling.
  EXPECT_EQ((*store)->Ingest(batch).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(collector->CreateDataset(CreateRequest("logs")).ok());
  auto fresh = collector->Find("logs");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)->Stats({})->record_count(), 0);
  // Nothing of the old data set is left on disk.
  for (const auto& entry :
       std::filesystem::directory_iterator(options_.data_dir + "/datasets")) {
    EXPECT_FALSE(
        absl::StartsWith(entry.path().filename().string(), ".deleted-"));
  }
}

TEST_F(CollectorTest, AnInterruptedDeleteIsFinishedAtStart) {
  std::filesystem::create_directories(options_.data_dir +
                                      "/datasets/.deleted-logs-123/records");
  auto collector = Open();
  ASSERT_NE(collector, nullptr);
  EXPECT_FALSE(std::filesystem::exists(options_.data_dir +
                                       "/datasets/.deleted-logs-123"));
  EXPECT_EQ(collector->ListDatasets({})->datasets_size(), 0);
}

TEST_F(CollectorTest, BadDurationsAreRejected) {
  auto collector = Open();
  v1::CreateDatasetRequest request = CreateRequest("logs");
  request.mutable_dataset()
      ->mutable_retention()
      ->mutable_max_age()
      ->set_seconds(-1);
  auto created = collector->CreateDataset(request);
  EXPECT_EQ(created.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(
      absl::StrContains(created.status().message(), "retention.max_age"))
      << created.status();
  ASSERT_TRUE(collector->CreateDataset(CreateRequest("logs")).ok());
  v1::UpdateDatasetRequest update;
  update.mutable_dataset()->set_name("datasets/logs");
  update.mutable_dataset()->mutable_dedup_window()->set_seconds(-5);
  update.mutable_update_mask()->add_paths("dedup_window");
  EXPECT_EQ(collector->UpdateDataset(update).status().code(),
            absl::StatusCode::kInvalidArgument);
  update.mutable_update_mask()->set_paths(0, "schema");
  EXPECT_EQ(collector->UpdateDataset(update).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CollectorTest, DatasetsSurviveARestartAndListPages) {
  {
    auto collector = Open();
    for (const char* id : {"a", "b", "c"}) {
      ASSERT_TRUE(collector->CreateDataset(CreateRequest(id)).ok());
    }
    EXPECT_EQ(collector->CreateDataset(CreateRequest("a")).status().code(),
              absl::StatusCode::kAlreadyExists);
  }
  auto collector = Open();
  v1::ListDatasetsRequest request;
  request.set_page_size(2);
  auto page = collector->ListDatasets(request);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->datasets_size(), 2);
  request.set_page_token(page->next_page_token());
  page = collector->ListDatasets(request);
  ASSERT_EQ(page->datasets_size(), 1);
  EXPECT_EQ(page->datasets(0).name(), "datasets/c");
  request.set_filter("name = \"datasets/b\"");
  EXPECT_EQ(collector->ListDatasets(request).status().code(),
            absl::StatusCode::kInvalidArgument);  // Token of another filter.
}

}  // namespace
}  // namespace continuum::collector
