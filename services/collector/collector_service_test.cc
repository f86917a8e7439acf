// CollectorServiceImpl over real loopback gRPC: the thin unary handlers, the
// Ingest client stream (read as raw bytes, so an unparsable message fails
// the call), Scan and SampleReplay as callback-API streams that a drain
// ends, and the rules of collector.proto every handler checks first.
#include "services/collector/collector_service.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "continuum/v1/common.pb.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "lib/store/crc32c.h"
#include "services/collector/collector_testing.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {
namespace {

// A client stream of raw messages through the generic stub: writes each of
// `messages` in turn (stopping if the server ends the call), half-closes,
// and reads the one response. Lets a test send bytes that do not parse.
class RawClientStream final
    : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  RawClientStream(const std::string& target, const std::string& method,
                  std::vector<std::string> messages)
      : stub_(grpc::CreateChannel(target, grpc::InsecureChannelCredentials())),
        messages_(std::move(messages)) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    stub_.PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(),
                                   this);
    StartRead(&response_);
    WriteNext();
    StartCall();
  }

  // The call's status, and the response's bytes in *response if it came.
  grpc::Status Wait(std::string* response) {
    done_.WaitForNotification();
    if (got_response_) {
      std::vector<grpc::Slice> slices;
      (void)response_.Dump(&slices);
      response->clear();
      for (const grpc::Slice& s : slices) {
        response->append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    return status_;
  }

 private:
  void WriteNext() {
    if (next_ == messages_.size()) {
      StartWritesDone();
      return;
    }
    grpc::Slice slice(messages_[next_].data(), messages_[next_].size());
    request_ = grpc::ByteBuffer(&slice, 1);
    ++next_;
    StartWrite(&request_);
  }
  void OnWriteDone(bool ok) override {
    if (ok) WriteNext();
  }
  void OnReadDone(bool ok) override { got_response_ = ok; }
  void OnDone(const grpc::Status& status) override {
    status_ = status;
    done_.Notify();
  }

  grpc::GenericStub stub_;
  grpc::ClientContext context_;
  const std::vector<std::string> messages_;
  size_t next_ = 0;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  bool got_response_ = false;
  grpc::Status status_;
  absl::Notification done_;
};

constexpr char kIngestMethod[] = "/continuum.v1.CollectorService/Ingest";

// The one ErrorDetails a failed call carries in its details (an RpcStatus,
// as grpc-status-details-bin), or nullopt if it carries no such thing.
std::optional<v1::ErrorDetails> DetailsOf(const grpc::Status& status) {
  v1::RpcStatus details;
  v1::ErrorDetails error;
  if (!details.ParseFromString(status.error_details()) ||
      details.details_size() != 1 || !details.details(0).UnpackTo(&error)) {
    return std::nullopt;
  }
  return error;
}


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

  // The records stored in data set `id`.
  int64_t RecordCount(const std::string& id) {
    grpc::ClientContext context;
    v1::GetDatasetStatsRequest request;
    request.set_name(absl::StrCat("datasets/", id));
    v1::GetDatasetStatsResponse response;
    grpc::Status status = stub_->GetDatasetStats(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.stats().record_count();
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

  // Half of the records are labelled; the buffer of a data set with labels
  // holds those only.
  Ingest("ds", 0, 20);
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
  // A channel whose receive window stays at 64 KiB (no BDP probing grows
  // it): the 8 MB scan cannot finish before the drain, however fast the
  // machine.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  auto stub = v1::CollectorService::NewStub(grpc::CreateCustomChannel(
      server_->address(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  v1::ScanRequest request;
  request.set_dataset("big");
  request.set_batch_size(1);
  auto reader = stub->Scan(&context, request);
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

TEST_F(CollectorServiceTest, IngestStreamKeepsItsResponseForValidStreams) {
  CreateDataset("a");
  CreateDataset("b");
  // Batch 2 inherits "a"; batch 3 switches to "b"; batch 2 repeats an id.
  std::vector<std::string> messages = {
      TestIngestRequest("a", 0, 3).SerializeAsString(),
      TestIngestRequest("", 2, 2).SerializeAsString(),
      TestIngestRequest("b", 0, 1).SerializeAsString()};
  RawClientStream stream(server_->address(), kIngestMethod, messages);
  std::string bytes;
  grpc::Status status = stream.Wait(&bytes);
  ASSERT_TRUE(status.ok()) << status.error_message();
  v1::IngestResponse response;
  ASSERT_TRUE(response.ParseFromString(bytes));
  EXPECT_EQ(response.batches(), 3);
  EXPECT_EQ(response.accepted_records(), 5);
  EXPECT_EQ(response.duplicate_records(), 1);
  EXPECT_GT(response.stored_bytes(), 0);
  EXPECT_EQ(RecordCount("a"), 4);
  EXPECT_EQ(RecordCount("b"), 1);

  // No message at all: OK with zero counts, as before.
  RawClientStream empty(server_->address(), kIngestMethod, {});
  ASSERT_TRUE(empty.Wait(&bytes).ok());
  ASSERT_TRUE(response.ParseFromString(bytes));
  EXPECT_EQ(response.batches(), 0);
}

// Issue 14: [valid, unparsable, valid] ended OK after the first message.
TEST_F(CollectorServiceTest, IngestStreamWithAnUnparsableMessageFails) {
  CreateDataset("ds");
  std::vector<std::string> messages = {
      TestIngestRequest("ds", 0, 3).SerializeAsString(),
      std::string("\xff\xff\xff\xff not a message", 17),
      TestIngestRequest("ds", 10, 2).SerializeAsString()};
  RawClientStream stream(server_->address(), kIngestMethod, messages);
  std::string bytes;
  grpc::Status status = stream.Wait(&bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "message 2 of the stream is not a valid continuum.v1.IngestRequest "
            "(its bytes do not parse as that message); the 1 message before "
            "it is committed (3 records accepted, 0 duplicates); nothing "
            "after it was read");
  // The structured details say how many batches were committed.
  std::optional<v1::ErrorDetails> error = DetailsOf(status);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->committed_batches(), 1);
  EXPECT_EQ(error->reason(), "UNPARSABLE_MESSAGE");
  EXPECT_EQ(RecordCount("ds"), 3);
}

TEST_F(CollectorServiceTest, IngestStreamChecksEachMessagesFieldRules) {
  CreateDataset("ds");
  v1::IngestRequest bad = TestIngestRequest("", 5, 2);
  bad.mutable_records(1)->set_id(std::string(200, 'x'));
  std::vector<std::string> messages = {
      TestIngestRequest("ds", 0, 2).SerializeAsString(),
      bad.SerializeAsString()};
  RawClientStream stream(server_->address(), kIngestMethod, messages);
  std::string bytes;
  grpc::Status status = stream.Wait(&bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "batch 1: records[1].id: at most 128 bytes (got 200) (1 earlier "
            "batches of this stream are committed)");
  std::optional<v1::ErrorDetails> error = DetailsOf(status);
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->committed_batches(), 1);
  EXPECT_EQ(RecordCount("ds"), 2);
}

// Issue 14: a 1 MB id was stored as an outcome that could never join.
TEST_F(CollectorServiceTest, ReportOutcomeRefusesIdsOver128Bytes) {
  CreateDataset("ds");
  grpc::ClientContext context;
  v1::ReportOutcomeRequest request;
  request.set_dataset("ds");
  request.set_id(std::string(1 << 20, 'x'));
  request.mutable_label()->set_class_index(0);
  v1::ReportOutcomeResponse response;
  grpc::Status status = stub_->ReportOutcome(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "id: at most 128 bytes (got 1048576)");
}

// Issue 14: a negative batch_size was taken as the default.
TEST_F(CollectorServiceTest, NegativeBatchSizesAreRefused) {
  CreateDataset("ds");
  Ingest("ds", 0, 3);
  std::vector<std::vector<std::string>> messages;
  v1::ScanRequest scan;
  scan.set_dataset("ds");
  scan.set_batch_size(-1);
  grpc::Status status = Scan(scan, &messages);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "batch_size: must be >= 0 (got -1)");
  EXPECT_TRUE(messages.empty());
  scan.set_batch_size(0);
  scan.set_limit(-2);
  EXPECT_EQ(Scan(scan, &messages).error_message(),
            "limit: must be >= 0 (got -2)");

  grpc::ClientContext context;
  v1::SampleReplayRequest replay;
  replay.set_dataset("ds");
  replay.set_batch_size(-1);
  auto reader = stub_->SampleReplay(&context, replay);
  v1::SampleReplayResponse response;
  EXPECT_FALSE(reader->Read(&response));
  status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "batch_size: must be >= 0 (got -1)");
}

