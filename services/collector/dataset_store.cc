#include "services/collector/dataset_store.h"

#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "continuum/internal/v1/collector_state.pb.h"
#include "lib/core/filter.h"
#include "lib/core/logging.h"
#include "lib/core/metrics.h"
#include "spdlog/spdlog.h"

namespace continuum::collector {
namespace {

constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000000;
constexpr int kDefaultBatchRows = 1024;
// Scan and replay messages stay below this many bytes of features.
constexpr int64_t kMaxBatchFeatureBytes = 16 << 20;

int64_t ToMicros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

google::protobuf::Timestamp FromMicros(int64_t micros) {
  return google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(micros);
}

int64_t ToMicros(absl::Time t) { return absl::ToUnixMicros(t); }

int64_t DurationMicros(const google::protobuf::Duration& d,
                       absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0)
    return absl::ToInt64Microseconds(fallback);
  return d.seconds() * 1000000 + d.nanos() / 1000;
}

int64_t DayOf(int64_t micros) {
  return micros >= 0 ? micros / kMicrosPerDay
                     : -((-micros + kMicrosPerDay - 1) / kMicrosPerDay);
}

std::string DayString(int64_t day) {
  return absl::FormatTime("%Y-%m-%d", absl::FromUnixSeconds(day * 86400),
                          absl::UTCTimeZone());
}

bool SameLabel(const v1::Label& a, const v1::Label& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

bool HasLabel(const v1::Label& label) {
  return label.value_case() != v1::Label::VALUE_NOT_SET;
}

// Fills defaults of unset settings.
void FillDefaults(v1::Dataset* d, int64_t default_replay_size) {
  if (!d->retention().has_max_age()) {
    d->mutable_retention()->mutable_max_age()->set_seconds(60 * 86400);
  }
  if (d->replay().size() == 0)
    d->mutable_replay()->set_size(default_replay_size);
  if (d->durability() == v1::DURABILITY_MODE_UNSPECIFIED) {
    d->set_durability(v1::DURABILITY_MODE_FSYNC_PER_BATCH);
  }
  if (!d->has_fsync_interval()) {
    d->mutable_fsync_interval()->set_nanos(100'000'000);
  }
  if (!d->has_dedup_window()) d->mutable_dedup_window()->set_seconds(7 * 86400);
  if (!d->has_outcome_grace_period()) {
    d->mutable_outcome_grace_period()->set_seconds(86400);
  }
}

uint64_t SeedOrRandom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace

// ---------------------------------------------------------------------------
// Aggregates

void DatasetStore::Aggregates::AddRecord(const v1::Record& record,
                                         const v1::Label* label) {
  int64_t event = ToMicros(record.event_time());
  if (records == 0 || event < first_event_micros) first_event_micros = event;
  if (records == 0 || event > last_event_micros) last_event_micros = event;
  ++records;
  ++days[DayOf(event)].first;
  if (means.size() != static_cast<size_t>(record.features_size())) {
    means.assign(record.features_size(), 0.0);
    m2.assign(record.features_size(), 0.0);
  }
  // Welford's online update of mean and sum of squared deviations.
  const double n = static_cast<double>(records);
  for (int f = 0; f < record.features_size(); ++f) {
    double x = record.features(f);
    double delta = x - means[f];
    means[f] += delta / n;
    m2[f] += delta * (x - means[f]);
  }
  if (label != nullptr) AddLabel(event, *label);
}

void DatasetStore::Aggregates::AddLabel(int64_t event_micros,
                                        const v1::Label& label) {
  ++labeled;
  ++days[DayOf(event_micros)].second;
  if (label.value_case() == v1::Label::kClassIndex) {
    ++class_counts[label.class_index()];
  }
}

void DatasetStore::Aggregates::RemoveClass(const v1::Label& label) {
  if (label.value_case() == v1::Label::kClassIndex) {
    --class_counts[label.class_index()];
  }
}

void DatasetStore::Aggregates::FillStats(v1::DatasetStats* stats) const {
  stats->set_record_count(records);
  stats->set_labeled_count(labeled);
  stats->set_labeled_fraction(records == 0 ? 0.0
                                           : static_cast<double>(labeled) /
                                                 static_cast<double>(records));
  if (records > 0) {
    *stats->mutable_first_event_time() = FromMicros(first_event_micros);
    *stats->mutable_last_event_time() = FromMicros(last_event_micros);
  }
  for (const auto& [day, counts] : days) {
    v1::DailyCount* daily = stats->add_daily_counts();
    daily->set_date(DayString(day));
    daily->set_records(counts.first);
    daily->set_labeled_records(counts.second);
  }
  for (size_t f = 0; f < means.size(); ++f) {
    stats->add_feature_means(means[f]);
    stats->add_feature_variances(records > 0 ? m2[f] / records : 0.0);
  }
  for (const auto& [c, n] : class_counts) {
    if (n > 0) (*stats->mutable_class_counts())[c] = n;
  }
}

// ---------------------------------------------------------------------------
// Opening

DatasetStore::DatasetStore(std::string dir, v1::Dataset dataset,
                           const DatasetStoreOptions& options)
    : dir_(std::move(dir)),
      id_(dataset.name().substr(std::string("datasets/").size())),
      options_(options),
      dataset_(dataset),
      replay_(dataset.replay().disabled() ? 0 : dataset.replay().size(),
              dataset.replay().balanced_per_class() &&
                      dataset.schema().label_kind() == v1::LABEL_KIND_CLASS
                  ? dataset.schema().num_classes()
                  : 0,
              SeedOrRandom(options.seed)) {}

absl::StatusOr<std::unique_ptr<DatasetStore>> DatasetStore::Create(
    const std::string& dir, const std::string& id, v1::Dataset dataset,
    const DatasetStoreOptions& options) {
  dataset.set_name(absl::StrCat("datasets/", id));
  FillDefaults(&dataset, options.default_replay_size);
  absl::Time now = options.clock->Now();
  *dataset.mutable_create_time() = FromMicros(ToMicros(now));
  *dataset.mutable_update_time() = dataset.create_time();
  if (absl::Status s = options.fs->CreateDirs(dir); !s.ok()) return s;
  std::unique_ptr<DatasetStore> store(new DatasetStore(dir, dataset, options));
  if (absl::Status s = store->WriteSettings(dataset); !s.ok()) return s;
  if (absl::Status s = store->Recover(); !s.ok()) return s;
  return store;
}

absl::StatusOr<std::unique_ptr<DatasetStore>> DatasetStore::Open(
    const std::string& dir, const DatasetStoreOptions& options) {
  absl::StatusOr<std::string> bytes =
      options.fs->ReadFileToString(absl::StrCat(dir, "/dataset.pb"));
  if (!bytes.ok()) return bytes.status();
  v1::Dataset dataset;
  if (!dataset.ParseFromString(*bytes) ||
      !absl::StartsWith(dataset.name(), "datasets/")) {
    return absl::DataLossError(
        absl::StrCat(dir, "/dataset.pb is not a valid data set description"));
  }
  std::unique_ptr<DatasetStore> store(new DatasetStore(dir, dataset, options));
  if (absl::Status s = store->Recover(); !s.ok()) return s;
  return store;
}

absl::Status DatasetStore::Recover() {
  store::SegmentLogOptions log_options;
  log_options.fs = options_.fs;
  log_options.max_segment_bytes = options_.max_segment_bytes;
  log_options.dir = absl::StrCat(dir_, "/records");
  store::RecoveryReport records_report;
  absl::StatusOr<std::unique_ptr<store::SegmentLog>> records =
      store::SegmentLog::Open(log_options, &records_report);
  if (!records.ok()) return records.status();
  records_log_ = *std::move(records);
  log_options.dir = absl::StrCat(dir_, "/outcomes");
  store::RecoveryReport outcomes_report;
  absl::StatusOr<std::unique_ptr<store::SegmentLog>> outcomes =
      store::SegmentLog::Open(log_options, &outcomes_report);
  if (!outcomes.ok()) return outcomes.status();
  outcomes_log_ = *std::move(outcomes);

  internal::v1::DatasetStateSnapshot snapshot;
  absl::StatusOr<std::string> snapshot_bytes =
      options_.fs->ReadFileToString(absl::StrCat(dir_, "/state.pb"));
  if (snapshot_bytes.ok() && !snapshot.ParseFromString(*snapshot_bytes)) {
    spdlog::warn(
        "data set {}: state.pb is corrupt; rebuilding the replay "
        "buffer from the log",
        id_);
    snapshot.Clear();
  }

  absl::MutexLock lock(&mu_);
  // Recover also runs again after a log failure (ReopenIfFailed): start over.
  records_.clear();
  outcomes_.clear();
  pending_.clear();
  aggregates_ = Aggregates();
  truncated_tail_bytes_ = records_report.truncated_tail_bytes +
                          outcomes_report.truncated_tail_bytes;
  skipped_corrupt_records_ = records_report.skipped_corrupt_records +
                             outcomes_report.skipped_corrupt_records;
  duplicate_records_ = snapshot.duplicate_records();
  dropped_outcomes_ = snapshot.dropped_outcomes();
  retention_deleted_records_ = snapshot.retention_deleted_records();
  replay_.RestoreFrom(snapshot);
  replay_high_water_micros_ = snapshot.replay_high_water_ingest_micros();
  const int64_t high_water = replay_high_water_micros_;

  // Records: the id index, statistics, and the replay offers the snapshot
  // had not seen yet.
  store::ScanStats scan_stats;
  absl::Status s = records_log_->Scan(
      0, 0, nullptr,
      [&](const store::LogPosition& pos, int64_t, absl::string_view payload) {
        v1::Record record;
        if (!record.ParseFromArray(payload.data(),
                                   static_cast<int>(payload.size()))) {
          ++skipped_corrupt_records_;
          return true;
        }
        RecordMeta meta;
        meta.position = pos;
        meta.ingest_micros = ToMicros(record.ingest_time());
        meta.event_micros = ToMicros(record.event_time());
        if (record.has_label()) meta.ingest_label = record.label();
        auto [it, inserted] = records_.try_emplace(record.id(), meta);
        if (!inserted) return true;  // Never stored twice; be safe anyway.
        aggregates_.AddRecord(record,
                              record.has_label() ? &record.label() : nullptr);
        if (meta.ingest_micros > high_water) {
          if (!dataset_.replay().only_labeled() || record.has_label()) {
            replay_.Offer(pos,
                          record.has_label() && record.label().value_case() ==
                                                    v1::Label::kClassIndex
                              ? record.label().class_index()
                              : -1);
          }
          replay_high_water_micros_ =
              std::max(replay_high_water_micros_, meta.ingest_micros);
        }
        return true;
      },
      &scan_stats);
  if (!s.ok()) return s;
  skipped_corrupt_records_ += scan_stats.skipped_corrupt_records;

  // Outcomes, in the order they were reported.
  store::ScanStats outcome_stats;
  const int64_t now = ToMicros(options_.clock->Now());
  const int64_t grace =
      DurationMicros(dataset_.outcome_grace_period(), absl::Hours(24));
  s = outcomes_log_->Scan(
      0, 0, nullptr,
      [&](const store::LogPosition&, int64_t, absl::string_view payload) {
        v1::ReportOutcomeRequest outcome;
        if (!outcome.ParseFromArray(payload.data(),
                                    static_cast<int>(payload.size()))) {
          ++skipped_corrupt_records_;
          return true;
        }
        int64_t arrival = ToMicros(outcome.outcome_time());
        ApplyOutcomeLocked(outcome.id(), outcome.label(), arrival,
                           /*offer_to_replay=*/false);
        return true;
      },
      &outcome_stats);
  if (!s.ok()) return s;
  skipped_corrupt_records_ += outcome_stats.skipped_corrupt_records;
  // Outcomes that already waited past their grace period were counted as
  // dropped before the restart (or will not be again).
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.arrival_micros + grace < now) {
      pending_.erase(it++);
    } else {
      ++it;
    }
  }
  if (truncated_tail_bytes_ > 0 || skipped_corrupt_records_ > 0) {
    spdlog::warn(
        "data set {}: recovery truncated {} bytes of torn tail and skipped {} "
        "corrupt records",
        id_, truncated_tail_bytes_, skipped_corrupt_records_);
  }
  if (options_.metrics != nullptr && skipped_corrupt_records_ > 0) {
    options_.metrics->corrupt_records.Add({{"dataset", id_}})
        .Increment(static_cast<double>(skipped_corrupt_records_));
  }
  UpdateGaugesLocked();
  spdlog::info(
      "data set {}: {} records, {} outcomes joined, {} pending, "
      "replay buffer {}",
      id_, records_.size(), outcomes_.size(), pending_.size(), replay_.size());
  return absl::OkStatus();
}

