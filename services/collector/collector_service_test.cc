// CollectorServiceImpl over real loopback gRPC: the thin unary handlers, the
// Ingest client stream, and Scan and SampleReplay as callback-API streams
// that a drain ends.
#include "services/collector/collector_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {
namespace {

class CollectorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CollectorOptions options;
    options.data_dir = testing::MakeTempDir("collector_service_");
    options.store.seed = 1;
    auto collector = Collector::Open(options);
    ASSERT_TRUE(collector.ok()) << collector.status();
    collector_ = *std::move(collector);
    service_ =
        std::make_unique<CollectorServiceImpl>(collector_.get(), &streams_);
    core::ServiceServer::Options server_options;
    server_options.service = "collector";
    server_options.config = core::DefaultServerConfig("collector");
    server_options.config.set_metrics_listen("");
    server_options.services = {service_.get()};
    server_options.open_streams = &streams_;
    auto server = core::ServiceServer::Start(std::move(server_options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::CollectorService::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  // Creates data set `id` with `feature_dim` features and class labels.
  void CreateDataset(const std::string& id, int feature_dim = 2) {
    grpc::ClientContext context;
    v1::CreateDatasetRequest request;
    request.set_dataset_id(id);
    request.mutable_dataset()->mutable_schema()->set_feature_dim(feature_dim);
    request.mutable_dataset()->mutable_schema()->set_label_kind(
        v1::LABEL_KIND_CLASS);
    request.mutable_dataset()->mutable_schema()->set_num_classes(2);
    v1::CreateDatasetResponse response;
    grpc::Status status = stub_->CreateDataset(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.dataset().name(), absl::StrCat("datasets/", id));
  }

  // Stores records "<first>".."<first + n - 1>", labelled 1 when even.
  void Ingest(const std::string& id, int first, int n, int feature_dim = 2) {
    grpc::ClientContext context;
    v1::IngestBatchRequest request;
    request.set_dataset(id);
    for (int i = first; i < first + n; ++i) {
      v1::Record* r = request.add_records();
      r->set_id(absl::StrCat(i));
      r->mutable_event_time()->set_seconds(1'700'000'000 + i);
      for (int f = 0; f < feature_dim; ++f) r->add_features(i);
      if (i % 2 == 0) r->mutable_label()->set_class_index(1);
    }
    v1::IngestBatchResponse response;
    grpc::Status status = stub_->IngestBatch(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.accepted_records(), n);
  }

  // Reads a whole Scan: the rows of each message, cursors, final status.
  grpc::Status Scan(const v1::ScanRequest& request,
                    std::vector<std::vector<std::string>>* messages,
                    std::vector<std::string>* cursors = nullptr) {
    grpc::ClientContext context;
    auto reader = stub_->Scan(&context, request);
    v1::ScanResponse response;
    while (reader->Read(&response)) {
      messages->emplace_back(response.batch().ids().begin(),
                             response.batch().ids().end());
      if (cursors != nullptr) cursors->push_back(response.cursor());
    }
    return reader->Finish();
  }

  core::OpenStreams streams_;
  std::unique_ptr<Collector> collector_;
  std::unique_ptr<CollectorServiceImpl> service_;
  std::unique_ptr<core::ServiceServer> server_;
  std::unique_ptr<v1::CollectorService::Stub> stub_;
};

TEST_F(CollectorServiceTest, UnaryHandlersReplyOrConvertTheError) {
  CreateDataset("ds");
  {
    grpc::ClientContext context;
    v1::GetDatasetRequest request;
    request.set_name("datasets/nope");
    v1::GetDatasetResponse response;
    EXPECT_EQ(stub_->GetDataset(&context, request, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  Ingest("ds", 0, 3);
  {
    grpc::ClientContext context;
    v1::ReportOutcomeRequest request;
    request.set_dataset("ds");
    request.set_id("1");
    request.mutable_label()->set_class_index(0);
    v1::ReportOutcomeResponse response;
    ASSERT_TRUE(stub_->ReportOutcome(&context, request, &response).ok());
    EXPECT_EQ(response.disposition(), v1::OUTCOME_DISPOSITION_JOINED);
  }
  {
    grpc::ClientContext context;
    v1::GetDatasetStatsRequest request;
    request.set_name("datasets/ds");
    v1::GetDatasetStatsResponse response;
    ASSERT_TRUE(stub_->GetDatasetStats(&context, request, &response).ok());
    EXPECT_EQ(response.stats().record_count(), 3);
    EXPECT_EQ(response.stats().labeled_count(), 3);
    EXPECT_TRUE(response.has_compute_time());
  }
  {
    grpc::ClientContext context;
    v1::ListDatasetsResponse response;
    ASSERT_TRUE(
        stub_->ListDatasets(&context, v1::ListDatasetsRequest(), &response)
            .ok());
    EXPECT_EQ(response.datasets_size(), 1);
  }
  {
    grpc::ClientContext context;
    v1::DeleteDatasetRequest request;
    request.set_name("datasets/ds");
    v1::DeleteDatasetResponse response;
    ASSERT_TRUE(stub_->DeleteDataset(&context, request, &response).ok());
    EXPECT_EQ(response.deleted_records(), 3);
  }
}

TEST_F(CollectorServiceTest, IngestStreamNamesTheFailedBatch) {
  CreateDataset("ds");
  grpc::ClientContext context;
  v1::IngestResponse response;
  auto writer = stub_->Ingest(&context, &response);
  v1::IngestRequest request;
  request.set_dataset("ds");
  v1::Record* r = request.add_records();
  r->set_id("a");
  r->mutable_event_time()->set_seconds(1'700'000'000);
  r->add_features(1);
  r->add_features(2);
  ASSERT_TRUE(writer->Write(request));
  request.clear_dataset();  // The stream's data set carries over.
  request.mutable_records(0)->add_features(3);
  writer->Write(request);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(), "batch 1: "))
      << status.error_message();
  EXPECT_TRUE(absl::StrContains(status.error_message(),
                                "(1 earlier batches of this stream are "
                                "committed)"))
      << status.error_message();
}

TEST_F(CollectorServiceTest, ScanStreamsBatchesWithCursorsThenEnds) {
  CreateDataset("ds");
  Ingest("ds", 0, 10);
  v1::ScanRequest request;
  request.set_dataset("ds");
  request.set_batch_size(4);
  std::vector<std::vector<std::string>> messages;
  std::vector<std::string> cursors;
  grpc::Status status = Scan(request, &messages, &cursors);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(messages,
            (std::vector<std::vector<std::string>>{
                {"0", "1", "2", "3"}, {"4", "5", "6", "7"}, {"8", "9"}}));
  // A new scan resumes exactly after a cursor.
  request.set_cursor(cursors[1]);
  messages.clear();
  ASSERT_TRUE(Scan(request, &messages).ok());
  EXPECT_EQ(messages, (std::vector<std::vector<std::string>>{{"8", "9"}}));
}

TEST_F(CollectorServiceTest, ScanErrorsKeepTheirCodes) {
  CreateDataset("ds");
  std::vector<std::vector<std::string>> messages;
  v1::ScanRequest request;
  request.set_dataset("nope");
  EXPECT_EQ(Scan(request, &messages).error_code(), grpc::StatusCode::NOT_FOUND);
  request.set_dataset("");
  EXPECT_EQ(Scan(request, &messages).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_dataset("ds");
  request.set_cursor("not a cursor");
  EXPECT_EQ(Scan(request, &messages).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.clear_cursor();
  request.set_follow(true);
  EXPECT_EQ(Scan(request, &messages).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // An empty data set: no message, OK.
  request.set_follow(false);
  grpc::Status status = Scan(request, &messages);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(messages.empty());
}

TEST_F(CollectorServiceTest, SampleReplaySendsBatchesOrOneEmptyMessage) {
  CreateDataset("ds");
  auto sample = [&](const v1::SampleReplayRequest& request,
                    std::vector<int>* rows, int64_t* buffer_size) {
    grpc::ClientContext context;
    auto reader = stub_->SampleReplay(&context, request);
    v1::SampleReplayResponse response;
    while (reader->Read(&response)) {
      rows->push_back(response.batch().num_rows());
      *buffer_size = response.buffer_size();
    }
    return reader->Finish();
  };
  v1::SampleReplayRequest request;
  request.set_dataset("ds");
  request.set_seed(3);
  std::vector<int> rows;
  int64_t buffer_size = -1;
  ASSERT_TRUE(sample(request, &rows, &buffer_size).ok());
  EXPECT_EQ(rows, std::vector<int>{0});
  EXPECT_EQ(buffer_size, 0);

  Ingest("ds", 0, 10);
  request.set_batch_size(4);
  request.set_count(9);
  rows.clear();
  ASSERT_TRUE(sample(request, &rows, &buffer_size).ok());
  EXPECT_EQ(rows, (std::vector<int>{4, 4, 1}));
  EXPECT_EQ(buffer_size, 10);

  request.set_count(-1);
  rows.clear();
  EXPECT_EQ(sample(request, &rows, &buffer_size).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CollectorServiceTest, ADrainEndsAnOpenScanWithUnavailable) {
  // Rows of 40 KB: the stream stops on flow control while the client waits.
  constexpr int kFeatures = 10'000;
  CreateDataset("big", kFeatures);
  for (int b = 0; b < 4; ++b) Ingest("big", b * 50, 50, kFeatures);
  grpc::ClientContext context;
  v1::ScanRequest request;
  request.set_dataset("big");
  request.set_batch_size(1);
  auto reader = stub_->Scan(&context, request);
  v1::ScanResponse response;
  ASSERT_TRUE(reader->Read(&response));
  EXPECT_EQ(streams_.size(), 1);
  streams_.EndAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  int rows = 1;
  while (reader->Read(&response)) ++rows;
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "draining");
  EXPECT_LT(rows, 200);
  // The cursor of the last row read resumes the scan elsewhere.
  EXPECT_FALSE(response.cursor().empty());
}

}  // namespace
}  // namespace continuum::collector