// Issue 14: an undefined durability mode was stored.
TEST_F(CollectorServiceTest, CreateDatasetRefusesUndefinedEnumValues) {
  grpc::ClientContext context;
  v1::CreateDatasetRequest request;
  request.set_dataset_id("ds");
  request.mutable_dataset()->mutable_schema()->set_feature_dim(2);
  request.mutable_dataset()->mutable_schema()->set_label_kind(
      v1::LABEL_KIND_NONE);
  request.mutable_dataset()->set_durability(static_cast<v1::DurabilityMode>(7));
  v1::CreateDatasetResponse response;
  grpc::Status status = stub_->CreateDataset(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "dataset.durability: 7 is not a value of "
            "continuum.v1.DurabilityMode");

  grpc::ClientContext again;
  request.mutable_dataset()->set_durability(v1::DURABILITY_MODE_INTERVAL);
  request.mutable_dataset()->mutable_schema()->set_label_kind(
      static_cast<v1::LabelKind>(42));
  status = stub_->CreateDataset(&again, request, &response);
  EXPECT_EQ(status.error_message(),
            "dataset.schema.label_kind: 42 is not a value of "
            "continuum.v1.LabelKind");
}

// Issue 14: IngestBatch answered NOT_FOUND for an id GetDataset calls
// INVALID_ARGUMENT.
TEST_F(CollectorServiceTest, IngestBatchWithAnInvalidIdIsInvalidArgument) {
  grpc::ClientContext context;
  v1::IngestBatchRequest request;
  request.set_dataset("Not An Id");
  *request.add_records() = TestIngestRequest("", 0, 1).records(0);
  v1::IngestBatchResponse response;
  grpc::Status status = stub_->IngestBatch(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(),
                               "dataset: data set id \"Not An Id\""))
      << status.error_message();

  grpc::ClientContext get_context;
  v1::GetDatasetRequest get;
  get.set_name("datasets/Not An Id");
  v1::GetDatasetResponse got;
  EXPECT_EQ(stub_->GetDataset(&get_context, get, &got).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// The names, ids and counts collector.proto states, checked first.
TEST_F(CollectorServiceTest, EveryHandlerChecksItsFieldRules) {
  auto code_of = [](grpc::Status s) { return s.error_code(); };
  {
    grpc::ClientContext context;
    v1::GetDatasetStatsRequest request;
    request.set_name("models/x");
    v1::GetDatasetStatsResponse response;
    grpc::Status s = stub_->GetDatasetStats(&context, request, &response);
    EXPECT_EQ(code_of(s), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(s.error_message(), "name: "))
        << s.error_message();
  }
  {
    grpc::ClientContext context;
    v1::DeleteDatasetRequest request;
    v1::DeleteDatasetResponse response;
    EXPECT_EQ(
        stub_->DeleteDataset(&context, request, &response).error_message(),
        "name: required");
  }
  {
    grpc::ClientContext context;
    v1::ListDatasetsRequest request;
    request.set_page_size(-1);
    v1::ListDatasetsResponse response;
    EXPECT_EQ(stub_->ListDatasets(&context, request, &response).error_message(),
              "page_size: must be >= 0 (got -1)");
  }
  {
    grpc::ClientContext context;
    v1::UpdateDatasetRequest request;
    request.mutable_update_mask()->add_paths("description");
    v1::UpdateDatasetResponse response;
    EXPECT_EQ(
        stub_->UpdateDataset(&context, request, &response).error_message(),
        "dataset: required");
  }
  {
    grpc::ClientContext context;
    v1::CreateDatasetRequest request;
    request.set_dataset_id("ds");
    request.mutable_dataset()->mutable_replay()->set_size(-3);
    request.mutable_dataset()->mutable_schema()->set_feature_dim(2);
    request.mutable_dataset()->mutable_schema()->set_label_kind(
        v1::LABEL_KIND_NONE);
    v1::CreateDatasetResponse response;
    EXPECT_EQ(
        stub_->CreateDataset(&context, request, &response).error_message(),
        "dataset.replay.size: must be >= 0 (got -3)");
  }
  {
    grpc::ClientContext context;
    v1::ReportOutcomeRequest request;
    request.set_dataset("ds");
    request.set_id("a");
    v1::ReportOutcomeResponse response;
    EXPECT_EQ(
        stub_->ReportOutcome(&context, request, &response).error_message(),
        "label: required");
  }
}

// Issue 14: a misspelt enum value in a filter matched nothing.
TEST_F(CollectorServiceTest, ListDatasetsChecksTheFiltersEnumValues) {
  CreateDataset("classes");
  auto list = [&](const std::string& filter, v1::ListDatasetsResponse* out) {
    grpc::ClientContext context;
    v1::ListDatasetsRequest request;
    request.set_filter(filter);
    return stub_->ListDatasets(&context, request, out);
  };
  v1::ListDatasetsResponse response;
  grpc::Status status = list("schema.label_kind = LABEL_KIND_CLAS", &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "filter: \"LABEL_KIND_CLAS\" is not a value of "
            "continuum.v1.LabelKind (key schema.label_kind)");
  // Full and prefix-less names both match.
  for (const char* filter :
       {"schema.label_kind = LABEL_KIND_CLASS", "schema.label_kind = CLASS"}) {
    response.Clear();
    ASSERT_TRUE(list(filter, &response).ok()) << filter;
    EXPECT_EQ(response.datasets_size(), 1) << filter;
  }
  response.Clear();
  ASSERT_TRUE(list("schema.label_kind != CLASS", &response).ok());
  EXPECT_EQ(response.datasets_size(), 0);
}

// Issue 14: page tokens were a checksum of the filter and a readable id,
// so an edited token was taken.
TEST_F(CollectorServiceTest, ListDatasetsPageTokensAreSelfValidating) {
  for (const char* id : {"a", "b", "c"}) CreateDataset(id);
  auto list = [&](const std::string& filter, const std::string& token,
                  v1::ListDatasetsResponse* out) {
    grpc::ClientContext context;
    v1::ListDatasetsRequest request;
    request.set_page_size(1);
    request.set_filter(filter);
    request.set_page_token(token);
    return stub_->ListDatasets(&context, request, out);
  };
  v1::ListDatasetsResponse first;
  ASSERT_TRUE(list("", "", &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  v1::ListDatasetsResponse second;
  ASSERT_TRUE(list("", first.next_page_token(), &second).ok());
  ASSERT_EQ(second.datasets_size(), 1);
  EXPECT_EQ(second.datasets(0).name(), "datasets/b");

  const std::string not_ours =
      "page_token: not a token of this query (pass the next_page_token of "
      "the previous page, with the same parent, filter and order)";
  v1::ListDatasetsResponse ignored;
  grpc::Status status =
      list("name != \"x\"", first.next_page_token(), &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), not_ours);
  // A token made by hand (the old format: filter checksum and the last id).
  const std::string forged =
      absl::WebSafeBase64Escape(absl::StrCat(store::Crc32c(""), ":", "b"));
  status = list("", forged, &ignored);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), not_ours);
}

}  // namespace
}  // namespace continuum::collector
