#include "services/inference/prediction_sinks.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "lib/core/call_identity.h"
#include "lib/core/channel.h"
#include "lib/core/grpc_status.h"
#include "lib/core/proto_time.h"

namespace continuum::inference {
namespace {

// The caller these sinks name on their calls.
constexpr absl::string_view kActor = "inference";
// Longest wait between reconnects to a sink that is down.
constexpr absl::Duration kMaxReconnectBackoff = absl::Seconds(5);

void ToRecord(const LoggedRow& row, v1::Record* record) {
  const LoggedRequest& request = *row.request;
  record->set_id(row.id);
  *record->mutable_event_time() = core::ToProto(request.event_time);
  record->mutable_features()->Add(row.features.begin(), row.features.end());
  *record->mutable_attributes() = request.attributes;
  v1::LoggedPrediction* p = record->mutable_prediction();
  p->mutable_version()->set_model(request.model);
  p->mutable_version()->set_version(request.version);
  p->set_revision(request.revision);
  p->set_role(request.role);
  p->mutable_outputs()->Add(row.outputs.begin(), row.outputs.end());
  if (row.predicted_class) p->set_predicted_class(*row.predicted_class);
  if (row.score) p->set_score(*row.score);
  if (row.anomaly) p->set_anomaly(*row.anomaly);
  p->set_request_id(request.request_id);
}

// `rows` (one model, version and row length) as an observation batch:
// classes and confidences when every row has a class (and a score), the
// scores as predicted values when every row has one but not a class.
void FillBatch(absl::Span<const LoggedRow* const> rows,
               v1::ObservationBatch* batch) {
  const LoggedRequest& first = *rows[0]->request;
  const size_t n = rows.size();
  batch->set_model(first.model);
  batch->set_version(first.version);
  batch->set_kind(v1::OBSERVATION_KIND_PREDICTION);
  batch->set_num_rows(static_cast<int32_t>(n));
  batch->set_feature_dim(static_cast<int32_t>(rows[0]->features.size()));
  bool all_classes = true;
  bool all_scores = true;
  for (const LoggedRow* row : rows) {
    all_classes = all_classes && row->predicted_class.has_value();
    all_scores = all_scores && row->score.has_value();
  }
  batch->mutable_features()->Reserve(
      static_cast<int>(n * rows[0]->features.size()));
  for (const LoggedRow* row : rows) {
    batch->mutable_features()->Add(row->features.begin(),
                                   row->features.end());
    batch->add_ids(row->id);
    batch->add_event_time_unix_micros(
        absl::ToUnixMicros(row->request->event_time));
    if (all_classes) {
      batch->add_predicted_classes(*row->predicted_class);
      if (all_scores) batch->add_confidences(*row->score);
    } else if (all_scores) {
      batch->add_predicted_values(*row->score);
    }
  }
}

using Rows = absl::Span<const LoggedRow* const>;

// Sends `rows` with `send` and reports them. The destinations take a batch
// all or nothing, so one row they refuse (INVALID_ARGUMENT: an id or an
// attribute the edge checks missed, features of a changed schema) would
// drop every other row with it: such a batch is split in halves, sent
// again, until only the rows refused on their own are dropped (at most
// 2 log2(n) more calls per bad row).
void SendSplitting(Rows rows, absl::FunctionRef<absl::Status(Rows)> send,
                   PredictionSink::Report report, absl::string_view what) {
  absl::Status status = send(rows);
  if (status.code() == absl::StatusCode::kInvalidArgument && rows.size() > 1) {
    const size_t half = rows.size() / 2;
    SendSplitting(rows.subspan(0, half), send, report, what);
    SendSplitting(rows.subspan(half), send, report, what);
    return;
  }
  report(static_cast<int64_t>(rows.size()), status, what);
}

}  // namespace

CollectorSink::CollectorSink(
    const std::shared_ptr<grpc::ChannelInterface>& channel)
    : stub_(v1::CollectorService::NewStub(channel)) {}

absl::string_view CollectorSink::name() const { return "collector"; }

void CollectorSink::Send(absl::Span<const LoggedRowPtr> rows,
                         absl::Time deadline, Report report) {
  std::map<absl::string_view, std::vector<const LoggedRow*>> by_model;
  for (const LoggedRowPtr& row : rows) {
    by_model[row->request->model].push_back(row.get());
  }
  for (const auto& [model, model_rows] : by_model) {
    const std::string what = absl::StrCat("data set '", model, "'");
    auto send = [&](Rows chunk) {
      v1::IngestBatchRequest request;
      request.set_dataset(std::string(model));
      request.mutable_records()->Reserve(static_cast<int>(chunk.size()));
      for (const LoggedRow* row : chunk) ToRecord(*row, request.add_records());
      grpc::ClientContext context;
      core::PrepareCall(context, kActor, deadline);
      v1::IngestBatchResponse response;
      return core::FromGrpcStatus(
          stub_->IngestBatch(&context, request, &response));
    };
    ForEachChunk(model_rows,
                 [&](Rows chunk) { SendSplitting(chunk, send, report, what); });
  }
}

DriftSink::DriftSink(const std::shared_ptr<grpc::ChannelInterface>& channel)
    : stub_(v1::DriftService::NewStub(channel)) {}

absl::string_view DriftSink::name() const { return "drift"; }

void DriftSink::Send(absl::Span<const LoggedRowPtr> rows, absl::Time deadline,
                     Report report) {
  using Key = std::tuple<absl::string_view, int64_t, size_t>;
  std::map<Key, std::vector<const LoggedRow*>> groups;
  for (const LoggedRowPtr& row : rows) {
    groups[Key(row->request->model, row->request->version,
               row->features.size())]
        .push_back(row.get());
  }
  for (const auto& [key, group] : groups) {
    const std::string what = absl::StrCat("model '", std::get<0>(key),
                                          "' version ", std::get<1>(key));
    auto send = [&](Rows chunk) {
      v1::ObserveRequest request;
      FillBatch(chunk, request.mutable_batch());
      grpc::ClientContext context;
      core::PrepareCall(context, kActor, deadline);
      v1::ObserveResponse response;
      std::unique_ptr<grpc::ClientWriter<v1::ObserveRequest>> writer =
          stub_->Observe(&context, &response);
      // A failed Write means the call is over; Finish tells why.
      if (writer->Write(request)) writer->WritesDone();
      return core::FromGrpcStatus(writer->Finish());
    };
    ForEachChunk(group,
                 [&](Rows chunk) { SendSplitting(chunk, send, report, what); });
  }
}

std::vector<std::unique_ptr<PredictionSink>> NewPredictionSinks(
    const config::v1::PredictionLogConfig& config) {
  std::vector<std::unique_ptr<PredictionSink>> sinks;
  if (!config.collector_address().empty()) {
    sinks.push_back(std::make_unique<CollectorSink>(core::CreateServiceChannel(
        config.collector_address(), kMaxReconnectBackoff)));
  }
  if (!config.drift_address().empty()) {
    sinks.push_back(std::make_unique<DriftSink>(core::CreateServiceChannel(
        config.drift_address(), kMaxReconnectBackoff)));
  }
  return sinks;
}

}  // namespace continuum::inference
