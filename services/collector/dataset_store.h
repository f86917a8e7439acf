// DatasetStore: everything the collector keeps for one data set, in its own
// directory (files and recovery: dataset_recovery.h):
//
//   DIR/dataset.pb   the Dataset resource (settings), written atomically
//   DIR/records/     segment log of records (lib/store), keyed by event time
//   DIR/outcomes/    segment log of outcomes reported later
//   DIR/state.pb     snapshot of the replay buffer and lifetime counters
//
// In memory it keeps a DatasetState (dataset_state.h): the index of record
// ids (for deduplication and joining outcomes), the joined and pending
// outcomes, running statistics and the replay buffer; all are rebuilt from
// the logs when the store is opened. DatasetStore itself does the locking,
// the write paths (ingest, outcomes), the read paths (scans, replay
// samples, statistics) and maintenance (retention, outcome expiry,
// snapshots), and heals a failed log without a restart (ReopenIfFailed).
//
// Thread safety: thread-safe. Ingest calls from many threads share fsyncs
// (group commit in the segment log): they encode and append outside the
// store's mutex. Locks, in order:
//   rebuild_mu_  every operation holds it shared; replacing the logs (a
//                reopen after a failure), rebuilding the statistics after
//                retention, and Destroy hold it exclusively, so no record is
//                counted twice and no call runs on closed or deleted files.
//                Scans and replay samples hold it per message only.
//   snapshot_mu_ serializes state.pb writes, so an older snapshot never
//                replaces a newer one.
//   mu_          the settings and the DatasetState (not thread-safe itself).
//
// Errors: INVALID_ARGUMENT for bad requests (naming the field or record);
// NOT_FOUND "data set ID was deleted" once Destroy ran; UNAVAILABLE when
// storage failed (a write: nothing of it was acknowledged, retry is safe;
// or the logs could not be reopened yet).
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_STORE_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_STORE_H_

