#include "services/trainer/data_scan.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace continuum::trainer {
namespace {

void Prepare(const RowFormat& format, Rows* rows) {
  rows->input_dim = format.input_dim;
  rows->target_width = format.TargetWidth();
}

}  // namespace

absl::Status ScanRows(RunContext& context, const v1::ScanRequest& request,
                      const RowFormat& format, const ScanOptions& options,
                      Rows* rows, bool* truncated) {
  Prepare(format, rows);
  absl::Status inner;
  absl::Time last_progress =
      options.progress_at_first_batch ? absl::InfinitePast() : absl::Now();
  absl::Status s = context.collector().Scan(
      request,
      [&](const v1::RecordBatch& batch) {
        if (context.Stop()) return false;
        absl::StatusOr<bool> more =
            AppendBatch(batch, format, options.cap, rows);
        if (!more.ok()) {
          inner = more.status();
          return false;
        }
        if (!*more) *truncated = true;
        if (options.progress &&
            absl::Now() - last_progress > absl::Milliseconds(200)) {
          last_progress = absl::Now();
          context.control().Progress(options.progress(rows->size()));
        }
        return *more;
      },
      context.deadline());
  if (!inner.ok()) return inner;
  if (!s.ok()) {
    return absl::Status(
        s.code(),
        absl::StrCat("collector: scanning ", options.what, ": ", s.message()));
  }
  return context.CheckStop();
}

absl::StatusOr<ReplaySample> SampleReplay(
    RunContext& context, const RowFormat& format, int64_t count,
    const std::function<bool(uint64_t key)>& held_out) {
  v1::SampleReplayRequest request;
  request.set_dataset(context.config().dataset());
  request.set_count(count);
  request.set_seed(context.config().seed());
  request.set_batch_size(context.options().scan_batch_rows);
  request.set_only_labeled(format.OnlyLabeled());
  Rows rows;
  Prepare(format, &rows);
  absl::Status inner;
  absl::Status s = context.collector().SampleReplay(
      request,
      [&](const v1::RecordBatch& batch) {
        if (context.Stop()) return false;
        absl::StatusOr<bool> more = AppendBatch(batch, format, count, &rows);
        if (!more.ok()) {
          inner = more.status();
          return false;
        }
        return *more;
      },
      context.deadline());
  if (!inner.ok()) return inner;
  if (!s.ok()) {
    return absl::Status(
        s.code(), absl::StrCat("collector: replay sample: ", s.message()));
  }
  if (absl::Status stop = context.CheckStop(); !stop.ok()) return stop;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < rows.size(); ++i) {
    if (!held_out(rows.keys[i])) keep.push_back(i);
  }
  ReplaySample sample;
  sample.rows = rows.ToDataset(keep);
  sample.dropped = rows.size() - static_cast<int64_t>(keep.size());
  return sample;
}

}  // namespace continuum::trainer
