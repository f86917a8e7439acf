// Turning the lines of files users ingest into records, for `continuumctl
// ingest` (CSV with a header, JSON lines): pure functions over the API's
// messages, without gRPC, so that fuzz/ingest_fuzzer.cc can fuzz them.
#ifndef CONTINUUM_TOOLS_CONTINUUMCTL_RECORD_PARSING_H_
#define CONTINUUM_TOOLS_CONTINUUMCTL_RECORD_PARSING_H_

#include <string>
#include <utility>
#include <vector>

#include <google/protobuf/timestamp.pb.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"

namespace continuum::ctl {

// An RFC 3339 time (2026-11-23T10:00:00Z) or Unix seconds (fractions
// allowed). INVALID_ARGUMENT quoting the text otherwise.
absl::StatusOr<google::protobuf::Timestamp> ParseTime(absl::string_view text);

// An event-time window from --from/--to style texts (ParseTime's forms);
// an empty text leaves its end of the window unset. ParseTime's errors.
absl::StatusOr<v1::TimeWindow> ParseTimeWindow(absl::string_view from,
                                               absl::string_view to);

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

// One line of a JSON-lines file as a continuum.v1.Record (proto3 JSON).
// INVALID_ARGUMENT "not a Record in JSON: ..." otherwise.
absl::StatusOr<v1::Record> ParseJsonRecord(absl::string_view line);

}  // namespace continuum::ctl

#endif  // CONTINUUM_TOOLS_CONTINUUMCTL_RECORD_PARSING_H_
