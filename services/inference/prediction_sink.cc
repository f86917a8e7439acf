#include "services/inference/prediction_sink.h"

namespace continuum::inference {

int64_t ApproxBytes(const LoggedRow& row) {
  return 64 + static_cast<int64_t>(row.id.size()) +
         4 * static_cast<int64_t>(row.features.size() + row.outputs.size()) +
         static_cast<int64_t>(row.request->request_id.size()) +
         row.request->attribute_bytes;
}

void ForEachChunk(
    absl::Span<const LoggedRow* const> rows,
    absl::FunctionRef<void(absl::Span<const LoggedRow* const>)> send,
    int64_t max_bytes) {
  size_t begin = 0;
  int64_t bytes = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t row_bytes = ApproxBytes(*rows[i]);
    if (i > begin && bytes + row_bytes > max_bytes) {
      send(rows.subspan(begin, i - begin));
      begin = i;
      bytes = 0;
    }
    bytes += row_bytes;
  }
  if (begin < rows.size()) send(rows.subspan(begin));
}

}  // namespace continuum::inference
