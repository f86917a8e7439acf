#include "services/drift/observe_stream.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lib/core/field_rules.h"

namespace continuum::drift_service {
namespace {

// "(2 earlier batches of this stream were processed)".
std::string EarlierBatches(int64_t n) {
  if (n == 0) return "(no earlier batch of this stream was processed)";
  if (n == 1) return "(1 earlier batch of this stream was processed)";
  return absl::StrCat("(", n,
                      " earlier batches of this stream were processed)");
}

}  // namespace

absl::Status ObserveStream::Add(const v1::ObserveRequest& request) {
  const int64_t index = response_.batches();
  auto failed = [&](const absl::Status& s) {
    return absl::Status(s.code(),
                        absl::StrCat("batch ", index, ": ", s.message(), " ",
                                     EarlierBatches(index)));
  };
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) {
    return failed(s);
  }
  absl::StatusOr<ObserveResult> result = monitor_->Observe(request.batch());
  if (!result.ok()) return failed(result.status());
  response_.set_batches(index + 1);
  response_.set_observations(response_.observations() + result->observations);
  response_.set_outcomes(response_.outcomes() + result->outcomes);
  return absl::OkStatus();
}

absl::Status ObserveStream::Unparsable(const absl::Status& parse_error) const {
  const int64_t n = response_.batches();
  return absl::Status(
      parse_error.code(),
      absl::StrCat(
          parse_error.message(), "; ",
          n == 0 ? "no batch before it was processed"
          : n == 1
              ? "the 1 batch before it was processed"
              : absl::StrCat("the ", n, " batches before it were processed")));
}

}  // namespace continuum::drift_service
