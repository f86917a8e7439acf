// Reading training rows from the collector, for every strategy: a Scan of
// a window or a data set, or a SampleReplay of the replay buffer, streamed
// batch by batch into Rows (training_rows.h) up to a cap, and stopped
// early when the run stops (RunContext::Stop, checked at every batch). The
// calls carry the run's deadline.
//
// Errors: the collector's code with "collector: scanning <what>: ..." or
// "collector: replay sample: ..."; FAILED_PRECONDITION or INTERNAL for a
// batch that does not fit the format (AppendBatch); CANCELLED when the run
// stopped during or right after the read.
//
// Thread safety: the run's thread.
#ifndef CONTINUUM_SERVICES_TRAINER_DATA_SCAN_H_
#define CONTINUUM_SERVICES_TRAINER_DATA_SCAN_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/model/dataset.h"
#include "services/trainer/run_context.h"
#include "services/trainer/training_rows.h"

namespace continuum::trainer {

struct ScanOptions {
  // Most rows kept; the stream is cut there.
  int64_t cap = 0;
  // What is read, for messages: "the window", "new records", ...
  std::string what;
  // The progress line to report after a batch, given the rows read so far;
  // reported at most every 200 ms of real time. Null: none.
  std::function<v1::RunProgress(int64_t rows)> progress;
  // Report after the first batch already (else only 200 ms after the start).
  bool progress_at_first_batch = true;
};

// Streams the batches `request` selects to `append`, which takes one and
// returns whether to read on (false: its cap was reached, and *truncated
// is set) or an error that ends the scan with it; `rows` says how many rows
// were kept so far, for options.progress. Stops when the run stops.
absl::Status ScanBatches(
    RunContext& context, const v1::ScanRequest& request,
    const ScanOptions& options,
    const std::function<absl::StatusOr<bool>(const v1::RecordBatch&)>& append,
    const std::function<int64_t()>& rows, bool* truncated);

// Streams the records `request` selects into `rows` (input_dim and
// target_width set from `format`). Sets *truncated when the cap cut it.
absl::Status ScanRows(RunContext& context, const v1::ScanRequest& request,
                      const RowFormat& format, const ScanOptions& options,
                      Rows* rows, bool* truncated);

// A replay sample without the rows that are held out, and the retention
// rows split off it.
struct ReplaySample {
  model::Dataset rows;
  // Rows of the sample that were held-out rows, dropped (retention rows
  // not counted).
  int64_t dropped = 0;
  // Rows from before the window set apart for evaluation (never in `rows`).
  model::Dataset retention;
  // Eligible rows found (up to RetentionSplit::rows); when fewer than
  // RetentionSplit::min_rows, `retention` is empty.
  int64_t retention_found = 0;
};

// TrainingConfig.retention_rows: the default, and the fewest rows worth a
// retention set (the registry's default min_sample_count).
inline constexpr int64_t kDefaultRetentionRows = 1000;
inline constexpr int64_t kMinRetentionRows = 100;
// TrainingConfig.holdout_fraction's default.
inline constexpr double kDefaultHoldoutFraction = 0.1;

// Keeps the first `n` rows of `data`.
void KeepFirstRows(int64_t n, model::Dataset* data);

// Which rows of a replay sample become retention rows.
struct RetentionSplit {
  // The first `rows` rows of the sample (in its order) that `eligible`
  // accepts are retention rows. 0: none.
  int64_t rows = 0;
  // Fewer such rows than this: no retention rows (they are dropped).
  int64_t min_rows = 0;
  // Whether the row with a key may be a retention row.
  std::function<bool(uint64_t key)> eligible;
};

// Reads a replay sample of at most `count` rows of the run's data set
// (SampleReplay seeded with the run's seed; labelled rows only when
// `format` needs labels), splits off the retention rows `retention` asks
// for, and drops the other rows whose key `held_out` says is held out.
absl::StatusOr<ReplaySample> SampleReplay(
    RunContext& context, const RowFormat& format, int64_t count,
    const std::function<bool(uint64_t key)>& held_out,
    const RetentionSplit& retention = {});

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_DATA_SCAN_H_
