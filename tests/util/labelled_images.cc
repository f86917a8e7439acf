#include "tests/util/labelled_images.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/grpc_status.h"
#include "lib/core/proto_time.h"

namespace continuum::testing {

absl::Status CreateImageDataset(v1::CollectorService::Stub& collector,
                                const std::string& dataset) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::CreateDatasetRequest request;
  request.set_dataset_id(dataset);
  v1::DatasetSchema* schema = request.mutable_dataset()->mutable_schema();
  schema->set_feature_dim(784);
  schema->set_label_kind(v1::LABEL_KIND_CLASS);
  schema->set_num_classes(10);
  v1::CreateDatasetResponse response;
  return core::FromGrpcStatus(
      collector.CreateDataset(&context, request, &response));
}

absl::Status IngestLabelledImages(v1::CollectorService::Stub& collector,
                                  const std::string& dataset,
                                  const data::LabeledImages& images,
                                  int64_t first, int64_t count, absl::Time base,
                                  const std::string& id_prefix) {
  const int dim = images.feature_dim();
  const int64_t end = first + count;
  for (int64_t at = first; at < end; at += 500) {
    v1::IngestBatchRequest request;
    request.set_dataset(dataset);
    const int64_t stop = std::min<int64_t>(end, at + 500);
    for (int64_t i = at; i < stop; ++i) {
      v1::Record* r = request.add_records();
      r->set_id(absl::StrCat(id_prefix, i));
      *r->mutable_event_time() =
          core::ToProto(base + absl::Milliseconds(i - first));
      r->mutable_features()->Add(images.pixels.begin() + i * dim,
                                 images.pixels.begin() + (i + 1) * dim);
      r->mutable_label()->set_class_index(images.labels[i]);
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::IngestBatchResponse response;
    grpc::Status s = collector.IngestBatch(&context, request, &response);
    if (!s.ok()) {
      const absl::Status status = core::FromGrpcStatus(s);
      return absl::Status(
          status.code(),
          absl::StrCat("ingesting rows ", at, " to ", stop - 1, " into ",
                       dataset, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace continuum::testing
