// DatasetStore: everything the collector keeps for one data set, in its own
// directory:
//
//   DIR/dataset.pb   the Dataset resource (settings), written atomically
//   DIR/records/     segment log of records (lib/store), keyed by event time
//   DIR/outcomes/    segment log of outcomes reported later
//   DIR/state.pb     snapshot of the replay buffer and lifetime counters
//
// In memory it keeps an index of record ids (for deduplication and joining
// outcomes), the joined and pending outcomes, running statistics and the
// replay buffer; all are rebuilt from the logs when the store is opened.
//
// Thread-safe. Ingest calls from many threads share fsyncs (group commit in
// the segment log).
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_STORE_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_STORE_H_

#include <google/protobuf/repeated_ptr_field.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/collector.pb.h"
#include "lib/core/clock.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_log.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/record_validator.h"
#include "services/collector/replay_buffer.h"

namespace continuum::collector {

// What one ingest call did.
struct IngestResult {
  int64_t accepted = 0;
  int64_t duplicates = 0;
  int64_t stored_bytes = 0;
};

struct DatasetStoreOptions {
  store::FileSystem* fs = store::DefaultFileSystem();
  core::Clock* clock = core::Clock::Real();
  RecordLimits limits;
  uint64_t max_segment_bytes = 64 << 20;
  int64_t default_replay_size = 10000;
  int replay_snapshot_every_batches = 64;
  // Seed of the replay buffer's choices; 0 = random.
  uint64_t seed = 0;
  // Optional; not owned.
  CollectorMetrics* metrics = nullptr;
};

class DatasetStore {
 public:
  // Creates DIR and the data set described by `dataset` (defaults filled in,
  // name "datasets/<id>"), then opens it.
  static absl::StatusOr<std::unique_ptr<DatasetStore>> Create(
      const std::string& dir, const std::string& id, v1::Dataset dataset,
      const DatasetStoreOptions& options);

  // Opens an existing data set and recovers its state from disk.
  static absl::StatusOr<std::unique_ptr<DatasetStore>> Open(
      const std::string& dir, const DatasetStoreOptions& options);

  // Writes the state snapshot.
  ~DatasetStore();

  DatasetStore(const DatasetStore&) = delete;
  DatasetStore& operator=(const DatasetStore&) = delete;

  const std::string& id() const { return id_; }
  v1::Dataset dataset() const;

  // Replaces the mutable settings (the caller applied the field mask and
  // checked it); persists them.
  absl::StatusOr<v1::Dataset> UpdateSettings(const v1::Dataset& updated);

  // Validates and stores a batch, all or nothing. Returns once the records
  // are durable (fsync'd in DURABILITY_MODE_FSYNC_PER_BATCH). Records whose
  // id was stored within the dedup window are acknowledged, not stored.
  // INVALID_ARGUMENT names bad records; UNAVAILABLE if storage failed (then
  // nothing of the batch is visible or acknowledged).
  absl::StatusOr<IngestResult> Ingest(
      const google::protobuf::RepeatedPtrField<v1::Record>& records);

  // Stores an outcome durably and joins it to its record, or keeps it
  // pending for the grace period when the record is not known yet.
  absl::StatusOr<v1::OutcomeDisposition> ReportOutcome(
      const v1::ReportOutcomeRequest& request);

  // Streams the records of a window (see ScanRequest) in batches to `sink`,
  // which returns false to stop (the client went away).
  absl::Status Scan(const v1::ScanRequest& request,
                    const std::function<bool(v1::ScanResponse&)>& sink);

  // Streams a sample of the replay buffer to `sink`.
  absl::Status SampleReplay(
      const v1::SampleReplayRequest& request,
      const std::function<bool(v1::SampleReplayResponse&)>& sink);

  // Statistics of everything kept, or of `window` (computed by scanning).
  absl::StatusOr<v1::DatasetStats> Stats(const v1::TimeWindow& window);

  // For DURABILITY_MODE_INTERVAL: fsyncs what was written since the last
  // call. Cheap when nothing was written.
  absl::Status Sync();
  // Whether acknowledgements wait for fsync, and the interval otherwise.
  bool interval_durability() const;
  absl::Duration fsync_interval() const;

  // Retention by age and size, dropping outcomes that waited past their
  // grace period, and a state snapshot. Called periodically.
  absl::Status RunMaintenance();

  // Deletes every file of the data set. The store must not be used after.
  absl::Status Destroy(int64_t* deleted_records, int64_t* deleted_bytes);

