// continuumctl commands for the collector:
//   datasets create|get|list|delete|stats   manage data sets
//   ingest --dataset=D --csv=FILE | --jsonl=FILE   load records
//   export --dataset=D [--from=T] [--to=T] [--format=csv] [--output=FILE]
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_COLLECTOR_COMMANDS_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_COLLECTOR_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"

namespace continuum::ctl {

// Splits one CSV line into fields (RFC 4180 quoting: "a, b" and "" inside
// quotes). INVALID_ARGUMENT for an unterminated quote.
absl::StatusOr<std::vector<std::string>> SplitCsvLine(absl::string_view line);

// How the columns of a CSV header map to a record: `id` (required),
// `event_time` (RFC 3339 or Unix seconds; empty = now), `label` (class
// index, value, or vector values separated by ';'), `attr.KEY` attributes;
// every other column is a feature, in order.
struct CsvLayout {
  int id = -1;
  int event_time = -1;
  int label = -1;
  std::vector<std::pair<int, std::string>> attributes;
  std::vector<int> features;
};

// Reads a header line. INVALID_ARGUMENT if `id` is missing or the number of
// feature columns differs from the schema's feature_dim.
absl::StatusOr<CsvLayout> ParseCsvHeader(const std::vector<std::string>& header,
                                         const v1::DatasetSchema& schema);

// Turns one CSV row into a record. INVALID_ARGUMENT names the column.
absl::StatusOr<v1::Record> ParseCsvRow(const std::vector<std::string>& row,
                                       const CsvLayout& layout,
                                       const v1::DatasetSchema& schema);

int RunDatasetsCommand(const std::vector<std::string>& args);
int RunIngestCommand(const std::vector<std::string>& args);
int RunExportCommand(const std::vector<std::string>& args);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_COLLECTOR_COMMANDS_H_
