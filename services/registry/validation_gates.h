// The registry's validation gates: a pure function from a model's
// ValidationPolicy and a candidate's ValidationReport to a decision with the
// result of every gate (passed, failed or skipped) and its numbers.
#ifndef CONTINUUM_SERVICES_REGISTRY_VALIDATION_GATES_H_
#define CONTINUUM_SERVICES_REGISTRY_VALIDATION_GATES_H_

#include "absl/status/status.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// Checks a policy's values: percentages, points and rates not NaN, the
// output range ordered, FPR within [0, 1] when set, retention set names of
// 1 to 63 characters. INVALID_ARGUMENT names the field.
absl::Status ValidatePolicy(const v1::ValidationPolicy& policy);

// Checks a report is usable: at least one evaluation, each with a set name
// and candidate metrics. INVALID_ARGUMENT names the problem.
absl::Status ValidateReport(const v1::ValidationReport& report);

// Applies every gate of `policy` to every evaluation set of `report`
// (defaults as documented in registry.proto: loss +20 %, accuracy -2
// points, FPR 5 %, 100 rows, the `held_out` set required). The held-out set
// must also gain at least 0 points of accuracy on production (adaptation);
// retention sets (`golden`, `retention`) take their own bounds instead of
// the loss and accuracy ones: -3 points, loss +50 % (retention). The
// decision's `version`, `decide_time` and `report` are left for the caller.
v1::ValidationDecision ApplyGates(const v1::ValidationPolicy& policy,
                                  const v1::ValidationReport& report);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_VALIDATION_GATES_H_
