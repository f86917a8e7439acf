#include "services/collector/dataset_store.h"

#include <chrono>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "continuum/internal/v1/collector_state.pb.h"
#include "lib/core/logging.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/collector/dataset_settings.h"
#include "services/collector/stored_record.h"
#include "spdlog/spdlog.h"

namespace continuum::collector {
namespace {

constexpr absl::string_view kDatasetPrefix = "datasets/";

// Reads a whole scan or replay sample opened as `cursor` with `read`, giving
// each message to send to `sink` until it returns false.
template <typename Response, typename Cursor, typename Read>
absl::Status ReadToSink(absl::StatusOr<std::unique_ptr<Cursor>> cursor,
                        Read read, const std::function<bool(Response&)>& sink) {
  if (!cursor.ok()) return cursor.status();
  Response response;
  while (!(*cursor)->done()) {
    absl::StatusOr<bool> send = read(**cursor, &response);
    if (!send.ok()) return send.status();
    if (*send && !sink(response)) break;
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// Opening

DatasetStore::DatasetStore(std::string dir, v1::Dataset dataset,
                           const DatasetStoreOptions& options)
    : dir_(std::move(dir)),
      id_(dataset.name().substr(kDatasetPrefix.size())),
      options_(options),
      metrics_(options.metrics, id_),
      dataset_(dataset),
      state_(dataset, SeedOrRandom(options.seed)) {}

absl::StatusOr<std::unique_ptr<DatasetStore>> DatasetStore::Create(
    const std::string& dir, const std::string& id, v1::Dataset dataset,
    const DatasetStoreOptions& options) {
  dataset.set_name(core::DatasetName(id));
  FillDefaults(&dataset, options.default_replay_size);
  *dataset.mutable_create_time() = core::ToProto(options.clock->Now());
  *dataset.mutable_update_time() = dataset.create_time();
  if (absl::Status s = options.fs->CreateDirs(dir); !s.ok()) return s;
  std::unique_ptr<DatasetStore> store(new DatasetStore(dir, dataset, options));
  if (absl::Status s = store->WriteSettings(dataset); !s.ok()) return s;
  {
    absl::MutexLock rebuild_lock(&store->rebuild_mu_);
    if (absl::Status s = store->Recover(); !s.ok()) return s;
  }
  return store;
}

absl::StatusOr<std::unique_ptr<DatasetStore>> DatasetStore::Open(
    const std::string& dir, const DatasetStoreOptions& options) {
  absl::StatusOr<std::string> bytes =
      options.fs->ReadFileToString(DatasetSettingsPath(dir));
  if (!bytes.ok()) return bytes.status();
  v1::Dataset dataset;
  if (!dataset.ParseFromString(*bytes) ||
      !absl::StartsWith(dataset.name(), kDatasetPrefix)) {
    return absl::DataLossError(
        absl::StrCat(dir, "/dataset.pb is not a valid data set description"));
  }
  std::unique_ptr<DatasetStore> store(new DatasetStore(dir, dataset, options));
  {
    absl::MutexLock rebuild_lock(&store->rebuild_mu_);
    if (absl::Status s = store->Recover(); !s.ok()) return s;
  }
  return store;
}

absl::Status DatasetStore::Recover() {
  absl::StatusOr<DatasetLogs> logs =
      OpenDatasetLogs(options_.fs, dir_, options_.max_segment_bytes,
                      options_.keys);
  if (!logs.ok()) return logs.status();
  logs_ = *std::move(logs);
  const internal::v1::DatasetStateSnapshot snapshot =
      ReadStateSnapshot(options_.fs, dir_, id_);

  absl::MutexLock lock(&mu_);
  // Recover also runs again after a log failure (ReopenIfFailed): the state
  // starts over.
  const int64_t now = absl::ToUnixMicros(options_.clock->Now());
  const int64_t grace = absl::ToInt64Microseconds(OutcomeGracePeriod(dataset_));
  if (absl::Status s = RebuildState(logs_, snapshot, now, grace, &state_);
      !s.ok()) {
    return s;
  }
  const DatasetCounters& counters = state_.counters();
  if (counters.truncated_tail_bytes > 0 ||
      counters.skipped_corrupt_records > 0) {
    spdlog::warn(
        "data set {}: recovery truncated {} bytes of torn tail and skipped {} "
        "corrupt records",
        id_, counters.truncated_tail_bytes, counters.skipped_corrupt_records);
  }
  metrics_.RecoveredWithCorrupt(counters.skipped_corrupt_records);
  UpdateGaugesLocked();
  spdlog::info(
      "data set {}: {} records, {} outcomes joined, {} pending, "
      "replay buffer {}",
      id_, state_.index().records(), state_.index().joined(),
      state_.index().pending(), state_.replay().size());
  return absl::OkStatus();
}

DatasetStore::~DatasetStore() {
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (destroyed_ || logs_.records == nullptr) return;
  }
  WriteSnapshotOrWarn();
}

v1::Dataset DatasetStore::dataset() const {
  absl::MutexLock lock(&mu_);
  return dataset_;
}

absl::Status DatasetStore::WriteSettings(const v1::Dataset& dataset) {
  return options_.fs->WriteFileAtomically(DatasetSettingsPath(dir_),
                                          dataset.SerializeAsString());
}

absl::StatusOr<v1::Dataset> DatasetStore::UpdateSettings(
    const v1::Dataset& updated) {
  v1::Dataset next = updated;
  FillDefaults(&next, options_.default_replay_size);
  *next.mutable_update_time() = core::ToProto(options_.clock->Now());
  if (absl::Status s = WriteSettings(next); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  dataset_ = next;
  return next;
}

absl::Status DatasetStore::CheckNotDestroyed() const {
  if (destroyed_) {
    return absl::NotFoundError(absl::StrCat("data set ", id_, " was deleted"));
  }
  if (logs_.records == nullptr || logs_.outcomes == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "data set ", id_,
        ": its storage failed and could not be reopened yet; the next call "
        "tries again"));
  }
  return absl::OkStatus();
}

absl::Status DatasetStore::WriteSnapshot() {
  absl::MutexLock snapshot_lock(&snapshot_mu_);
  internal::v1::DatasetStateSnapshot snapshot;
  {
    absl::MutexLock lock(&mu_);
    state_.SaveTo(&snapshot);
    batches_since_snapshot_ = 0;
  }
  return options_.fs->WriteFileAtomically(StateSnapshotPath(dir_),
                                          snapshot.SerializeAsString());
}

void DatasetStore::WriteSnapshotOrWarn() {
  if (absl::Status s = WriteSnapshot(); !s.ok()) {
    spdlog::warn("data set {}: cannot write state snapshot: {}", id_,
                 s.message());
  }
}

absl::Status DatasetStore::ReopenIfFailed() {
  auto healthy = [this]() ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_) {
    return destroyed_ ||
           (logs_.records != nullptr && logs_.outcomes != nullptr &&
            logs_.records->Health().ok() && logs_.outcomes->Health().ok());
  };
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (healthy()) return absl::OkStatus();
  }
  absl::MutexLock rebuild_lock(&rebuild_mu_);
  if (healthy()) return absl::OkStatus();
  spdlog::warn("data set {}: storage is in a failed state; reopening it", id_);
  if (logs_.records != nullptr && logs_.outcomes != nullptr) {
    (void)WriteSnapshot();
  }
  if (logs_.records != nullptr) (void)logs_.records->Close();
  if (logs_.outcomes != nullptr) (void)logs_.outcomes->Close();
  logs_ = DatasetLogs();
  // On failure the logs stay closed: every call answers UNAVAILABLE (see
  // CheckNotDestroyed) and the next Ingest or ReportOutcome tries again.
  if (absl::Status s = Recover(); !s.ok()) {
    logs_ = DatasetLogs();
    return absl::UnavailableError(absl::StrCat(
        "data set ", id_,
        ": storage failed and could not be reopened: ", s.message()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Writing

absl::StatusOr<IngestResult> DatasetStore::Ingest(
    const google::protobuf::RepeatedPtrField<v1::Record>& records) {
  if (absl::Status s = ReopenIfFailed(); !s.ok()) return s;
  const absl::Time now = options_.clock->Now();
  const v1::Dataset settings = dataset();
  if (absl::Status s = ValidateIngest(settings, records, now); !s.ok()) {
    return s;
  }
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  const int64_t now_micros = absl::ToUnixMicros(now);
  IngestResult result;
  const std::vector<int> to_store = ReserveIds(
      records, now_micros, absl::ToInt64Microseconds(DedupWindow(settings)),
      &result.duplicates);

  // Encode and append outside the lock so concurrent batches share fsyncs.
  const std::string stamp = IngestStamp(now_micros);
  std::vector<store::LogEntry> entries;
  entries.reserve(to_store.size());
  for (int i : to_store) {
    entries.push_back(EncodeStoredRecord(records[i], stamp));
    result.stored_bytes += static_cast<int64_t>(entries.back().payload.size());
  }
  const absl::StatusOr<std::vector<store::LogPosition>> positions =
      AppendRecords(entries, !IntervalDurability(settings));

  bool snapshot_due = false;
  if (absl::Status s = CommitBatch(records, to_store, positions, now_micros,
                                   &result, &snapshot_due);
      !s.ok()) {
    return s;
  }
  metrics_.Ingested(result.accepted, result.stored_bytes, result.duplicates);
  // The snapshot only saves replay work on restart; the records are safe.
  if (snapshot_due) WriteSnapshotOrWarn();
  return result;
}

absl::Status DatasetStore::ValidateIngest(
    const v1::Dataset& settings,
    const google::protobuf::RepeatedPtrField<v1::Record>& records,
    absl::Time now) const {
  std::string reason;
  absl::Status valid = ValidateBatch(settings.schema(), id_, records,
                                     options_.limits, now, &reason);
  if (!valid.ok()) metrics_.Rejected(reason, records.size());
  return valid;
}

void DatasetStore::CountRejected(
    const google::protobuf::RepeatedPtrField<v1::Record>& records) const {
  std::string reason = "invalid_request";
  (void)ValidateBatch(dataset().schema(), id_, records, options_.limits,
                      options_.clock->Now(), &reason);
  metrics_.Rejected(reason, records.size());
}

std::vector<int> DatasetStore::ReserveIds(
    const google::protobuf::RepeatedPtrField<v1::Record>& records,
    int64_t now_micros, int64_t dedup_micros, int64_t* duplicates) {
  std::vector<int> to_store;
  absl::MutexLock lock(&mu_);
  auto none_inflight = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const v1::Record& r : records) {
      if (inflight_.contains(r.id())) return false;
    }
    return true;
  };
  mu_.Await(absl::Condition(&none_inflight));
  absl::flat_hash_set<absl::string_view> in_batch;
  for (int i = 0; i < records.size(); ++i) {
    const std::string& record_id = records[i].id();
    if (state_.IngestedWithin(record_id, now_micros, dedup_micros) ||
        !in_batch.insert(record_id).second) {
      ++*duplicates;
      continue;
    }
    to_store.push_back(i);
    inflight_.insert(record_id);
  }
  return to_store;
}

absl::StatusOr<std::vector<store::LogPosition>> DatasetStore::AppendRecords(
    const std::vector<store::LogEntry>& entries, bool sync) {
  if (entries.empty()) return std::vector<store::LogPosition>();
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<std::vector<store::LogPosition>> positions =
      logs_.records->Append(entries, sync);
  if (positions.ok()) {
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    metrics_.Committed(took.count());
  }
  return positions;
}

absl::Status DatasetStore::CommitBatch(
    const google::protobuf::RepeatedPtrField<v1::Record>& records,
    const std::vector<int>& stored,
    const absl::StatusOr<std::vector<store::LogPosition>>& positions,
    int64_t now_micros, IngestResult* result, bool* snapshot_due) {
  absl::MutexLock lock(&mu_);
  for (int i : stored) inflight_.erase(records[i].id());
  if (!positions.ok()) {
    metrics_.Rejected("storage_error", records.size());
    return absl::UnavailableError(
        absl::StrCat("data set ", id_,
                     ": storing the batch failed, nothing of it was "
                     "acknowledged (retry is safe): ",
                     positions.status().message()));
  }
  for (size_t k = 0; k < stored.size(); ++k) {
    state_.AddIngested(records[stored[k]], (*positions)[k], now_micros);
  }
  state_.FinishBatch(now_micros, result->duplicates);
  result->accepted = static_cast<int64_t>(stored.size());
  *snapshot_due =
      ++batches_since_snapshot_ >= options_.replay_snapshot_every_batches;
  UpdateGaugesLocked();
  return absl::OkStatus();
}

absl::StatusOr<v1::OutcomeDisposition> DatasetStore::ReportOutcome(
    const v1::ReportOutcomeRequest& request) {
  const v1::Dataset settings = dataset();
  if (request.id().empty()) {
    return absl::InvalidArgumentError("id is missing");
  }
  if (!request.has_label()) {
    return absl::InvalidArgumentError("label is missing");
  }
  if (absl::Status s = ValidateLabel(settings.schema(), request.label(), "");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReopenIfFailed(); !s.ok()) return s;
  v1::ReportOutcomeRequest stored = request;
  stored.clear_dataset();
  if (!stored.has_outcome_time()) {
    *stored.mutable_outcome_time() = core::ToProto(options_.clock->Now());
  }
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  // Durable first: an acknowledged outcome survives a crash.
  store::LogEntry entry;
  entry.event_time_micros = core::ToUnixMicros(stored.outcome_time());
  entry.payload = stored.SerializeAsString();
  absl::StatusOr<std::vector<store::LogPosition>> written =
      logs_.outcomes->Append({entry}, !IntervalDurability(settings));
  if (!written.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "data set ", id_, ": storing the outcome failed (retry is safe): ",
        written.status().message()));
  }
  v1::OutcomeDisposition disposition;
  {
    absl::MutexLock lock(&mu_);
    disposition = state_.ApplyOutcome(request.id(), request.label(),
                                      absl::ToUnixMicros(options_.clock->Now()),
                                      /*offer_to_replay=*/true);
  }
  metrics_.Outcome(disposition);
  return disposition;
}

