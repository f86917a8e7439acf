// Models: the checks of a model a client registers or updates, listing
// with a filter, and user aliases (the registry keeps "production",
// "canary" and "latest" itself).
//
// The functions that take a RegistryWriter or a RegistryTx run inside the
// caller's store transaction (not thread-safe on their own; the store
// serializes transactions); the others are pure. Errors: INVALID_ARGUMENT
// naming the field, ALREADY_EXISTS, NOT_FOUND naming the model or alias.
#ifndef CONTINUUM_SERVICES_REGISTRY_MODELS_H_
#define CONTINUUM_SERVICES_REGISTRY_MODELS_H_

#include <google/protobuf/field_mask.pb.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/list_filters.h"
#include "services/registry/registry_store.h"
#include "services/registry/registry_writer.h"

namespace continuum::registry {

// Checks a RegisterModel request: the id, a family that is a ModelFamily
// value (and a spec of the same family), the validation policy, the
// rollout plan and the retention.
absl::Status CheckNewModel(const v1::RegisterModelRequest& request);

// Stores the model of a checked RegisterModel request with its output-only
// fields reset (audited "model.register"); ALREADY_EXISTS if the id is
// taken.
absl::StatusOr<v1::Model> CreateModel(RegistryWriter& w,
                                      const v1::RegisterModelRequest& request);

// One page of ListModels: models with an id after `after`, by id, that
// match `filter`, at most `page_size`; next_page_token (the last id, in a
// core::EncodePageToken of `query`) set when the page is full.
absl::StatusOr<v1::ListModelsResponse> ListModelsPage(RegistryTx& tx,
                                                      const ModelFilter& filter,
                                                      const std::string& after,
                                                      int page_size,
                                                      absl::string_view query);

// The ids of every model, in order.
absl::StatusOr<std::vector<std::string>> AllModelIds(RegistryTx& tx);

// Checks an UpdateModel mask: not empty, only mutable fields.
absl::Status CheckUpdateMask(const google::protobuf::FieldMask& mask);

// Merges the masked fields of request.model into model `id`, checks the
// policy, plan and spec family that result, stores it (audited
// "model.update").
absl::StatusOr<v1::Model> ApplyModelUpdate(
    RegistryWriter& w, const std::string& id,
    const v1::UpdateModelRequest& request);

// Points alias request.alias of model `id` at request.version (which must
// exist), audited "alias.set". INVALID_ARGUMENT for an alias the registry
// keeps (production, canary, shadow, latest), a number, or one that does
// not match [a-z][a-z0-9_-]{0,62}.
absl::StatusOr<v1::Model> ApplySetAlias(RegistryWriter& w,
                                        const std::string& id,
                                        const v1::SetAliasRequest& request);

// Removes a user alias of model `id`, audited "alias.delete";
// INVALID_ARGUMENT for an alias the registry keeps.
absl::StatusOr<v1::Model> ApplyDeleteAlias(
    RegistryWriter& w, const std::string& id,
    const v1::DeleteAliasRequest& request);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_MODELS_H_
