// Recovery of a data set: opening its two segment logs and rebuilding its
// in-memory DatasetState from them and the state snapshot, at start and
// after a log failure (DatasetStore::ReopenIfFailed).
//
// Files, under the data set's directory DIR:
//   DIR/records/   segment log of stored records (stored_record.h)
//   DIR/outcomes/  segment log of reported outcomes (ReportOutcomeRequest,
//                  without `dataset`, outcome_time always set)
//   DIR/state.pb   internal.v1.DatasetStateSnapshot: the replay buffer, the
//                  lifetime counters and the ingest time up to which the
//                  buffer has seen the records; optional (missing or corrupt:
//                  the buffer is rebuilt from the log, the counters restart)
//
// What recovery rebuilds: the record index and statistics from every record
// (a torn tail or a corrupt record is skipped and counted, never fatal), the
// replay offers of records ingested after the snapshot, then the outcomes in
// the order they were reported (joins; outcomes already past their grace
// period are forgotten, not counted as dropped again).
//
// Thread safety: the functions are thread-safe; RebuildState writes `state`,
// which the caller holds exclusively (DatasetStore: under its mutex, with
// the store's rebuild lock held exclusively or before it is shared).
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_RECOVERY_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_RECOVERY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/internal/v1/collector_state.pb.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_log.h"
#include "services/collector/dataset_state.h"

namespace continuum::collector {

// The two logs of a data set, open.
struct DatasetLogs {
  std::unique_ptr<store::SegmentLog> records;
  std::unique_ptr<store::SegmentLog> outcomes;
  // What opening them repaired, both logs together.
  int64_t truncated_tail_bytes = 0;
  int64_t skipped_corrupt_records = 0;
};

// Opens (and recovers, see segment_log.h) DIR/records and DIR/outcomes,
// sealing new records with `keys` when not null. Errors of SegmentLog::Open
// (FAILED_PRECONDITION when another process has a log open, the file
// system's errors otherwise).
absl::StatusOr<DatasetLogs> OpenDatasetLogs(
    store::FileSystem* fs, const std::string& dir, uint64_t max_segment_bytes,
    std::shared_ptr<const store::KeyRing> keys = nullptr);

// The paths of the settings (dataset.pb) and of the state snapshot
// (state.pb) of the data set in `dir`.
std::string DatasetSettingsPath(absl::string_view dir);
std::string StateSnapshotPath(absl::string_view dir);

// Reads DIR/state.pb. Returns an empty snapshot when it is missing or
// unreadable, and when it is corrupt (then logs a warning naming
// `dataset_id`).
internal::v1::DatasetStateSnapshot ReadStateSnapshot(
    store::FileSystem* fs, const std::string& dir,
    absl::string_view dataset_id);

// Rebuilds `state` from `snapshot` and the logs (see the file comment), at
// `now_micros` with outcomes kept pending for `grace_micros`. Sets the
// recovery counters (truncated tail bytes; corrupt records found by opening
// and by reading). UNAVAILABLE on a read error (`state` is then partial).
absl::Status RebuildState(const DatasetLogs& logs,
                          const internal::v1::DatasetStateSnapshot& snapshot,
                          int64_t now_micros, int64_t grace_micros,
                          DatasetState* state);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_RECOVERY_H_
