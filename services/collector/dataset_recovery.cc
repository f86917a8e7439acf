#include "services/collector/dataset_recovery.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/logging.h"
#include "lib/core/proto_time.h"
#include "services/collector/stored_record.h"
#include "spdlog/spdlog.h"

namespace continuum::collector {
namespace {

// Adds every record of `log` to `state`; counts corrupt ones in *corrupt.
absl::Status ReadRecords(store::SegmentLog& log, int64_t replayed_until,
                         DatasetState* state, int64_t* corrupt) {
  store::ScanStats stats;
  absl::Status s = log.Scan(
      0, 0, nullptr,
      [&](const store::LogPosition& pos, int64_t, absl::string_view payload) {
        v1::Record record;
        if (!DecodeStoredRecord(payload, &record)) {
          ++*corrupt;
          return true;
        }
        // A record is never stored twice; AddRecovered keeps the first.
        state->AddRecovered(record, pos, replayed_until);
        return true;
      },
      &stats);
  *corrupt += stats.skipped_corrupt_records;
  return s;
}

// Applies every outcome of `log` to `state`, in the order reported.
absl::Status ReadOutcomes(store::SegmentLog& log, DatasetState* state,
                          int64_t* corrupt) {
  store::ScanStats stats;
  absl::Status s = log.Scan(
      0, 0, nullptr,
      [&](const store::LogPosition&, int64_t, absl::string_view payload) {
        v1::ReportOutcomeRequest outcome;
        if (!outcome.ParseFromArray(payload.data(),
                                    static_cast<int>(payload.size()))) {
          ++*corrupt;
          return true;
        }
        state->ApplyOutcome(outcome.id(), outcome.label(),
                            core::ToUnixMicros(outcome.outcome_time()),
                            /*offer_to_replay=*/false);
        return true;
      },
      &stats);
  *corrupt += stats.skipped_corrupt_records;
  return s;
}

}  // namespace

absl::StatusOr<DatasetLogs> OpenDatasetLogs(
    store::FileSystem* fs, const std::string& dir, uint64_t max_segment_bytes,
    std::shared_ptr<const store::KeyRing> keys) {
  store::SegmentLogOptions options;
  options.fs = fs;
  options.max_segment_bytes = max_segment_bytes;
  options.keys = std::move(keys);
  DatasetLogs logs;
  for (auto [name, log] : {std::pair{"records", &logs.records},
                           std::pair{"outcomes", &logs.outcomes}}) {
    options.dir = absl::StrCat(dir, "/", name);
    store::RecoveryReport report;
    absl::StatusOr<std::unique_ptr<store::SegmentLog>> opened =
        store::SegmentLog::Open(options, &report);
    if (!opened.ok()) return opened.status();
    *log = *std::move(opened);
    logs.truncated_tail_bytes += report.truncated_tail_bytes;
    logs.skipped_corrupt_records += report.skipped_corrupt_records;
  }
  return logs;
}

std::string DatasetSettingsPath(absl::string_view dir) {
  return absl::StrCat(dir, "/dataset.pb");
}

std::string StateSnapshotPath(absl::string_view dir) {
  return absl::StrCat(dir, "/state.pb");
}

internal::v1::DatasetStateSnapshot ReadStateSnapshot(
    store::FileSystem* fs, const std::string& dir,
    absl::string_view dataset_id) {
  internal::v1::DatasetStateSnapshot snapshot;
  absl::StatusOr<std::string> bytes =
      fs->ReadFileToString(StateSnapshotPath(dir));
  if (bytes.ok() && !snapshot.ParseFromString(*bytes)) {
    spdlog::warn(
        "data set {}: state.pb is corrupt; rebuilding the replay "
        "buffer from the log",
        dataset_id);
    snapshot.Clear();
  }
  return snapshot;
}

absl::Status RebuildState(const DatasetLogs& logs,
                          const internal::v1::DatasetStateSnapshot& snapshot,
                          int64_t now_micros, int64_t grace_micros,
                          DatasetState* state) {
  state->Reset(snapshot);
  DatasetCounters& counters = state->counters();
  counters.truncated_tail_bytes = logs.truncated_tail_bytes;
  counters.skipped_corrupt_records = logs.skipped_corrupt_records;
  // Records: the id index, statistics, and the replay offers the snapshot
  // had not seen yet.
  if (absl::Status s =
          ReadRecords(*logs.records, snapshot.replay_high_water_ingest_micros(),
                      state, &counters.skipped_corrupt_records);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadOutcomes(*logs.outcomes, state,
                                    &counters.skipped_corrupt_records);
      !s.ok()) {
    return s;
  }
  // Outcomes that already waited past their grace period were counted as
  // dropped before the restart (or will not be again).
  state->ExpirePending(now_micros, grace_micros);
  return absl::OkStatus();
}

}  // namespace continuum::collector
