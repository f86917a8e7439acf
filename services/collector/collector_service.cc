#include "services/collector/collector_service.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "continuum/v1/common.pb.h"
#include "lib/core/field_rules.h"
#include "lib/core/grpc_status.h"
#include "lib/core/stream_messages.h"
#include "services/collector/ingest_stream.h"

namespace continuum::collector {
namespace {

using core::Reply;
using core::ToGrpcStatus;

// The body of a unary handler: the request's field rules, then
// core::Reply(fn, out).
template <typename Request, typename T, typename Fn>
grpc::Status Checked(const Request& request, Fn&& fn, T* out) {
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return Reply(std::forward<Fn>(fn), out);
}

// `status` of a failed Ingest with an ErrorDetails (`reason`, the batches
// committed before the failure) as its details, an RpcStatus.
grpc::Status WithCommittedBatches(const absl::Status& status,
                                  absl::string_view reason,
                                  int64_t committed_batches) {
  const grpc::Status converted = ToGrpcStatus(status);
  v1::ErrorDetails details;
  details.set_reason(std::string(reason));
  details.set_committed_batches(committed_batches);
  v1::RpcStatus rpc_status;
  rpc_status.set_code(static_cast<int>(converted.error_code()));
  rpc_status.set_message(converted.error_message());
  rpc_status.add_details()->PackFrom(details);
  return grpc::Status(converted.error_code(), converted.error_message(),
                      rpc_status.SerializeAsString());
}

// One Ingest call: reads each message as raw bytes, parses it, checks its
// field rules and commits it (IngestStream) before reading the next; the
// first failure ends the call. A read that ends (the client's half-close,
// or a cancelled call) sends the totals. gRPC runs one reaction of a call
// at a time, so the stream needs no lock.
class IngestReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  IngestReactor(Collector* collector, grpc::ByteBuffer* response)
      : stream_(collector), response_(response) {
    StartRead(&message_);
  }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) {
      Succeed();
      return;
    }
    ++messages_;
    v1::IngestRequest request;
    if (absl::Status s =
            core::ParseStreamMessage(message_, messages_, &request);
        !s.ok()) {
      Fail(stream_.Unreadable(s), "UNPARSABLE_MESSAGE");
      return;
    }
    absl::Status checked = core::CheckFieldRules(request);
    absl::Status committed = checked.ok() ? stream_.Commit(request)
                                          : stream_.Reject(request, checked);
    if (!committed.ok()) {
      Fail(committed, "BATCH_REJECTED");
      return;
    }
    StartRead(&message_);
  }

  void OnDone() override { delete this; }

  void Succeed() {
    Finish(core::SerializeStreamMessage(stream_.response(), response_));
  }

  void Fail(const absl::Status& status, absl::string_view reason) {
    Finish(WithCommittedBatches(status, reason, stream_.response().batches()));
  }

  IngestStream stream_;
  grpc::ByteBuffer* const response_;
  grpc::ByteBuffer message_;
  // Messages read so far (the one being handled included).
  int64_t messages_ = 0;
};

// A finite server stream over one data set: opens the read of `request`
// with `kStart` (DatasetStore::StartScan or StartReplaySample), then each
// Next() reads one message with `kRead` (ReadScan or ReadReplaySample) until
// the read is done. A read that could not be opened (unknown data set, bad
// request) ends the stream at once with its error.
template <typename Request, typename Response, typename Cursor,
          absl::StatusOr<std::unique_ptr<Cursor>> (DatasetStore::*kStart)(
              const Request&),
          absl::StatusOr<bool> (DatasetStore::*kRead)(Cursor&, Response*)>
class DatasetStream final : public core::WatchReactor<Response> {
 public:
  using Batch = typename core::WatchReactor<Response>::Batch;

  DatasetStream(core::OpenStreams* streams, Collector& collector,
                const Request& request)
      : core::WatchReactor<Response>(streams, /*notifier=*/nullptr),
        read_(Open(collector, request)) {}

 private:
  // A data set and an open read of it.
  struct OpenRead {
    std::shared_ptr<DatasetStore> store;
    std::unique_ptr<Cursor> cursor;
  };

  static absl::StatusOr<OpenRead> Open(Collector& collector,
                                       const Request& request) {
    if (absl::Status s = core::CheckFieldRules(request); !s.ok()) return s;
    absl::StatusOr<std::shared_ptr<DatasetStore>> store =
        collector.Find(request.dataset());
    if (!store.ok()) return store.status();
    absl::StatusOr<std::unique_ptr<Cursor>> cursor =
        ((**store).*kStart)(request);
    if (!cursor.ok()) return cursor.status();
    return OpenRead{*std::move(store), *std::move(cursor)};
  }

  Batch Next() override {
    Batch batch;
    if (!read_.ok()) {
      batch.end = ToGrpcStatus(read_.status());
      return batch;
    }
    Response response;
    absl::StatusOr<bool> send =
        ((*read_->store).*kRead)(*read_->cursor, &response);
    if (!send.ok()) {
      batch.end = ToGrpcStatus(send.status());
      return batch;
    }
    if (*send) batch.messages.push_back(std::move(response));
    if (read_->cursor->done()) batch.end = grpc::Status::OK;
    return batch;
  }