DatasetStore::~DatasetStore() {
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (destroyed_ || records_log_ == nullptr) return;
  }
  if (absl::Status s = WriteSnapshot(); !s.ok()) {
    spdlog::warn("data set {}: cannot write state snapshot: {}", id_,
                 s.message());
  }
}

v1::Dataset DatasetStore::dataset() const {
  absl::MutexLock lock(&mu_);
  return dataset_;
}

absl::Status DatasetStore::WriteSettings(const v1::Dataset& dataset) {
  return options_.fs->WriteFileAtomically(absl::StrCat(dir_, "/dataset.pb"),
                                          dataset.SerializeAsString());
}

absl::StatusOr<v1::Dataset> DatasetStore::UpdateSettings(
    const v1::Dataset& updated) {
  v1::Dataset next = updated;
  FillDefaults(&next, options_.default_replay_size);
  *next.mutable_update_time() = FromMicros(ToMicros(options_.clock->Now()));
  if (absl::Status s = WriteSettings(next); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  dataset_ = next;
  return next;
}

absl::Status DatasetStore::CheckNotDestroyed() const {
  if (destroyed_) {
    return absl::NotFoundError(absl::StrCat("data set ", id_, " was deleted"));
  }
  if (records_log_ == nullptr || outcomes_log_ == nullptr) {
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
    replay_.SaveTo(&snapshot);
    snapshot.set_duplicate_records(duplicate_records_);
    snapshot.set_dropped_outcomes(dropped_outcomes_);
    snapshot.set_retention_deleted_records(retention_deleted_records_);
    snapshot.set_replay_high_water_ingest_micros(replay_high_water_micros_);
    batches_since_snapshot_ = 0;
  }
  return options_.fs->WriteFileAtomically(absl::StrCat(dir_, "/state.pb"),
                                          snapshot.SerializeAsString());
}

// ---------------------------------------------------------------------------
// Writing

absl::Status DatasetStore::ReopenIfFailed() {
  auto healthy = [this]() ABSL_SHARED_LOCKS_REQUIRED(rebuild_mu_) {
    return destroyed_ ||
           (records_log_ != nullptr && outcomes_log_ != nullptr &&
            records_log_->Health().ok() && outcomes_log_->Health().ok());
  };
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (healthy()) return absl::OkStatus();
  }
  absl::MutexLock rebuild_lock(&rebuild_mu_);
  if (healthy()) return absl::OkStatus();
  spdlog::warn("data set {}: storage is in a failed state; reopening it", id_);
  if (records_log_ != nullptr && outcomes_log_ != nullptr)
    (void)WriteSnapshot();
  if (records_log_ != nullptr) (void)records_log_->Close();
  if (outcomes_log_ != nullptr) (void)outcomes_log_->Close();
  records_log_.reset();
  outcomes_log_.reset();
  // On failure the logs stay closed: every call answers UNAVAILABLE (see
  // CheckNotDestroyed) and the next Ingest or ReportOutcome tries again.
  if (absl::Status s = Recover(); !s.ok()) {
    records_log_.reset();
    outcomes_log_.reset();
    return absl::UnavailableError(absl::StrCat(
        "data set ", id_,
        ": storage failed and could not be reopened: ", s.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<IngestResult> DatasetStore::Ingest(
    const google::protobuf::RepeatedPtrField<v1::Record>& records) {
  if (absl::Status s = ReopenIfFailed(); !s.ok()) return s;
  const absl::Time now = options_.clock->Now();
  v1::Dataset settings = dataset();
  std::string reason;
  absl::Status valid = ValidateBatch(settings.schema(), id_, records,
                                     options_.limits, now, &reason);
  if (!valid.ok()) {
    if (options_.metrics != nullptr) {
      options_.metrics->rejected_records
          .Add({{"dataset", id_}, {"reason", reason}})
          .Increment(records.size());
    }
    return valid;
  }

  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  const int64_t now_micros = ToMicros(now);
  const int64_t dedup =
      DurationMicros(settings.dedup_window(), absl::Hours(7 * 24));

  // Decide what to store. A batch whose ids are being written by another
  // call waits for it, so a retry racing its original is never stored twice
  // nor acknowledged before the original is durable.
  std::vector<int> to_store;
  IngestResult result;
  {
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
      auto it = records_.find(record_id);
      bool duplicate = (it != records_.end() &&
                        now_micros - it->second.ingest_micros <= dedup) ||
                       !in_batch.insert(record_id).second;
      if (duplicate) {
        ++result.duplicates;
        continue;
      }
      to_store.push_back(i);
      inflight_.insert(record_id);
    }
  }

  // Encode and append outside the lock so concurrent batches share fsyncs.
  // The stored form is the record as sent plus its ingest time: protobuf
  // merges concatenated messages, so appending the encoding of a Record that
  // holds only ingest_time sets that field without copying the record.
  v1::Record ingest_stamp;
  *ingest_stamp.mutable_ingest_time() = FromMicros(now_micros);
  const std::string stamp = ingest_stamp.SerializeAsString();
  std::vector<store::LogEntry> entries;
  entries.reserve(to_store.size());
  std::vector<const v1::Record*> stored;
  stored.reserve(to_store.size());
  for (int i : to_store) {
    const v1::Record& record = records[i];
    store::LogEntry entry;
    entry.event_time_micros = ToMicros(record.event_time());
    record.SerializeToString(&entry.payload);
    entry.payload.append(stamp);
    result.stored_bytes += static_cast<int64_t>(entry.payload.size());
    entries.push_back(std::move(entry));
    stored.push_back(&record);
  }
  absl::StatusOr<std::vector<store::LogPosition>> positions =
      std::vector<store::LogPosition>();
  if (!entries.empty()) {
    const bool sync = settings.durability() != v1::DURABILITY_MODE_INTERVAL;
    auto start = std::chrono::steady_clock::now();
    positions = records_log_->Append(entries, sync);
    if (options_.metrics != nullptr && positions.ok()) {
      std::chrono::duration<double> took =
          std::chrono::steady_clock::now() - start;
      options_.metrics->commit_seconds
          .Add({{"dataset", id_}}, core::RpcLatencyBuckets())
          .Observe(took.count());
    }
  }

  bool snapshot_due = false;
  {
    absl::MutexLock lock(&mu_);
    for (const v1::Record* r : stored) inflight_.erase(r->id());
    if (!positions.ok()) {
      if (options_.metrics != nullptr) {
        options_.metrics->rejected_records
            .Add({{"dataset", id_}, {"reason", "storage_error"}})
            .Increment(records.size());
      }
      return absl::UnavailableError(
          absl::StrCat("data set ", id_,
                       ": storing the batch failed, nothing of it was "
                       "acknowledged (retry is safe): ",
                       positions.status().message()));
    }
    for (size_t k = 0; k < stored.size(); ++k) {
      const v1::Record& record = *stored[k];
      RecordMeta meta;
      meta.position = (*positions)[k];
      meta.ingest_micros = now_micros;
      meta.event_micros = ToMicros(record.event_time());
      if (record.has_label()) meta.ingest_label = record.label();
      records_[record.id()] = meta;
      aggregates_.AddRecord(record,
                            record.has_label() ? &record.label() : nullptr);
      if (!settings.replay().only_labeled() || record.has_label()) {
        replay_.Offer(meta.position,
                      record.label().value_case() == v1::Label::kClassIndex
                          ? record.label().class_index()
                          : -1);
      }
      // An outcome that arrived before its record joins now.
      auto pending = pending_.find(record.id());
      if (pending != pending_.end()) {
        PendingOutcome outcome = std::move(pending->second);
        pending_.erase(pending);
        ApplyOutcomeLocked(record.id(), outcome.label, outcome.arrival_micros,
                           /*offer_to_replay=*/true);
      }
    }
    replay_high_water_micros_ = std::max(replay_high_water_micros_, now_micros);
    duplicate_records_ += result.duplicates;
    result.accepted = static_cast<int64_t>(stored.size());
    snapshot_due =
        ++batches_since_snapshot_ >= options_.replay_snapshot_every_batches;
    UpdateGaugesLocked();
  }
  if (options_.metrics != nullptr) {
    options_.metrics->ingested_records.Add({{"dataset", id_}})
        .Increment(static_cast<double>(result.accepted));
    options_.metrics->ingested_bytes.Add({{"dataset", id_}})
        .Increment(static_cast<double>(result.stored_bytes));
    options_.metrics->duplicate_records.Add({{"dataset", id_}})
        .Increment(static_cast<double>(result.duplicates));
  }
  if (snapshot_due) {
    if (absl::Status s = WriteSnapshot(); !s.ok()) {
      // The snapshot only saves replay work on restart; the records are safe.
      spdlog::warn("data set {}: cannot write state snapshot: {}", id_,
                   s.message());
    }
  }
  return result;
}

const v1::Label* DatasetStore::EffectiveLabelLocked(
    const std::string& id, const v1::Label& ingest_label) const {
  auto it = outcomes_.find(id);
  if (it != outcomes_.end()) return &it->second;
  return HasLabel(ingest_label) ? &ingest_label : nullptr;
}

bool DatasetStore::CurrentLabel(const v1::Record& record,
                                v1::Label* label) const {
  absl::ReaderMutexLock lock(&mu_);
  const v1::Label* effective =
      EffectiveLabelLocked(record.id(), record.label());
  if (effective == nullptr) return false;
  *label = *effective;
  return true;
}

v1::OutcomeDisposition DatasetStore::ApplyOutcomeLocked(const std::string& id,
                                                        const v1::Label& label,
                                                        int64_t arrival_micros,
                                                        bool offer_to_replay) {
  auto record = records_.find(id);
  if (record == records_.end()) {
    pending_[id] = PendingOutcome{label, arrival_micros};
    return v1::OUTCOME_DISPOSITION_PENDING;
  }
  const RecordMeta& meta = record->second;
  const v1::Label* current = EffectiveLabelLocked(id, meta.ingest_label);
  if (current != nullptr && SameLabel(*current, label)) {
    return v1::OUTCOME_DISPOSITION_DUPLICATE;
  }
  v1::OutcomeDisposition disposition = v1::OUTCOME_DISPOSITION_JOINED;
  if (current != nullptr) {
    aggregates_.RemoveClass(*current);
    if (label.value_case() == v1::Label::kClassIndex) {
      ++aggregates_.class_counts[label.class_index()];
    }
    disposition = v1::OUTCOME_DISPOSITION_REPLACED;
  } else {
    aggregates_.AddLabel(meta.event_micros, label);
    // A record that waited for its label may now enter the replay buffer,
    // unless it was offered at ingest already (a single reservoir that takes
    // unlabelled records).
    const bool per_class =
        dataset_.replay().balanced_per_class() &&
        dataset_.schema().label_kind() == v1::LABEL_KIND_CLASS;
    const bool offered_at_ingest =
        !dataset_.replay().only_labeled() && !per_class;
    if (offer_to_replay && !offered_at_ingest) {
      replay_.Offer(meta.position, label.value_case() == v1::Label::kClassIndex
                                       ? label.class_index()
                                       : -1);
    }
  }
  outcomes_[id] = label;
  return disposition;
}

absl::StatusOr<v1::OutcomeDisposition> DatasetStore::ReportOutcome(
    const v1::ReportOutcomeRequest& request) {
  v1::Dataset settings = dataset();
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
    *stored.mutable_outcome_time() =
        FromMicros(ToMicros(options_.clock->Now()));
  }
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  // Durable first: an acknowledged outcome survives a crash.
  store::LogEntry entry;
  entry.event_time_micros = ToMicros(stored.outcome_time());
  entry.payload = stored.SerializeAsString();
  absl::StatusOr<std::vector<store::LogPosition>> written =
      outcomes_log_->Append(
          {entry}, settings.durability() != v1::DURABILITY_MODE_INTERVAL);
  if (!written.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "data set ", id_, ": storing the outcome failed (retry is safe): ",
        written.status().message()));
  }
  v1::OutcomeDisposition disposition;
  {
    absl::MutexLock lock(&mu_);
    disposition = ApplyOutcomeLocked(request.id(), request.label(),
                                     ToMicros(options_.clock->Now()),
                                     /*offer_to_replay=*/true);
  }
  if (options_.metrics != nullptr) {
    std::string name = absl::AsciiStrToLower(
        v1::OutcomeDisposition_Name(disposition)
            .substr(std::string("OUTCOME_DISPOSITION_").size()));
    options_.metrics->outcomes.Add({{"dataset", id_}, {"disposition", name}})
        .Increment();
  }
  return disposition;
}