// ---------------------------------------------------------------------------
// Reading

bool DatasetStore::CurrentLabel(const v1::Record& record,
                                v1::Label* label) const {
  absl::ReaderMutexLock lock(&mu_);
  const v1::Label* effective =
      state_.EffectiveLabel(record.id(), record.label());
  if (effective == nullptr) return false;
  *label = *effective;
  return true;
}

void DatasetStore::CountCorrupt(int64_t records) {
  if (records <= 0) return;
  absl::MutexLock lock(&mu_);
  state_.counters().skipped_corrupt_records += records;
  metrics_.CorruptSkipped(records);
}

absl::StatusOr<std::unique_ptr<RecordScan>> DatasetStore::StartScan(
    const v1::ScanRequest& request) {
  return RecordScan::Create(request, dataset().schema());
}

absl::StatusOr<bool> DatasetStore::ReadScan(RecordScan& scan,
                                            v1::ScanResponse* response) {
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  absl::StatusOr<bool> rows = scan.Next(
      *logs_.records,
      [this](const v1::Record& r, v1::Label* l) { return CurrentLabel(r, l); },
      response);
  CountCorrupt(scan.TakeSkippedCorrupt());
  if (rows.ok() && *rows) metrics_.Scanned(response->batch().num_rows());
  return rows;
}

