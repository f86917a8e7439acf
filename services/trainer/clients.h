// What a training run needs from the other services, as interfaces of plain
// protobuf messages: the registry (models, artifacts, uploads) and the
// collector (windows, replay samples, statistics). The domain code (the
// scheduler and the run executor) sees only these; grpc_clients.h has the
// real implementations and the tests their fakes.
#ifndef CONTINUUM_SERVICES_TRAINER_CLIENTS_H_
#define CONTINUUM_SERVICES_TRAINER_CLIENTS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::trainer {

// An artifact as downloaded: its bytes hash to `sha256`.
struct Artifact {
  v1::VersionRef version;
  std::string sha256;
  std::string bytes;
};

class RegistryClient {
 public:
  virtual ~RegistryClient() = default;

  // The model `model` (bare id). NOT_FOUND if not registered; UNAVAILABLE
  // if the registry cannot be reached.
  virtual absl::StatusOr<v1::Model> GetModel(const std::string& model) = 0;

  // Downloads the artifact of `model`'s version `version` before
  // `deadline`. DATA_LOSS unless the bytes received hash to the SHA-256
  // the registry announced (and their count to its size).
  virtual absl::StatusOr<Artifact> DownloadArtifact(const std::string& model,
                                                    int64_t version,
                                                    absl::Time deadline) = 0;

  // Uploads `bytes` as a new version with `metadata` (sha256 and size set
  // by the caller) before `deadline`. The registry applies the report's
  // gates when the metadata carries one.
  virtual absl::StatusOr<v1::UploadVersionResponse> UploadVersion(
      const v1::UploadVersionMetadata& metadata, absl::string_view bytes,
      absl::Time deadline) = 0;

  // Records a federated coordinator's decision (a site's exclusion or
  // readmission) in the registry's audit log before `deadline`.
  virtual absl::Status RecordAuditEvent(
      const v1::RecordAuditEventRequest& event, absl::Time deadline) = 0;
};

class CollectorClient {
 public:
  virtual ~CollectorClient() = default;

  // Called with each batch of a stream; returning false stops the stream
  // early (the call then returns OK).
  using BatchFn = std::function<bool(const v1::RecordBatch&)>;

  // The data set `dataset` (bare id). NOT_FOUND if unknown.
  virtual absl::StatusOr<v1::Dataset> GetDataset(
      const std::string& dataset) = 0;

  // Statistics of `dataset` over `window` (unset bounds = open).
  virtual absl::StatusOr<v1::DatasetStats> GetDatasetStats(
      const std::string& dataset, const v1::TimeWindow& window) = 0;

  // Streams the records `request` selects before `deadline`.
  virtual absl::Status Scan(const v1::ScanRequest& request,
                            const BatchFn& on_batch, absl::Time deadline) = 0;

  // Streams a sample of the replay buffer before `deadline`.
  virtual absl::Status SampleReplay(const v1::SampleReplayRequest& request,
                                    const BatchFn& on_batch,
                                    absl::Time deadline) = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_CLIENTS_H_