// ---------------------------------------------------------------------------
// Reading

void DatasetStore::AppendRow(const v1::Record& record, const v1::Label* label,
                             bool include_attributes,
                             v1::RecordBatch* batch) const {
  batch->set_num_rows(batch->num_rows() + 1);
  batch->mutable_features()->Add(record.features().begin(),
                                 record.features().end());
  batch->add_ids(record.id());
  batch->add_event_time_unix_micros(ToMicros(record.event_time()));
  batch->add_labeled(label != nullptr);
  switch (batch->label_kind()) {
    case v1::LABEL_KIND_CLASS:
      batch->add_class_indices(label != nullptr ? label->class_index() : -1);
      break;
    case v1::LABEL_KIND_VALUE:
      batch->add_targets(label != nullptr
                             ? label->target_value()
                             : std::numeric_limits<float>::quiet_NaN());
      break;
    case v1::LABEL_KIND_VECTOR:
      for (int t = 0; t < batch->target_dim(); ++t) {
        batch->add_targets(label != nullptr &&
                                   t < label->target_vector().values_size()
                               ? label->target_vector().values(t)
                               : std::numeric_limits<float>::quiet_NaN());
      }
      break;
    default:
      break;
  }
  if (include_attributes) {
    *batch->add_attributes()->mutable_values() = record.attributes();
  }
}

