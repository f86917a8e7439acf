// Where the prediction log (prediction_logger.h) delivers the rows it keeps:
// the rows themselves and the interface of one destination. Plain C++: the
// gRPC destinations (the collector, the drift service) are in
// prediction_sinks.h, fakes in the tests.
#ifndef CONTINUUM_SERVICES_INFERENCE_PREDICTION_SINK_H_
#define CONTINUUM_SERVICES_INFERENCE_PREDICTION_SINK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "continuum/v1/common.pb.h"
#include "google/protobuf/map.h"

namespace continuum::inference {

// What the rows of one logged request share.
struct LoggedRequest {
  std::string model;
  int64_t version = 0;
  int64_t revision = 0;
  v1::ServingRole role = v1::SERVING_ROLE_UNSPECIFIED;
  std::string request_id;
  google::protobuf::Map<std::string, std::string> attributes;
  // Approximate serialized size of `attributes`.
  int64_t attribute_bytes = 0;
  absl::Time event_time;
};

// One kept row. Immutable once queued: shared, read-only, by the queues of
// every sink.
struct LoggedRow {
  std::shared_ptr<const LoggedRequest> request;
  std::string id;
  std::vector<float> features;
  std::vector<float> outputs;
  std::optional<int32_t> predicted_class;
  std::optional<float> score;
  std::optional<bool> anomaly;
};
using LoggedRowPtr = std::shared_ptr<const LoggedRow>;

// One destination of logged rows. The logger gives each sink its own queue
// and thread (a sink that is down or slow never delays another), cuts the
// queue into batches and calls Send on each with a deadline.
//
// Thread safety: Send may be called from several threads at once (the
// sink's thread and callers of PredictionLogger::Flush).
class PredictionSink {
 public:
  // Reports the outcome of one call that carried `rows` rows: OK = sent;
  // any other status = dropped, counted with reason = the code's name in
  // lower case (`unavailable`, `not_found`, ...). `what` names the batch
  // in the (rate-limited) warning, e.g. "data set 'fraud'".
  using Report = absl::FunctionRef<void(
      int64_t rows, const absl::Status& status, absl::string_view what)>;

  virtual ~PredictionSink() = default;

  // The sink's `sink` label in the metrics, e.g. "collector".
  virtual absl::string_view name() const = 0;

  // Delivers `rows` (in as many calls as the destination needs), each call
  // ending by `deadline`, and reports every call's outcome through `report`
  // before returning: every row is reported exactly once. Never retries a
  // failed call, except that a batch the destination refuses as
  // INVALID_ARGUMENT is split and its halves sent again, so that only the
  // rows refused on their own are dropped, never their neighbours.
  virtual void Send(absl::Span<const LoggedRowPtr> rows, absl::Time deadline,
                    Report report) = 0;
};

// Requests of a sink are cut below gRPC's default 4 MiB receive limit.
inline constexpr int64_t kMaxSinkRequestBytes = 3 << 20;

// The approximate serialized size of `row` in a request.
int64_t ApproxBytes(const LoggedRow& row);

// Cuts `rows` into runs of at most `max_bytes` approximate bytes (a larger
// row goes alone) and calls `send` on each, in order.
void ForEachChunk(
    absl::Span<const LoggedRow* const> rows,
    absl::FunctionRef<void(absl::Span<const LoggedRow* const>)> send,
    int64_t max_bytes = kMaxSinkRequestBytes);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_PREDICTION_SINK_H_