#include <google/protobuf/repeated_ptr_field.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.pb.h"
#include "lib/core/clock.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_log.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/dataset_aggregates.h"
#include "services/collector/dataset_metrics.h"
#include "services/collector/dataset_recovery.h"
#include "services/collector/dataset_retention.h"
#include "services/collector/dataset_state.h"
#include "services/collector/record_scan.h"
#include "services/collector/record_validator.h"
#include "services/collector/replay_sample.h"

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
  // Encryption at rest of the records and outcomes logs (SegmentLogOptions::
  // keys); null = plaintext.
  std::shared_ptr<const store::KeyRing> keys;
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
  v1::Dataset dataset() const ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces the mutable settings (the caller applied the field mask and
  // checked it); persists them.
  absl::StatusOr<v1::Dataset> UpdateSettings(const v1::Dataset& updated)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Validates and stores a batch, all or nothing. Returns once the records
  // are durable (fsync'd in DURABILITY_MODE_FSYNC_PER_BATCH). Records whose
  // id was stored within the dedup window are acknowledged, not stored.
  // INVALID_ARGUMENT names bad records; UNAVAILABLE if storage failed (then
  // nothing of the batch is visible or acknowledged).
  absl::StatusOr<IngestResult> Ingest(
      const google::protobuf::RepeatedPtrField<v1::Record>& records)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

  // Counts a batch the service rejected before Ingest saw it (a rule of the
  // request's field options, lib/core/field_rules.h) in the rejected-records
  // metric, under the reason ValidateBatch gives its first problem, or
  // "invalid_request" when the schema checks find none. Stores nothing.
  void CountRejected(
      const google::protobuf::RepeatedPtrField<v1::Record>& records) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Stores an outcome durably and joins it to its record, or keeps it
  // pending for the grace period when the record is not known yet.
  absl::StatusOr<v1::OutcomeDisposition> ReportOutcome(
      const v1::ReportOutcomeRequest& request)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

  // Starts a scan of the records of a window (see record_scan.h for what it
  // returns and the request's errors); read it with ReadScan.
  absl::StatusOr<std::unique_ptr<RecordScan>> StartScan(
      const v1::ScanRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads the next message of `scan` into *response; returns whether it is
  // one to send (scan.done() says when the scan has ended). NOT_FOUND once
  // the data set was deleted; UNAVAILABLE on a read error or while the
  // storage is being reopened.
  absl::StatusOr<bool> ReadScan(RecordScan& scan, v1::ScanResponse* response)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

  // Starts a sample of the replay buffer (see replay_sample.h);
  // INVALID_ARGUMENT for a negative count. Read it with ReadReplaySample.
  absl::StatusOr<std::unique_ptr<ReplaySample>> StartReplaySample(
      const v1::SampleReplayRequest& request)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);
  // Reads the next message of `sample`, as ReadScan does.
  absl::StatusOr<bool> ReadReplaySample(ReplaySample& sample,
                                        v1::SampleReplayResponse* response)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

  // A whole scan or replay sample in one call (in-process callers, tests):
  // sends each message to `sink`, which returns false to stop.
  absl::Status Scan(const v1::ScanRequest& request,
                    const std::function<bool(v1::ScanResponse&)>& sink);
  absl::Status SampleReplay(
      const v1::SampleReplayRequest& request,
      const std::function<bool(v1::SampleReplayResponse&)>& sink);

  // Statistics of everything kept, or of `window` (computed by scanning).
  absl::StatusOr<v1::DatasetStats> Stats(const v1::TimeWindow& window)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

  // For DURABILITY_MODE_INTERVAL: fsyncs what was written since the last
  // call. Cheap when nothing was written.
  absl::Status Sync() ABSL_LOCKS_EXCLUDED(rebuild_mu_);
  // Whether acknowledgements wait for fsync, and the interval otherwise.
  bool interval_durability() const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Duration fsync_interval() const ABSL_LOCKS_EXCLUDED(mu_);

  // Retention by age and size, dropping outcomes that waited past their
  // grace period, and a state snapshot. Called periodically.
  absl::Status RunMaintenance() ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

  // Deletes every file of the data set. The store must not be used after.
  absl::Status Destroy(int64_t* deleted_records, int64_t* deleted_bytes)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);

 private:
  DatasetStore(std::string dir, v1::Dataset dataset,
               const DatasetStoreOptions& options);

  // (Re)opens the logs and rebuilds the state from them.
  absl::Status Recover() ABSL_EXCLUSIVE_LOCKS_REQUIRED(rebuild_mu_)
      ABSL_LOCKS_EXCLUDED(mu_);
  // If a log could not undo a failed append (it is then in a failed state),
  // closes and reopens both logs and recovers, so the data set heals without
  // a restart. Takes rebuild_mu_ exclusively only in that case.
  absl::Status ReopenIfFailed() ABSL_LOCKS_EXCLUDED(rebuild_mu_);
  absl::Status CheckNotDestroyed() const
      ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_);
  absl::Status WriteSettings(const v1::Dataset& dataset);
  absl::Status WriteSnapshot() ABSL_LOCKS_EXCLUDED(snapshot_mu_, mu_);
  // WriteSnapshot, logging a failure (the snapshot only saves work on
  // restart).
  void WriteSnapshotOrWarn() ABSL_LOCKS_EXCLUDED(snapshot_mu_, mu_);

  // Ingest, step by step.
  // Checks the batch; counts a rejection.
  absl::Status ValidateIngest(
      const v1::Dataset& settings,
      const google::protobuf::RepeatedPtrField<v1::Record>& records,
      absl::Time now) const;
  // Decides what to store: the indexes of the records not stored within
  // the dedup window and not repeated in the batch, marked in flight. Waits
  // while another call writes one of the batch's ids, so a retry racing its
  // original is never stored twice nor acknowledged before the original is
  // durable.
  std::vector<int> ReserveIds(
      const google::protobuf::RepeatedPtrField<v1::Record>& records,
      int64_t now_micros, int64_t dedup_micros, int64_t* duplicates)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Appends the entries (fsync'd if `sync`), timing the commit.
  absl::StatusOr<std::vector<store::LogPosition>> AppendRecords(
      const std::vector<store::LogEntry>& entries, bool sync)
      ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_);
  // Releases the ids in flight and, if the append worked, adds the stored
  // records to the state. Returns UNAVAILABLE if it failed.
  absl::Status CommitBatch(
      const google::protobuf::RepeatedPtrField<v1::Record>& records,
      const std::vector<int>& stored,
      const absl::StatusOr<std::vector<store::LogPosition>>& positions,
      int64_t now_micros, IngestResult* result, bool* snapshot_due)
      ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_) ABSL_LOCKS_EXCLUDED(mu_);

  // Maintenance, step by step.
  // Deletes the segments past `limits`; forgets their records.
  absl::Status ApplyRetention(const RetentionLimits& limits)
      ABSL_LOCKS_EXCLUDED(rebuild_mu_, mu_);
  // After retention deleted records: drops them from the state and
  // rebuilds the statistics from what is left.
  absl::Status ForgetDeletedRecords(const store::RetentionResult& deleted)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(rebuild_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the pending outcomes past their grace period and counts them.
  void DropExpiredOutcomes(int64_t now_micros) ABSL_LOCKS_EXCLUDED(mu_);

  // Scans [start_micros, end_micros) of the records log into fresh
  // statistics (records with their current labels).
  absl::StatusOr<DatasetAggregates> ComputeAggregates(int64_t start_micros,
                                                      int64_t end_micros)
      ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_) ABSL_LOCKS_EXCLUDED(mu_);
  // Copies the label `record` has now into *label; false if it has none.
  bool CurrentLabel(const v1::Record& record, v1::Label* label) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // Counts corrupt records a read skipped.
  void CountCorrupt(int64_t records) ABSL_LOCKS_EXCLUDED(mu_);
  void UpdateGaugesLocked() const ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string dir_;
  const std::string id_;
  const DatasetStoreOptions options_;
  const DatasetMetrics metrics_;

  // Every operation holds this shared; rebuilding the aggregates after
  // retention, reopening the logs and Destroy hold it exclusively.
  absl::Mutex rebuild_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  // The records and outcomes logs; null while they could not be reopened
  // after a failure, and after Destroy.
  DatasetLogs logs_ ABSL_GUARDED_BY(rebuild_mu_);
  // Set by Destroy; every operation checks it under rebuild_mu_.
  bool destroyed_ ABSL_GUARDED_BY(rebuild_mu_) = false;
  // Serializes snapshot writes so an older one never replaces a newer one.
  absl::Mutex snapshot_mu_ ABSL_ACQUIRED_BEFORE(mu_);

  // State below is protected by mu_.
  mutable absl::Mutex mu_;
  v1::Dataset dataset_ ABSL_GUARDED_BY(mu_);
  DatasetState state_ ABSL_GUARDED_BY(mu_);
  // Ids of batches being written; a concurrent batch with the same id waits.
  absl::flat_hash_set<std::string> inflight_ ABSL_GUARDED_BY(mu_);
  int batches_since_snapshot_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_STORE_H_