namespace {

void StartBatch(const v1::DatasetSchema& schema, v1::RecordBatch* batch) {
  batch->Clear();
  batch->set_feature_dim(schema.feature_dim());
  batch->set_label_kind(schema.label_kind());
  batch->set_target_dim(schema.label_kind() == v1::LABEL_KIND_VECTOR
                            ? schema.target_dim()
                        : schema.label_kind() == v1::LABEL_KIND_VALUE ? 1
                                                                      : 0);
}

int BatchRows(int requested, int feature_dim) {
  int rows = requested > 0 ? requested : kDefaultBatchRows;
  int64_t cap = std::max<int64_t>(
      1, kMaxBatchFeatureBytes / (int64_t{4} * std::max(feature_dim, 1) + 64));
  return static_cast<int>(std::min<int64_t>(rows, cap));
}

}  // namespace

absl::Status DatasetStore::Scan(
    const v1::ScanRequest& request,
    const std::function<bool(v1::ScanResponse&)>& sink) {
  if (request.follow()) {
    return absl::UnimplementedError(
        "Scan: follow is not supported yet; poll with the last cursor instead");
  }
  if (request.limit() < 0) {
    return absl::InvalidArgumentError("limit must not be negative");
  }
  int64_t start = request.window().has_start_time()
                      ? ToMicros(request.window().start_time())
                      : 0;
  int64_t end = request.window().has_end_time()
                    ? ToMicros(request.window().end_time())
                    : 0;
  if (end > 0 && end <= start) {
    return absl::InvalidArgumentError(
        "window.end_time must be after window.start_time");
  }
  std::optional<store::LogPosition> after;
  if (!request.cursor().empty()) {
    absl::StatusOr<store::LogPosition> decoded =
        store::LogPosition::Decode(request.cursor());
    if (!decoded.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cursor is malformed: ", decoded.status().message()));
    }
    after = *decoded;
  }
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return absl::StartsWith(key, "attributes.") &&
               key.size() > std::string("attributes.").size();
      });
  if (!filter.ok()) return filter.status();

  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  const v1::Dataset settings = dataset();
  const int rows_per_batch =
      BatchRows(request.batch_size(), settings.schema().feature_dim());
  v1::ScanResponse response;
  StartBatch(settings.schema(), response.mutable_batch());
  int64_t returned = 0;
  int64_t reported_corrupt = 0;
  bool stopped = false;
  store::ScanStats stats;
  store::LogPosition last;

  auto flush = [&]() {
    if (response.batch().num_rows() == 0) return true;
    response.set_cursor(last.Encode());
    response.set_skipped_corrupt_records(stats.skipped_corrupt_records -
                                         reported_corrupt);
    reported_corrupt = stats.skipped_corrupt_records;
    if (options_.metrics != nullptr) {
      options_.metrics->scanned_records.Add({{"dataset", id_}})
          .Increment(response.batch().num_rows());
    }
    bool more = sink(response);
    StartBatch(settings.schema(), response.mutable_batch());
    response.clear_cursor();
    return more;
  };

  absl::Status s = records_log_->Scan(
      start, end, after ? &*after : nullptr,
      [&](const store::LogPosition& pos, int64_t, absl::string_view payload) {
        v1::Record record;
        if (!record.ParseFromArray(payload.data(),
                                   static_cast<int>(payload.size()))) {
          ++stats.skipped_corrupt_records;
          return true;
        }
        v1::Label label_copy;
        const v1::Label* label =
            CurrentLabel(record, &label_copy) ? &label_copy : nullptr;
        if (request.only_labeled() && label == nullptr) return true;
        if (!filter->empty() &&
            !filter->Matches(
                [&](absl::string_view key) -> std::optional<std::string> {
                  auto it = record.attributes().find(std::string(
                      key.substr(std::string("attributes.").size())));
                  if (it == record.attributes().end()) return std::nullopt;
                  return it->second;
                })) {
          return true;
        }
        AppendRow(record, label, request.include_attributes(),
                  response.mutable_batch());
        last = pos;
        ++returned;
        if (request.limit() > 0 && returned >= request.limit()) {
          stopped = !flush();
          return false;
        }
        if (response.batch().num_rows() >= rows_per_batch) {
          if (!flush()) {
            stopped = true;
            return false;
          }
        }
        return true;
      },
      &stats);
  if (!s.ok()) return s;
  if (!stopped) flush();
  if (stats.skipped_corrupt_records > 0) {
    absl::MutexLock lock(&mu_);
    skipped_corrupt_records_ += stats.skipped_corrupt_records;
    if (options_.metrics != nullptr) {
      options_.metrics->corrupt_records.Add({{"dataset", id_}})
          .Increment(static_cast<double>(stats.skipped_corrupt_records));
    }
  }
  return absl::OkStatus();
}

