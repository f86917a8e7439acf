#include "services/collector/ingest_stream.h"

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace continuum::collector {

const std::string& IngestStream::DatasetOf(const v1::IngestRequest& request) {
  if (!request.dataset().empty()) dataset_ = request.dataset();
  return dataset_;
}

absl::Status IngestStream::Commit(const v1::IngestRequest& request) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      collector_->Find(DatasetOf(request));
  if (!store.ok()) return BatchFailed(store.status());
  absl::StatusOr<IngestResult> result = (*store)->Ingest(request.records());
  if (!result.ok()) return BatchFailed(result.status());
  response_.set_batches(response_.batches() + 1);
  response_.set_accepted_records(response_.accepted_records() +
                                 result->accepted);
  response_.set_duplicate_records(response_.duplicate_records() +
                                  result->duplicates);
  response_.set_stored_bytes(response_.stored_bytes() + result->stored_bytes);
  return absl::OkStatus();
}

absl::Status IngestStream::Reject(const v1::IngestRequest& request,
                                  const absl::Status& error) {
  collector_->CountRejected(DatasetOf(request), request.records());
  return BatchFailed(error);
}

absl::Status IngestStream::BatchFailed(const absl::Status& error) const {
  // Earlier batches stay committed; say how many.
  return absl::Status(
      error.code(),
      absl::StrCat("batch ", response_.batches(), ": ", error.message(), " (",
                   response_.batches(),
                   " earlier batches of this stream are committed)"));
}

absl::Status IngestStream::Unreadable(const absl::Status& error) const {
  const int64_t n = response_.batches();
  std::string committed =
      n == 0
          ? "; nothing of the stream was committed"
          : absl::StrCat("; the ", n, n == 1 ? " message" : " messages",
                         " before it ", n == 1 ? "is" : "are", " committed (",
                         response_.accepted_records(), " records accepted, ",
                         response_.duplicate_records(), " duplicates)");
  return absl::Status(
      error.code(),
      absl::StrCat(error.message(), committed, "; nothing after it was read"));
}

}  // namespace continuum::collector