absl::StatusOr<std::unique_ptr<ReplaySample>> DatasetStore::StartReplaySample(
    const v1::SampleReplayRequest& request) {
  if (absl::Status s = ReplaySample::Validate(request); !s.ok()) return s;
  v1::DatasetSchema schema;
  std::vector<store::LogPosition> positions;
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    schema = dataset_.schema();
    positions = state_.replay().Positions();
  }
  return std::make_unique<ReplaySample>(request, schema, id_,
                                        std::move(positions));
}

absl::StatusOr<bool> DatasetStore::ReadReplaySample(
    ReplaySample& sample, v1::SampleReplayResponse* response) {
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  const bool was_done = sample.done();
  const bool send = sample.Next(
      *logs_.records,
      [this](const v1::Record& r, v1::Label* l) { return CurrentLabel(r, l); },
      response);
  if (!was_done && sample.done()) metrics_.Scanned(sample.returned());
  return send;
}

absl::Status DatasetStore::Scan(
    const v1::ScanRequest& request,
    const std::function<bool(v1::ScanResponse&)>& sink) {
  return ReadToSink<v1::ScanResponse>(
      StartScan(request),
      [this](RecordScan& scan, v1::ScanResponse* response) {
        return ReadScan(scan, response);
      },
      sink);
}

