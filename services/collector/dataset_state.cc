#include "services/collector/dataset_state.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "lib/core/proto_time.h"
#include "services/collector/dataset_settings.h"

namespace continuum::collector {

DatasetState::DatasetState(const v1::Dataset& settings, uint64_t seed)
    // A data set with labels keeps labelled rows only: an unlabelled row
    // (evaluation traffic, a prediction whose outcome never comes) enters
    // when its outcome joins, so it cannot crowd the buffer.
    : only_labeled_(settings.replay().only_labeled() ||
                    settings.schema().label_kind() != v1::LABEL_KIND_NONE),
      per_class_(settings.replay().balanced_per_class() &&
                 settings.schema().label_kind() == v1::LABEL_KIND_CLASS),
      replay_(ReplayCapacity(settings), ReplayClasses(settings), seed) {}

void DatasetState::Reset(const internal::v1::DatasetStateSnapshot& snapshot) {
  index_.Clear();
  aggregates_ = DatasetAggregates();
  counters_ = DatasetCounters();
  counters_.duplicate_records = snapshot.duplicate_records();
  counters_.dropped_outcomes = snapshot.dropped_outcomes();
  counters_.retention_deleted_records = snapshot.retention_deleted_records();
  replay_.RestoreFrom(snapshot);
  replay_high_water_micros_ = snapshot.replay_high_water_ingest_micros();
}

void DatasetState::SaveTo(internal::v1::DatasetStateSnapshot* snapshot) const {
  replay_.SaveTo(snapshot);
  snapshot->set_duplicate_records(counters_.duplicate_records);
  snapshot->set_dropped_outcomes(counters_.dropped_outcomes);
  snapshot->set_retention_deleted_records(counters_.retention_deleted_records);
  snapshot->set_replay_high_water_ingest_micros(replay_high_water_micros_);
}

void DatasetState::OfferAtIngest(const v1::Record& record,
                                 const store::LogPosition& position) {
  if (!only_labeled_ || record.has_label()) {
    replay_.Offer(position, ClassOf(record.label()));
  }
}

bool DatasetState::AddRecovered(const v1::Record& record,
                                const store::LogPosition& position,
                                int64_t replayed_until_micros) {
  RecordMeta meta;
  meta.position = position;
  meta.ingest_micros = core::ToUnixMicros(record.ingest_time());
  meta.event_micros = core::ToUnixMicros(record.event_time());
  if (record.has_label()) meta.ingest_label = record.label();
  if (!index_.Insert(record.id(), meta)) return false;
  aggregates_.AddRecord(record, record.has_label() ? &record.label() : nullptr);
  if (meta.ingest_micros > replayed_until_micros) {
    OfferAtIngest(record, position);
    replay_high_water_micros_ =
        std::max(replay_high_water_micros_, meta.ingest_micros);
  }
  return true;
}

void DatasetState::AddIngested(const v1::Record& record,
                               const store::LogPosition& position,
                               int64_t ingest_micros) {
  RecordMeta meta;
  meta.position = position;
  meta.ingest_micros = ingest_micros;
  meta.event_micros = core::ToUnixMicros(record.event_time());
  if (record.has_label()) meta.ingest_label = record.label();
  index_.Put(record.id(), meta);
  aggregates_.AddRecord(record, record.has_label() ? &record.label() : nullptr);
  OfferAtIngest(record, position);
  // An outcome that arrived before its record joins now.
  if (std::optional<PendingOutcome> pending = index_.TakePending(record.id())) {
    ApplyOutcome(record.id(), pending->label, pending->arrival_micros,
                 /*offer_to_replay=*/true);
  }
}

void DatasetState::FinishBatch(int64_t ingest_micros, int64_t duplicates) {
  replay_high_water_micros_ =
      std::max(replay_high_water_micros_, ingest_micros);
  counters_.duplicate_records += duplicates;
}

v1::OutcomeDisposition DatasetState::ApplyOutcome(const std::string& id,
                                                  const v1::Label& label,
                                                  int64_t arrival_micros,
                                                  bool offer_to_replay) {
  RecordIndex::Join join = index_.JoinOutcome(id, label, arrival_micros);
  if (join.disposition == v1::OUTCOME_DISPOSITION_REPLACED) {
    aggregates_.ReplaceLabel(*join.replaced, label);
  } else if (join.disposition == v1::OUTCOME_DISPOSITION_JOINED) {
    aggregates_.AddLabel(join.event_micros, label);
    // A record that waited for its label may now enter the replay buffer,
    // unless it was offered at ingest already (a single reservoir that
    // takes unlabelled records).
    const bool offered_at_ingest = !only_labeled_ && !per_class_;
    if (offer_to_replay && !offered_at_ingest) {
      replay_.Offer(join.position, ClassOf(label));
    }
  }
  return join.disposition;
}

void DatasetState::ForgetSegmentsNotIn(const absl::flat_hash_set<int64_t>& live,
                                       int64_t deleted_records) {
  index_.RemoveSegmentsNotIn(live);
  replay_.RemoveIf([&](const store::LogPosition& p) {
    return !live.contains(p.segment_id);
  });
  counters_.retention_deleted_records += deleted_records;
}

void DatasetState::FillCounters(v1::DatasetStats* stats) const {
  stats->set_replay_buffer_size(replay_.size());
  stats->set_pending_outcomes(index_.pending());
  stats->set_dropped_outcomes(counters_.dropped_outcomes);
  stats->set_duplicate_records(counters_.duplicate_records);
  stats->set_skipped_corrupt_records(counters_.skipped_corrupt_records);
  stats->set_truncated_tail_bytes(counters_.truncated_tail_bytes);
  stats->set_retention_deleted_records(counters_.retention_deleted_records);
}

}  // namespace continuum::collector