absl::Status DatasetStore::SampleReplay(
    const v1::SampleReplayRequest& request,
    const std::function<bool(v1::SampleReplayResponse&)>& sink) {
  if (request.count() < 0) {
    return absl::InvalidArgumentError("count must not be negative");
  }
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (absl::Status s = CheckNotDestroyed(); !s.ok()) return s;
  const v1::Dataset settings = dataset();
  std::vector<store::LogPosition> positions;
  {
    absl::MutexLock lock(&mu_);
    positions = replay_.Positions();
  }
  const int64_t buffer_size = static_cast<int64_t>(positions.size());
  // Sorting first makes the sample depend only on the buffer's content and
  // the seed, not on the order the reservoirs hold it in.
  std::sort(positions.begin(), positions.end(),
            [](const store::LogPosition& a, const store::LogPosition& b) {
              return std::tie(a.segment_id, a.offset) <
                     std::tie(b.segment_id, b.offset);
            });
  std::mt19937_64 rng(SeedOrRandom(request.seed()));
  std::shuffle(positions.begin(), positions.end(), rng);

  const int rows_per_batch =
      BatchRows(request.batch_size(), settings.schema().feature_dim());
  v1::SampleReplayResponse response;
  response.set_buffer_size(buffer_size);
  StartBatch(settings.schema(), response.mutable_batch());
  int64_t returned = 0;
  std::string payload;
  for (const store::LogPosition& pos : positions) {
    if (request.count() > 0 && returned >= request.count()) break;
    absl::Status read = records_log_->ReadAt(pos, &payload);
    if (absl::IsNotFound(read)) continue;  // Deleted by retention meanwhile.
    if (!read.ok()) {
      spdlog::warn("data set {}: replay record unreadable: {}", id_,
                   read.message());
      continue;
    }
    v1::Record record;
    if (!record.ParseFromString(payload)) continue;
    v1::Label label_copy;
    const v1::Label* label =
        CurrentLabel(record, &label_copy) ? &label_copy : nullptr;
    if (request.only_labeled() && label == nullptr) continue;
    AppendRow(record, label, false, response.mutable_batch());
    ++returned;
    if (response.batch().num_rows() >= rows_per_batch) {
      if (!sink(response)) return absl::OkStatus();
      StartBatch(settings.schema(), response.mutable_batch());
    }
  }
  if (response.batch().num_rows() > 0 || returned == 0) sink(response);
  if (options_.metrics != nullptr) {
    options_.metrics->scanned_records.Add({{"dataset", id_}})
        .Increment(static_cast<double>(returned));
  }
  return absl::OkStatus();
}