absl::Status DatasetStore::SampleReplay(
    const v1::SampleReplayRequest& request,
    const std::function<bool(v1::SampleReplayResponse&)>& sink) {
  return ReadToSink<v1::SampleReplayResponse>(
      StartReplaySample(request),
      [this](ReplaySample& sample, v1::SampleReplayResponse* response) {
        return ReadReplaySample(sample, response);
      },
      sink);
}

absl::StatusOr<DatasetAggregates> DatasetStore::ComputeAggregates(
    int64_t start_micros, int64_t end_micros) {
  DatasetAggregates aggregates;
  store::ScanStats stats;
  absl::Status s = logs_.records->Scan(
      start_micros, end_micros, nullptr,
      [&](const store::LogPosition&, int64_t, absl::string_view payload) {
        v1::Record record;
        if (!DecodeStoredRecord(payload, &record)) return true;
        absl::ReaderMutexLock lock(&mu_);
        aggregates.AddRecord(
            record, state_.EffectiveLabel(record.id(), record.label()));
        return true;
      },
      &stats);
  if (!s.ok()) return s;
  return aggregates;
}

absl::StatusOr<v1::DatasetStats> DatasetStore::Stats(
    const v1::TimeWindow& window) {
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  v1::DatasetStats stats;
  const bool windowed = window.has_start_time() || window.has_end_time();
  if (windowed) {
    absl::StatusOr<WindowMicros> micros = ParseWindow(window);
    if (!micros.ok()) return micros.status();
    absl::StatusOr<DatasetAggregates> aggregates =
        ComputeAggregates(micros->start, micros->end);
    if (!aggregates.ok()) return aggregates.status();
    aggregates->FillStats(&stats);
  }
  absl::MutexLock lock(&mu_);
  if (!windowed) state_.aggregates().FillStats(&stats);
  if (stats.feature_means_size() == 0) {
    for (int f = 0; f < dataset_.schema().feature_dim(); ++f) {
      stats.add_feature_means(0);
      stats.add_feature_variances(0);
    }
  }
  stats.set_stored_bytes(static_cast<int64_t>(logs_.records->TotalBytes() +
                                              logs_.outcomes->TotalBytes()));
  stats.set_segment_count(
      static_cast<int64_t>(logs_.records->Segments().size()));
  state_.FillCounters(&stats);
  return stats;
}