  absl::StatusOr<OpenRead> read_;
};

using ScanStream =
    DatasetStream<v1::ScanRequest, v1::ScanResponse, RecordScan,
                  &DatasetStore::StartScan, &DatasetStore::ReadScan>;
using ReplayStream =
    DatasetStream<v1::SampleReplayRequest, v1::SampleReplayResponse,
                  ReplaySample, &DatasetStore::StartReplaySample,
                  &DatasetStore::ReadReplaySample>;

}  // namespace

grpc::Status CollectorServiceImpl::CreateDataset(
    grpc::ServerContext*, const v1::CreateDatasetRequest* request,
    v1::CreateDatasetResponse* response) {
  return Checked(
      *request, [&] { return collector_->CreateDataset(*request); },
      response->mutable_dataset());
}

grpc::Status CollectorServiceImpl::GetDataset(
    grpc::ServerContext*, const v1::GetDatasetRequest* request,
    v1::GetDatasetResponse* response) {
  return Checked(
      *request, [&] { return collector_->GetDataset(request->name()); },
      response->mutable_dataset());
}

grpc::Status CollectorServiceImpl::ListDatasets(
    grpc::ServerContext*, const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return Checked(
      *request, [&] { return collector_->ListDatasets(*request); }, response);
}

grpc::Status CollectorServiceImpl::UpdateDataset(
    grpc::ServerContext*, const v1::UpdateDatasetRequest* request,
    v1::UpdateDatasetResponse* response) {
  return Checked(
      *request, [&] { return collector_->UpdateDataset(*request); },
      response->mutable_dataset());
}

grpc::Status CollectorServiceImpl::DeleteDataset(
    grpc::ServerContext*, const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return Checked(
      *request, [&] { return collector_->DeleteDataset(request->name()); },
      response);
}

grpc::ServerReadReactor<grpc::ByteBuffer>* CollectorServiceImpl::Ingest(
    grpc::CallbackServerContext*, grpc::ByteBuffer* response) {
  return new IngestReactor(collector_, response);
}

grpc::Status CollectorServiceImpl::IngestBatch(
    grpc::ServerContext*, const v1::IngestBatchRequest* request,
    v1::IngestBatchResponse* response) {
  if (absl::Status s = core::CheckFieldRules(*request); !s.ok()) {
    collector_->CountRejected(request->dataset(), request->records());
    return ToGrpcStatus(s);
  }
  return Reply(
      [&]() -> absl::StatusOr<v1::IngestBatchResponse> {
        absl::StatusOr<std::shared_ptr<DatasetStore>> store =
            collector_->Find(request->dataset());
        if (!store.ok()) return store.status();
        absl::StatusOr<IngestResult> result =
            (*store)->Ingest(request->records());
        if (!result.ok()) return result.status();
        v1::IngestBatchResponse out;
        out.set_accepted_records(result->accepted);
        out.set_duplicate_records(result->duplicates);
        out.set_stored_bytes(result->stored_bytes);
        return out;
      },
      response);
}

grpc::Status CollectorServiceImpl::ReportOutcome(
    grpc::ServerContext*, const v1::ReportOutcomeRequest* request,
    v1::ReportOutcomeResponse* response) {
  return Checked(
      *request,
      [&]() -> absl::StatusOr<v1::ReportOutcomeResponse> {
        absl::StatusOr<std::shared_ptr<DatasetStore>> store =
            collector_->Find(request->dataset());
        if (!store.ok()) return store.status();
        absl::StatusOr<v1::OutcomeDisposition> disposition =
            (*store)->ReportOutcome(*request);
        if (!disposition.ok()) return disposition.status();
        v1::ReportOutcomeResponse out;
        out.set_disposition(*disposition);
        return out;
      },
      response);
}

grpc::ServerWriteReactor<v1::ScanResponse>* CollectorServiceImpl::Scan(
    grpc::CallbackServerContext*, const v1::ScanRequest* request) {
  auto* stream = new ScanStream(streams_, *collector_, *request);
  stream->Start();
  return stream;
}

grpc::ServerWriteReactor<v1::SampleReplayResponse>*
CollectorServiceImpl::SampleReplay(grpc::CallbackServerContext*,
                                   const v1::SampleReplayRequest* request) {
  auto* stream = new ReplayStream(streams_, *collector_, *request);
  stream->Start();
  return stream;
}

grpc::Status CollectorServiceImpl::GetDatasetStats(
    grpc::ServerContext*, const v1::GetDatasetStatsRequest* request,
    v1::GetDatasetStatsResponse* response) {
  return Checked(
      *request,
      [&]() -> absl::StatusOr<v1::GetDatasetStatsResponse> {
        absl::StatusOr<std::shared_ptr<DatasetStore>> store =
            collector_->FindByName(request->name());
        if (!store.ok()) return store.status();
        absl::StatusOr<v1::DatasetStats> stats =
            (*store)->Stats(request->window());
        if (!stats.ok()) return stats.status();
        v1::GetDatasetStatsResponse out;
        *out.mutable_stats() = *std::move(stats);
        *out.mutable_compute_time() =
            google::protobuf::util::TimeUtil::GetCurrentTime();
        return out;
      },
      response);
}

}  // namespace continuum::collector
