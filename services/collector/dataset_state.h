// DatasetState: everything a data set keeps in memory, all of it derived
// from its logs (and the state snapshot): the record index with its joined
// and pending outcomes (record_index.h), the running statistics
// (dataset_aggregates.h), the replay buffer (replay_buffer.h) and the
// lifetime counters. It is the one place that keeps these consistent with
// each other: a stored record is indexed, counted and offered to the replay
// buffer together; an outcome moves the label counts and may admit its
// record to the replay buffer.
//
// Replay admission: a record enters the buffer when it is stored, unless
// the buffer takes only labelled records (replay.only_labeled) and it has
// no label yet; with per-class reservoirs a record without a class is not
// taken. A record that gets its first label later (JOINED) is offered then,
// unless it was offered at ingest already (a single reservoir that takes
// unlabelled records).
//
// Thread safety: not thread-safe. DatasetStore holds it under its mutex;
// recovery (dataset_recovery.h) fills it before the store is shared or while
// the store runs alone.
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_STATE_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_STATE_H_

#include <cstdint>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "continuum/internal/v1/collector_state.pb.h"
#include "continuum/v1/collector.pb.h"
#include "lib/store/segment_log.h"
#include "services/collector/dataset_aggregates.h"
#include "services/collector/record_index.h"
#include "services/collector/replay_buffer.h"

namespace continuum::collector {

// Counters over the data set's life, shown by GetDatasetStats.
struct DatasetCounters {
  // Kept in the state snapshot.
  int64_t duplicate_records = 0;
  int64_t dropped_outcomes = 0;
  int64_t retention_deleted_records = 0;
  // Found by recovery (and, for corrupt records, by later scans).
  int64_t skipped_corrupt_records = 0;
  int64_t truncated_tail_bytes = 0;
};

class DatasetState {
 public:
  // The replay settings of `settings` (fixed at creation) decide the
  // buffer's size, reservoirs and admission; `seed` its choices.
  DatasetState(const v1::Dataset& settings, uint64_t seed);

  DatasetState(const DatasetState&) = delete;
  DatasetState& operator=(const DatasetState&) = delete;

  // Forgets everything and starts again from `snapshot`: the replay
  // buffer's reservoirs (its random state goes on), the counters it keeps
  // and the replay high-water mark. Recovery then adds the logs.
  void Reset(const internal::v1::DatasetStateSnapshot& snapshot);

  // Writes the replay buffer, the snapshot's counters and the high-water
  // mark into `snapshot`.
  void SaveTo(internal::v1::DatasetStateSnapshot* snapshot) const;

  // A record read back from the log at `position` by recovery: indexed and
  // counted unless its id is indexed already (then returns false and
  // changes nothing). It is offered to the replay buffer only if it was
  // ingested after `replayed_until_micros`, the snapshot's high-water mark
  // (the snapshot's buffer saw the older ones).
  bool AddRecovered(const v1::Record& record,
                    const store::LogPosition& position,
                    int64_t replayed_until_micros);

  // A record just stored at `position` by an ingest at `ingest_micros`:
  // indexed (replacing an older entry of its id), counted and offered to
  // the replay buffer; an outcome that waited for it joins now.
  void AddIngested(const v1::Record& record, const store::LogPosition& position,
                   int64_t ingest_micros);

  // Ends an ingest batch at `ingest_micros` that acknowledged `duplicates`
  // re-sent records without storing them.
  void FinishBatch(int64_t ingest_micros, int64_t duplicates);

  // Applies an outcome (RecordIndex::JoinOutcome) to the index and the
  // label counts; with `offer_to_replay`, a record that gets its first
  // label is offered to the replay buffer (see the file comment). Recovery
  // passes false: the snapshot's buffer already reflects those offers.
  v1::OutcomeDisposition ApplyOutcome(const std::string& id,
                                      const v1::Label& label,
                                      int64_t arrival_micros,
                                      bool offer_to_replay);

  // The label record `id` has now; see RecordIndex::EffectiveLabel.
  const v1::Label* EffectiveLabel(absl::string_view id,
                                  const v1::Label& ingest_label) const {
    return index_.EffectiveLabel(id, ingest_label);
  }

  // Whether `id` was ingested within `window_micros` before `now_micros`.
  bool IngestedWithin(absl::string_view id, int64_t now_micros,
                      int64_t window_micros) const {
    return index_.IngestedWithin(id, now_micros, window_micros);
  }

  // Forgets the pending outcomes older than their grace period; returns how
  // many (the caller decides whether they count as dropped).
  int64_t ExpirePending(int64_t now_micros, int64_t grace_micros) {
    return index_.ExpirePending(now_micros, grace_micros);
  }

  // Retention deleted the segments not in `live`, with `deleted_records`
  // records: forgets their records, outcomes and replay positions. The
  // statistics are rebuilt by the caller (set_aggregates).
  void ForgetSegmentsNotIn(const absl::flat_hash_set<int64_t>& live,
                           int64_t deleted_records);

  // Fills the fields of `stats` that the counters, the index and the replay
  // buffer answer (replay_buffer_size, pending_outcomes, the counters).
  void FillCounters(v1::DatasetStats* stats) const;

  const DatasetAggregates& aggregates() const { return aggregates_; }
  void set_aggregates(DatasetAggregates aggregates) {
    aggregates_ = std::move(aggregates);
  }
  const RecordIndex& index() const { return index_; }
  const ReplayBuffer& replay() const { return replay_; }
  DatasetCounters& counters() { return counters_; }
  const DatasetCounters& counters() const { return counters_; }

 private:
  // Offers `record`, stored at `position`, to the replay buffer if the
  // buffer takes it as it is stored.
  void OfferAtIngest(const v1::Record& record,
                     const store::LogPosition& position);

  // Replay settings.
  const bool only_labeled_;
  const bool per_class_;

  RecordIndex index_;
  DatasetAggregates aggregates_;
  ReplayBuffer replay_;
  // Ingest time (µs) of the newest record offered to the replay buffer.
  int64_t replay_high_water_micros_ = 0;
  DatasetCounters counters_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_STATE_H_
