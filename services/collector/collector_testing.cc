#include "services/collector/collector_testing.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {

v1::Label ClassLabel(int class_index) {
  v1::Label label;
  label.set_class_index(class_index);
  return label;
}

v1::Record TestRecord(const std::string& id, int64_t event_micros,
                      const std::vector<float>& features, int class_index) {
  v1::Record r;
  r.set_id(id);
  *r.mutable_event_time() = core::TimestampFromUnixMicros(event_micros);
  for (float f : features) r.add_features(f);
  if (class_index >= 0) *r.mutable_label() = ClassLabel(class_index);
  return r;
}

v1::IngestRequest TestIngestRequest(const std::string& dataset, int first,
                                    int n) {
  v1::IngestRequest request;
  request.set_dataset(dataset);
  for (int i = first; i < first + n; ++i) {
    v1::Record* r = request.add_records();
    r->set_id(absl::StrCat(i));
    r->mutable_event_time()->set_seconds(1'700'000'000 + i);
    r->add_features(i);
    r->add_features(i);
  }
  return request;
}

absl::StatusOr<std::unique_ptr<store::SegmentLog>> OpenTempLog(
    const std::string& prefix) {
  store::SegmentLogOptions options;
  options.dir = testing::MakeTempDir(prefix) + "/records";
  return store::SegmentLog::Open(options, nullptr);
}

bool IngestLabel(const v1::Record& record, v1::Label* label) {
  if (!record.has_label()) return false;
  *label = record.label();
  return true;
}

}  // namespace continuum::collector