// ---------------------------------------------------------------------------
// Maintenance

bool DatasetStore::interval_durability() const {
  absl::MutexLock lock(&mu_);
  return IntervalDurability(dataset_);
}

absl::Duration DatasetStore::fsync_interval() const {
  absl::MutexLock lock(&mu_);
  return FsyncInterval(dataset_);
}

absl::Status DatasetStore::Sync() {
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (!CheckNotDestroyed().ok()) return absl::OkStatus();
  if (absl::Status s = logs_.records->Sync(); !s.ok()) return s;
  return logs_.outcomes->Sync();
}

void DatasetStore::UpdateGaugesLocked() const {
  metrics_.SetStorage(static_cast<int64_t>(logs_.records->Segments().size()),
                      static_cast<int64_t>(logs_.records->TotalBytes() +
                                           logs_.outcomes->TotalBytes()));
}

absl::Status DatasetStore::RunMaintenance() {
  const int64_t now = absl::ToUnixMicros(options_.clock->Now());
  const RetentionLimits limits = RetentionLimitsOf(dataset(), now);
  // Retention runs exclusively (no ingest while the aggregates are rebuilt),
  // so it takes the lock only when some segment is due.
  bool due = false;
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (!CheckNotDestroyed().ok()) return absl::OkStatus();
    due = RetentionDue(limits, *logs_.records, *logs_.outcomes);
  }
  if (due) {
    if (absl::Status s = ApplyRetention(limits); !s.ok()) return s;
  }
  DropExpiredOutcomes(now);
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (!CheckNotDestroyed().ok()) return absl::OkStatus();
  }
  return WriteSnapshot();
}

