// The rules of protos/continuum/v1/field_rules.proto, checked.
//
// Every request a service receives is checked against the
// `(continuum.v1.rules)` options of its fields (and of the fields of the
// messages it holds) before the service acts on it; the first field that
// breaks a rule is named in an INVALID_ARGUMENT, by its path in the
// request:
//   model_id: required
//   records[3].id: at most 128 bytes (got 200)
//   model.family: 99 is not a value of continuum.v1.ModelFamily
//   batch_size: must be >= 0 (got -1)
//   parent: name "model/x" is not of the form models/{model}
//   model_id: model id "Fraud" must match [a-z0-9][a-z0-9._-]{0,62}
// Rules other than `required` apply only to set fields (field_rules.proto).
//
// The checks walk the message by reflection along a plan computed once per
// message type (which fields carry rules, which hold messages that do), so
// a request with no rules costs a map lookup. Thread-safe.
#ifndef CONTINUUM_LIB_CORE_FIELD_RULES_H_
#define CONTINUUM_LIB_CORE_FIELD_RULES_H_

#include <google/protobuf/message.h>

#include "absl/status/status.h"

namespace continuum::core {

// OK, or INVALID_ARGUMENT naming the first field (in declaration order,
// depth first) that breaks its rules.
absl::Status CheckFieldRules(const google::protobuf::Message& message);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_FIELD_RULES_H_
