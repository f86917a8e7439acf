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

absl::Status ScanBatches(
    RunContext& context, const v1::ScanRequest& request,
    const ScanOptions& options,
    const std::function<absl::StatusOr<bool>(const v1::RecordBatch&)>& append,
    const std::function<int64_t()>& rows, bool* truncated) {
  absl::Status inner;
  absl::Time last_progress =
      options.progress_at_first_batch ? absl::InfinitePast() : absl::Now();
  absl::Status s = context.collector().Scan(
      request,
      [&](const v1::RecordBatch& batch) {
        if (context.Stop()) return false;
        absl::StatusOr<bool> more = append(batch);
        if (!more.ok()) {
          inner = more.status();
          return false;
        }
        if (!*more) *truncated = true;
        if (options.progress &&
            absl::Now() - last_progress > absl::Milliseconds(200)) {
          last_progress = absl::Now();
          context.control().Progress(options.progress(rows()));
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

absl::Status ScanRows(RunContext& context, const v1::ScanRequest& request,
                      const RowFormat& format, const ScanOptions& options,
                      Rows* rows, bool* truncated) {
  Prepare(format, rows);
  return ScanBatches(
      context, request, options,
      [&](const v1::RecordBatch& batch) {
        return AppendBatch(batch, format, options.cap, rows);
      },
      [&] { return rows->size(); }, truncated);
}

void KeepFirstRows(int64_t n, model::Dataset* data) {
  const int64_t size = data->size();
  if (size <= n) return;
  const size_t width = data->targets.size() / static_cast<size_t>(size);
  data->features.resize(static_cast<size_t>(n) * data->input_dim);
  data->targets.resize(static_cast<size_t>(n) * width);
}

absl::StatusOr<ReplaySample> SampleReplay(
    RunContext& context, const RowFormat& format, int64_t count,
    const std::function<bool(uint64_t key)>& held_out,
    const RetentionSplit& retention) {
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
  std::vector<int64_t> keep, retained;
  ReplaySample sample;
  for (int64_t i = 0; i < rows.size(); ++i) {
    const uint64_t key = rows.keys[i];
    if (static_cast<int64_t>(retained.size()) < retention.rows &&
        retention.eligible(key)) {
      retained.push_back(i);
    } else if (held_out(key)) {
      ++sample.dropped;
    } else {
      keep.push_back(i);
    }
  }
  sample.retention_found = static_cast<int64_t>(retained.size());
  if (sample.retention_found < retention.min_rows) retained.clear();
  sample.rows = rows.ToDataset(keep);
  sample.retention = rows.ToDataset(retained);
  return sample;
}

}  // namespace continuum::trainer
