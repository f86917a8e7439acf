// RecordIndex: what a data set knows of each stored record without reading
// the log: where it is, when it was ingested and which label it came with;
// the outcomes joined to records (a label reported after ingest), and the
// outcomes still waiting for their record. It answers the two questions of
// the write path: "was this id stored within the dedup window?" and "what
// does this outcome do?" (join, replace, duplicate, or wait).
//
// Outcome dispositions (JoinOutcome):
//   record unknown                       -> PENDING   (kept until its record
//                                                      arrives or the grace
//                                                      period ends)
//   record's current label is the same   -> DUPLICATE (nothing changes)
//   record has another label             -> REPLACED  (the outcome wins)
//   record has no label                  -> JOINED
// The current label of a record is its latest outcome, else its ingest
// label.
//
// Thread safety: not thread-safe. DatasetStore keeps one inside its
// DatasetState, under its mutex.
#ifndef CONTINUUM_SERVICES_COLLECTOR_RECORD_INDEX_H_
#define CONTINUUM_SERVICES_COLLECTOR_RECORD_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/store/segment_log.h"

namespace continuum::collector {

// Where a stored record is and what the index needs to know of it.
struct RecordMeta {
  store::LogPosition position;
  int64_t ingest_micros = 0;
  int64_t event_micros = 0;
  // The label given at ingest; value_case() VALUE_NOT_SET when none.
  v1::Label ingest_label;
};

// An outcome whose record is not known yet.
struct PendingOutcome {
  v1::Label label;
  int64_t arrival_micros = 0;
};

// Whether `label` holds a value.
bool HasLabel(const v1::Label& label);

// The class of `label`, or -1 when it is not a class label (the replay
// buffer's "no class").
int ClassOf(const v1::Label& label);

class RecordIndex {
 public:
  // What JoinOutcome did.
  struct Join {
    v1::OutcomeDisposition disposition = v1::OUTCOME_DISPOSITION_UNSPECIFIED;
    // JOINED and REPLACED: the record's position and event time.
    store::LogPosition position;
    int64_t event_micros = 0;
    // REPLACED: the label the record had before.
    std::optional<v1::Label> replaced;
  };

  // The record `id`, or nullptr. Valid until the index changes.
  const RecordMeta* Find(absl::string_view id) const;

  // Whether `id` was ingested at most `window_micros` before `now_micros`
  // (a re-sent record to acknowledge without storing it again).
  bool IngestedWithin(absl::string_view id, int64_t now_micros,
                      int64_t window_micros) const;

  // Indexes a record read back from the log; false (and no change) if `id`
  // is indexed already.
  bool Insert(const std::string& id, const RecordMeta& meta);
  // Indexes a record just stored, replacing an older entry of the same id
  // (one stored again after the dedup window).
  void Put(const std::string& id, const RecordMeta& meta);

  // The label record `id` has now: its outcome if it has one, else
  // `ingest_label` if that holds a value, else nullptr. `ingest_label` must
  // outlive the returned pointer (pass record.label(), never a temporary).
  const v1::Label* EffectiveLabel(absl::string_view id,
                                  const v1::Label& ingest_label) const;

  // Applies an outcome that arrived at `arrival_micros` (see the file
  // comment) and returns what it did.
  Join JoinOutcome(const std::string& id, const v1::Label& label,
                   int64_t arrival_micros);

  // Removes and returns the outcome waiting for record `id`, if any.
  std::optional<PendingOutcome> TakePending(absl::string_view id);

  // Forgets the waiting outcomes that arrived more than `grace_micros`
  // before `now_micros`; returns how many.
  int64_t ExpirePending(int64_t now_micros, int64_t grace_micros);

  // Forgets the records (and their outcomes) stored in segments not in
  // `live` (deleted by retention).
  void RemoveSegmentsNotIn(const absl::flat_hash_set<int64_t>& live);

  // Forgets everything.
  void Clear();

  int64_t records() const { return static_cast<int64_t>(records_.size()); }
  int64_t joined() const { return static_cast<int64_t>(outcomes_.size()); }
  int64_t pending() const { return static_cast<int64_t>(pending_.size()); }

 private:
  absl::flat_hash_map<std::string, RecordMeta> records_;
  absl::flat_hash_map<std::string, v1::Label> outcomes_;
  absl::flat_hash_map<std::string, PendingOutcome> pending_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_RECORD_INDEX_H_
