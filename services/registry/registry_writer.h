// RegistryWriter: the context of one registry operation inside a store
// transaction (registry_store.h): the transaction, the operation's time and
// its caller. It reads models and versions with the registry's NOT_FOUND
// messages and makes the writes every operation shares, each audited in the
// hash chain (audit_chain.h):
//   Transition  a version's state change, checked against version_state.h;
//   Deploy      a new deployment revision of a model (what inference pods
//               follow through WatchDeployments);
//   SaveRollout a model's rollout with its audit entry;
//   Audit       an audit entry.
// Nothing it writes is visible before the transaction commits; on an error
// the caller returns it and the whole transaction rolls back.
//
// One per transaction, used by the one thread that runs it: not
// thread-safe (the store serializes transactions).
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_WRITER_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_WRITER_H_

#include <google/protobuf/message.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry_store.h"

namespace continuum::registry {

// Who is calling, for the audit log.
struct Caller {
  // From the request's metadata (core::ActorOf in the handlers: the
  // x-continuum-actor metadata, else "anonymous" until auth exists);
  // "registry" for automatic steps.
  std::string actor = "anonymous";
};

// What a deployment revision serves: the stable version, a canary with its
// share of the traffic, a shadow with the share of requests copied to it
// (0 = none; a share is ignored without its version).
struct Serving {
  int64_t stable = 0;
  int64_t canary = 0;
  int32_t canary_percent = 0;
  int64_t shadow = 0;
  int32_t shadow_percent = 0;
  v1::RoutingMode routing = v1::ROUTING_MODE_UNSPECIFIED;
};

class RegistryWriter {
 public:
  RegistryWriter(RegistryTx& tx, absl::Time now, const Caller& caller)
      : tx_(tx), now_(now), caller_(caller) {}

  RegistryTx& tx() { return tx_; }
  absl::Time now() const { return now_; }
  const std::string& actor() const { return caller_.actor; }
  // The revision of the last deployment Deploy made, 0 if none.
  int64_t new_revision() const { return new_revision_; }

  // Appends an audit entry: `before` and `after` (either may be null) are
  // recorded as JSON with the proto field names.
  absl::Status Audit(const std::string& action, const std::string& object,
                     const google::protobuf::Message* before,
                     const google::protobuf::Message* after,
                     const std::string& reason);

  // Stores `rollout` as its model's and audits `action` on `model_name`
  // with the rollout as the after-state.
  absl::Status SaveRollout(const std::string& model_name,
                           const v1::Rollout& rollout,
                           const std::string& action,
                           const std::string& reason);

  // The model `id`; NOT_FOUND "model "x" is not registered; register it
  // with RegisterModel".
  absl::StatusOr<v1::Model> Model(const std::string& id);
  // Version `number` of `model`; NOT_FOUND "models/x/versions/n does not
  // exist".
  absl::StatusOr<v1::Version> Version(const std::string& model, int64_t number);

  // Moves `version` (of `model`) to `to`: FAILED_PRECONDITION naming the
  // current state when illegal (CheckTransition); else appends to its state
  // history, stores it and audits "version.transition".
  absl::Status Transition(const std::string& model, v1::Version* version,
                          v1::VersionState to, const std::string& reason,
                          bool rollback = false);

  // Makes the next registry-wide deployment revision of `model` serve
  // `serving`, with each version's artifact digest and size; updates the
  // model's deployment_revision, production_version and its "production"
  // and "canary" aliases, and stores it.
  absl::StatusOr<v1::Deployment> Deploy(v1::Model* model,
                                        const Serving& serving,
                                        const std::string& reason);

 private:
  RegistryTx& tx_;
  const absl::Time now_;
  const Caller& caller_;
  int64_t new_revision_ = 0;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_WRITER_H_