 private:
  // Where a stored record is and what the index needs to know of it.
  struct RecordMeta {
    store::LogPosition position;
    int64_t ingest_micros = 0;
    int64_t event_micros = 0;
    // The label given at ingest; value_case() NOT_SET when none.
    v1::Label ingest_label;
  };

  struct PendingOutcome {
    v1::Label label;
    int64_t arrival_micros = 0;
  };

  // Running statistics (Welford for features).
  struct Aggregates {
    int64_t records = 0;
    int64_t labeled = 0;
    int64_t first_event_micros = 0;
    int64_t last_event_micros = 0;
    // Day (days since the epoch, UTC) -> {records, labelled records}.
    std::map<int64_t, std::pair<int64_t, int64_t>> days;
    std::vector<double> means;
    std::vector<double> m2;
    std::map<int32_t, int64_t> class_counts;

    void AddRecord(const v1::Record& record, const v1::Label* label);
    void AddLabel(int64_t event_micros, const v1::Label& label);
    void RemoveClass(const v1::Label& label);
    void FillStats(v1::DatasetStats* stats) const;
  };

  DatasetStore(std::string dir, v1::Dataset dataset,
               const DatasetStoreOptions& options);

  // (Re)builds every in-memory structure from the logs on disk.
  absl::Status Recover();
  // If a log could not undo a failed append (it is then in a failed state),
  // closes and reopens both logs and recovers, so the data set heals without
  // a restart. Takes rebuild_mu_ exclusively only in that case.
  absl::Status ReopenIfFailed() ABSL_LOCKS_EXCLUDED(rebuild_mu_);
  absl::Status CheckNotDestroyed() const
      ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_);
  absl::Status WriteSettings(const v1::Dataset& dataset);
  absl::Status WriteSnapshot();
  // Scans the whole records log into fresh aggregates (after retention).
  absl::StatusOr<Aggregates> ComputeAggregates(int64_t start_micros,
                                               int64_t end_micros);

  // Applies an outcome in memory; returns its disposition.
  v1::OutcomeDisposition ApplyOutcomeLocked(const std::string& id,
                                            const v1::Label& label,
                                            int64_t arrival_micros,
                                            bool offer_to_replay)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The label a record has now (outcome first, then its ingest label), or
  // nullptr. `ingest_label` must outlive the returned pointer (pass
  // record.label(), never a temporary).
  const v1::Label* EffectiveLabelLocked(const std::string& id,
                                        const v1::Label& ingest_label) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Copies the label `record` has now into *label; false if it has none.
  bool CurrentLabel(const v1::Record& record, v1::Label* label) const
      ABSL_LOCKS_EXCLUDED(mu_);
  void UpdateGaugesLocked() ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Appends the records of a decoded scan row to `batch`.
  void AppendRow(const v1::Record& record, const v1::Label* label,
                 bool include_attributes, v1::RecordBatch* batch) const;

  const std::string dir_;
  const std::string id_;
  const DatasetStoreOptions options_;
  std::unique_ptr<store::SegmentLog> records_log_;
  std::unique_ptr<store::SegmentLog> outcomes_log_;

  // Every operation holds this shared; rebuilding the aggregates after
  // retention and Destroy hold it exclusively, so no record is counted twice
  // and no call runs on deleted files.
  absl::Mutex rebuild_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // Set by Destroy; every operation checks it under rebuild_mu_.
  bool destroyed_ ABSL_GUARDED_BY(rebuild_mu_) = false;
  // Serializes snapshot writes so an older one never replaces a newer one.
  absl::Mutex snapshot_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  // State below is protected by mu_.
  mutable absl::Mutex mu_;
  v1::Dataset dataset_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, RecordMeta> records_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, v1::Label> outcomes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PendingOutcome> pending_
      ABSL_GUARDED_BY(mu_);
  // Ids of batches being written; a concurrent batch with the same id waits.
  absl::flat_hash_set<std::string> inflight_ ABSL_GUARDED_BY(mu_);
  Aggregates aggregates_ ABSL_GUARDED_BY(mu_);
  ReplayBuffer replay_ ABSL_GUARDED_BY(mu_);
  int64_t replay_high_water_micros_ ABSL_GUARDED_BY(mu_) = 0;
  int batches_since_snapshot_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t duplicate_records_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t dropped_outcomes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t retention_deleted_records_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t skipped_corrupt_records_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t truncated_tail_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_STORE_H_