absl::Status DatasetStore::ApplyRetention(const RetentionLimits& limits) {
  absl::MutexLock rebuild_lock(&rebuild_mu_);
  if (!CheckNotDestroyed().ok()) return absl::OkStatus();
  absl::StatusOr<store::RetentionResult> deleted =
      logs_.records->ApplyRetention(limits.cutoff_micros, limits.max_bytes);
  if (!deleted.ok()) return deleted.status();
  if (deleted->deleted_records > 0) {
    if (absl::Status s = ForgetDeletedRecords(*deleted); !s.ok()) return s;
  }
  return logs_.outcomes->ApplyRetention(limits.cutoff_micros, 0).status();
}

absl::Status DatasetStore::ForgetDeletedRecords(
    const store::RetentionResult& deleted) {
  const absl::flat_hash_set<int64_t> live = SegmentIds(*logs_.records);
  {
    absl::MutexLock lock(&mu_);
    state_.ForgetSegmentsNotIn(live, deleted.deleted_records);
  }
  absl::StatusOr<DatasetAggregates> rebuilt = ComputeAggregates(0, 0);
  if (!rebuilt.ok()) return rebuilt.status();
  {
    absl::MutexLock lock(&mu_);
    state_.set_aggregates(*std::move(rebuilt));
    UpdateGaugesLocked();
  }
  spdlog::info(
      "data set {}: retention deleted {} segments ({} records, {} bytes)", id_,
      deleted.deleted_segments, deleted.deleted_records, deleted.deleted_bytes);
  metrics_.RetentionDeleted(deleted.deleted_records);
  return absl::OkStatus();
}

void DatasetStore::DropExpiredOutcomes(int64_t now_micros) {
  int64_t dropped = 0;
  {
    absl::MutexLock lock(&mu_);
    dropped = state_.ExpirePending(
        now_micros, absl::ToInt64Microseconds(OutcomeGracePeriod(dataset_)));
    state_.counters().dropped_outcomes += dropped;
  }
  if (dropped > 0) {
    spdlog::info("data set {}: dropped {} outcomes whose record never came",
                 id_, dropped);
    metrics_.OutcomesDropped(dropped);
  }
}

absl::Status DatasetStore::Destroy(int64_t* deleted_records,
                                   int64_t* deleted_bytes) {
  absl::MutexLock rebuild_lock(&rebuild_mu_);
  if (destroyed_) {
    return absl::NotFoundError(absl::StrCat("data set ", id_, " was deleted"));
  }
  destroyed_ = true;
  {
    absl::MutexLock lock(&mu_);
    *deleted_records = state_.index().records();
    *deleted_bytes = static_cast<int64_t>(
        (logs_.records ? logs_.records->TotalBytes() : 0) +
        (logs_.outcomes ? logs_.outcomes->TotalBytes() : 0));
  }
  if (logs_.records != nullptr) (void)logs_.records->Close();
  if (logs_.outcomes != nullptr) (void)logs_.outcomes->Close();
  logs_ = DatasetLogs();
  // Renamed first, then deleted: a crash in between leaves a tombstone the
  // next start removes (Collector::Open), never a half-deleted data set that
  // would come back.
  const std::string tombstone =
      absl::StrCat(store::DirName(dir_), "/.deleted-", id_, "-",
                   absl::ToUnixNanos(options_.clock->Now()));
  if (absl::Status s = options_.fs->RenameFile(dir_, tombstone); !s.ok()) {
    return s;
  }
  (void)options_.fs->SyncDir(store::DirName(dir_));
  return options_.fs->DeleteRecursively(tombstone);
}

}  // namespace continuum::collector