absl::StatusOr<DatasetStore::Aggregates> DatasetStore::ComputeAggregates(
    int64_t start_micros, int64_t end_micros) {
  Aggregates aggregates;
  store::ScanStats stats;
  absl::Status s = records_log_->Scan(
      start_micros, end_micros, nullptr,
      [&](const store::LogPosition&, int64_t, absl::string_view payload) {
        v1::Record record;
        if (!record.ParseFromArray(payload.data(),
                                   static_cast<int>(payload.size()))) {
          return true;
        }
        absl::ReaderMutexLock lock(&mu_);
        aggregates.AddRecord(record,
                             EffectiveLabelLocked(record.id(), record.label()));
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
  if (window.has_start_time() || window.has_end_time()) {
    int64_t start = window.has_start_time() ? ToMicros(window.start_time()) : 0;
    int64_t end = window.has_end_time() ? ToMicros(window.end_time()) : 0;
    if (end > 0 && end <= start) {
      return absl::InvalidArgumentError(
          "window.end_time must be after window.start_time");
    }
    absl::StatusOr<Aggregates> windowed = ComputeAggregates(start, end);
    if (!windowed.ok()) return windowed.status();
    windowed->FillStats(&stats);
  }
  absl::MutexLock lock(&mu_);
  if (!window.has_start_time() && !window.has_end_time()) {
    aggregates_.FillStats(&stats);
  }
  if (stats.feature_means_size() == 0) {
    for (int f = 0; f < dataset_.schema().feature_dim(); ++f) {
      stats.add_feature_means(0);
      stats.add_feature_variances(0);
    }
  }
  stats.set_stored_bytes(static_cast<int64_t>(records_log_->TotalBytes() +
                                              outcomes_log_->TotalBytes()));
  stats.set_segment_count(
      static_cast<int64_t>(records_log_->Segments().size()));
  stats.set_replay_buffer_size(replay_.size());
  stats.set_pending_outcomes(static_cast<int64_t>(pending_.size()));
  stats.set_dropped_outcomes(dropped_outcomes_);
  stats.set_duplicate_records(duplicate_records_);
  stats.set_skipped_corrupt_records(skipped_corrupt_records_);
  stats.set_truncated_tail_bytes(truncated_tail_bytes_);
  stats.set_retention_deleted_records(retention_deleted_records_);
  return stats;
}

// ---------------------------------------------------------------------------
// Maintenance

bool DatasetStore::interval_durability() const {
  absl::MutexLock lock(&mu_);
  return dataset_.durability() == v1::DURABILITY_MODE_INTERVAL;
}

absl::Duration DatasetStore::fsync_interval() const {
  absl::MutexLock lock(&mu_);
  return absl::Microseconds(
      DurationMicros(dataset_.fsync_interval(), absl::Milliseconds(100)));
}

absl::Status DatasetStore::Sync() {
  absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
  if (!CheckNotDestroyed().ok()) return absl::OkStatus();
  if (absl::Status s = records_log_->Sync(); !s.ok()) return s;
  return outcomes_log_->Sync();
}

void DatasetStore::UpdateGaugesLocked() {
  if (options_.metrics == nullptr) return;
  options_.metrics->segments.Add({{"dataset", id_}})
      .Set(static_cast<double>(records_log_->Segments().size()));
  options_.metrics->stored_bytes.Add({{"dataset", id_}})
      .Set(static_cast<double>(records_log_->TotalBytes() +
                               outcomes_log_->TotalBytes()));
}

absl::Status DatasetStore::RunMaintenance() {
  const v1::Dataset settings = dataset();
  const int64_t now = ToMicros(options_.clock->Now());
  const int64_t max_age =
      DurationMicros(settings.retention().max_age(), absl::Hours(60 * 24));
  const int64_t cutoff = now - max_age;
  // Retention runs exclusively (no ingest while the aggregates are rebuilt),
  // so it takes the lock only when some segment is due.
  const uint64_t max_bytes = static_cast<uint64_t>(
      std::max<int64_t>(settings.retention().max_bytes(), 0));
  bool due = false;
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (!CheckNotDestroyed().ok()) return absl::OkStatus();
    due = max_bytes > 0 && records_log_->TotalBytes() > max_bytes;
    for (const store::SegmentInfo& info : records_log_->Segments()) {
      due |= info.max_event_time_micros < cutoff;
    }
    for (const store::SegmentInfo& info : outcomes_log_->Segments()) {
      due |= info.max_event_time_micros < cutoff;
    }
  }
  if (due) {
    absl::MutexLock rebuild_lock(&rebuild_mu_);
    if (!CheckNotDestroyed().ok()) return absl::OkStatus();
    absl::StatusOr<store::RetentionResult> deleted =
        records_log_->ApplyRetention(cutoff, max_bytes);
    if (!deleted.ok()) return deleted.status();
    if (deleted->deleted_records > 0) {
      absl::flat_hash_set<int64_t> live;
      for (const store::SegmentInfo& info : records_log_->Segments()) {
        live.insert(info.id);
      }
      {
        absl::MutexLock lock(&mu_);
        for (auto it = records_.begin(); it != records_.end();) {
          if (!live.contains(it->second.position.segment_id)) {
            outcomes_.erase(it->first);
            records_.erase(it++);
          } else {
            ++it;
          }
        }
        replay_.RemoveIf([&](const store::LogPosition& p) {
          return !live.contains(p.segment_id);
        });
        retention_deleted_records_ += deleted->deleted_records;
      }
      absl::StatusOr<Aggregates> rebuilt = ComputeAggregates(0, 0);
      if (!rebuilt.ok()) return rebuilt.status();
      absl::MutexLock lock(&mu_);
      aggregates_ = *std::move(rebuilt);
      UpdateGaugesLocked();
      spdlog::info(
          "data set {}: retention deleted {} segments ({} records, {} "
          "bytes)",
          id_, deleted->deleted_segments, deleted->deleted_records,
          deleted->deleted_bytes);
      if (options_.metrics != nullptr) {
        options_.metrics->retention_deleted_records.Add({{"dataset", id_}})
            .Increment(static_cast<double>(deleted->deleted_records));
      }
    }
    absl::StatusOr<store::RetentionResult> outcomes_deleted =
        outcomes_log_->ApplyRetention(cutoff, 0);
    if (!outcomes_deleted.ok()) return outcomes_deleted.status();
  }
  int64_t dropped = 0;
  {
    absl::MutexLock lock(&mu_);
    const int64_t grace =
        DurationMicros(dataset_.outcome_grace_period(), absl::Hours(24));
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.arrival_micros + grace < now) {
        pending_.erase(it++);
        ++dropped;
      } else {
        ++it;
      }
    }
    dropped_outcomes_ += dropped;
  }
  if (dropped > 0) {
    spdlog::info("data set {}: dropped {} outcomes whose record never came",
                 id_, dropped);
    if (options_.metrics != nullptr) {
      options_.metrics->outcomes
          .Add({{"dataset", id_}, {"disposition", "dropped"}})
          .Increment(static_cast<double>(dropped));
    }
  }
  {
    absl::ReaderMutexLock rebuild_lock(&rebuild_mu_);
    if (!CheckNotDestroyed().ok()) return absl::OkStatus();
  }
  return WriteSnapshot();
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
    *deleted_records = static_cast<int64_t>(records_.size());
    *deleted_bytes =
        static_cast<int64_t>((records_log_ ? records_log_->TotalBytes() : 0) +
                             (outcomes_log_ ? outcomes_log_->TotalBytes() : 0));
  }
  if (records_log_ != nullptr) (void)records_log_->Close();
  if (outcomes_log_ != nullptr) (void)outcomes_log_->Close();
  records_log_.reset();
  outcomes_log_.reset();
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
