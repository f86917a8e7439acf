// Collector: the data sets of one collector process, under DATA_DIR/datasets/.
// Domain code: knows nothing of gRPC (collector_service.h adapts it).
#ifndef CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_H_
#define CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.pb.h"
#include "services/collector/dataset_store.h"

namespace continuum::collector {

struct CollectorOptions {
  // The service's data directory; data sets live in data_dir/datasets/<id>.
  std::string data_dir;
  // Passed to every data set.
  DatasetStoreOptions store;
  // How often retention and outcome expiry run in the background thread.
  absl::Duration maintenance_interval = absl::Seconds(60);
};

class Collector {
 public:
  // Opens every data set found under data_dir/datasets (recovering each).
  static absl::StatusOr<std::unique_ptr<Collector>> Open(
      CollectorOptions options);

  // Stops the background thread; data sets write their snapshots.
  ~Collector();

  // Starts the background thread: interval fsyncs of data sets in
  // DURABILITY_MODE_INTERVAL, and RunMaintenance every maintenance_interval.
  // Tests call Sync/RunMaintenance by hand instead.
  void StartBackground();

  // The standard methods. Errors: INVALID_ARGUMENT (bad id, schema, mask,
  // page token or filter), ALREADY_EXISTS, NOT_FOUND, UNAVAILABLE (storage).
  // The service checks each request's field rules (collector.proto) first;
  // these check what the options cannot state (and, for callers other than
  // the service, the ids and names again). ListDatasets: the filter is a
  // DatasetFilter; page tokens are core::EncodePageToken's of the last id
  // for the query "\n" + filter + "\n" (INVALID_ARGUMENT for a token of
  // another filter or an edited one).
  absl::StatusOr<v1::Dataset> CreateDataset(
      const v1::CreateDatasetRequest& request);
  absl::StatusOr<v1::Dataset> GetDataset(absl::string_view name);
  absl::StatusOr<v1::ListDatasetsResponse> ListDatasets(
      const v1::ListDatasetsRequest& request);
  absl::StatusOr<v1::Dataset> UpdateDataset(
      const v1::UpdateDatasetRequest& request);
  absl::StatusOr<v1::DeleteDatasetResponse> DeleteDataset(
      absl::string_view name);

  // The data set with id `id`, or NOT_FOUND naming it.
  absl::StatusOr<std::shared_ptr<DatasetStore>> Find(absl::string_view id);
  // Counts a batch for data set `id` that the service rejected before
  // ingesting it (DatasetStore::CountRejected); nothing when `id` names no
  // data set.
  void CountRejected(
      absl::string_view id,
      const google::protobuf::RepeatedPtrField<v1::Record>& records);
  // The data set named `datasets/{id}`.
  absl::StatusOr<std::shared_ptr<DatasetStore>> FindByName(
      absl::string_view name);

  // Runs every data set's maintenance once.
  void RunMaintenance();
  // fsyncs the data sets in interval durability whose interval has passed.
  void SyncDue(absl::Time now);

 private:
  explicit Collector(CollectorOptions options) : options_(std::move(options)) {}
  std::string DatasetDir(absl::string_view id) const;
  // Runs `step` every `period` until the collector stops.
  void Loop(absl::Duration period, const std::function<void()>& step);

  const CollectorOptions options_;

  // State below is protected by mu_.
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<DatasetStore>> datasets_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> last_sync_ ABSL_GUARDED_BY(mu_);
  // Ids whose files are being deleted: CreateDataset waits for them.
  std::set<std::string> deleting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Interval fsyncs and maintenance run on threads of their own, so a long
  // retention pass never delays the fsyncs that bound the loss window.
  std::thread sync_thread_;
  std::thread maintenance_thread_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_H_
