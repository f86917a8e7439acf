// Test-only helpers of the collector's unit tests: labels, records, and a
// records log in a fresh temporary directory.
#ifndef CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_TESTING_H_
#define CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_TESTING_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/store/segment_log.h"

namespace continuum::collector {

// 2026-11-20T00:00:00Z, in microseconds since the Unix epoch.
inline constexpr int64_t kTestDay0Micros = int64_t{1'795'132'800} * 1'000'000;

// A class label.
v1::Label ClassLabel(int class_index);

// Record `id` at `event_micros` with `features`, labelled `class_index`
// when it is >= 0.
v1::Record TestRecord(const std::string& id, int64_t event_micros,
                      const std::vector<float>& features, int class_index = -1);

// An IngestRequest for data set `dataset` (may be empty) with unlabelled
// records "<first>".."<first + n - 1>" of two features (both i), event time
// 1700000000 + i seconds.
v1::IngestRequest TestIngestRequest(const std::string& dataset, int first,
                                    int n);

// A segment log in DIR/records of a fresh temporary directory named after
// `prefix`.
absl::StatusOr<std::unique_ptr<store::SegmentLog>> OpenTempLog(
    const std::string& prefix);

// The label of a record in a data set without outcomes: its ingest label
// (a LabelOf for RecordScan and ReplaySample).
bool IngestLabel(const v1::Record& record, v1::Label* label);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_TESTING_H_
