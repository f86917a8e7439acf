// continuumctl ingest's parsers (tools/continuumctl/record_parsing.h) on
// any bytes: the first line as a CSV header, the others as rows, under a
// schema whose label kind the first byte picks; every line also as a JSON
// record. Each answers a record or INVALID_ARGUMENT, never crashes; a row
// that parses has exactly the schema's number of features.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "tools/continuumctl/record_parsing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = continuum::v1;
  namespace ctl = continuum::ctl;
  if (size == 0) return 0;
  v1::DatasetSchema schema;
  schema.set_feature_dim(data[0] % 5);
  static constexpr v1::LabelKind kKinds[] = {
      v1::LABEL_KIND_NONE, v1::LABEL_KIND_CLASS, v1::LABEL_KIND_VALUE,
      v1::LABEL_KIND_VECTOR};
  schema.set_label_kind(kKinds[(data[0] >> 3) % 4]);
  schema.set_num_classes(10);
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  absl::StatusOr<std::vector<std::string>> header =
      ctl::SplitCsvLine(lines[0]);
  absl::StatusOr<ctl::CsvLayout> layout =
      header.ok() ? ctl::ParseCsvHeader(*header, schema)
                  : absl::StatusOr<ctl::CsvLayout>(header.status());
  for (const std::string& line : lines) {
    (void)ctl::ParseJsonRecord(line);
    (void)ctl::ParseTime(line);
    if (!layout.ok()) continue;
    absl::StatusOr<std::vector<std::string>> row = ctl::SplitCsvLine(line);
    if (!row.ok()) continue;
    absl::StatusOr<v1::Record> record = ctl::ParseCsvRow(*row, *layout, schema);
    if (record.ok() && record->features_size() != schema.feature_dim()) {
      __builtin_trap();
    }
  }
  return 0;
}
