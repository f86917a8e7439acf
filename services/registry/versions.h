// Model versions: their names, the checks of an upload's metadata, the
// version an upload creates, resolving `latest` and aliases, listing with a
// filter, tags, and SubmitValidation (which starts a validated version's
// rollout). TransitionVersion is in transitions.h.
//
// The functions that take a RegistryWriter or a RegistryTx run inside the
// caller's store transaction (not thread-safe on their own; the store
// serializes transactions) and write nothing visible before it commits; the
// others are pure. Errors are INVALID_ARGUMENT for bad input (naming the
// field), NOT_FOUND for a missing model or version, FAILED_PRECONDITION for
// a state that forbids the call (naming the state).
#ifndef CONTINUUM_SERVICES_REGISTRY_VERSIONS_H_
#define CONTINUUM_SERVICES_REGISTRY_VERSIONS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/list_filters.h"
#include "services/registry/registry_store.h"
#include "services/registry/registry_writer.h"

namespace continuum::registry {

// "models/{model}/versions/{version}".
std::string VersionName(absl::string_view model, int64_t version);

// A parsed version name: the model id and the version token (a number,
// "latest" or an alias), with the number when the token is one.
struct VersionRef {
  std::string model;
  std::string token;
  int64_t number = 0;  // 0 unless `token` is a version number
};

// Parses "models/{model}/versions/{token}" (the model id validated). The
// token is a version number (a positive decimal without sign or leading
// zero: "7"), "latest", or an alias ([a-z][a-z0-9_-]{0,62}); anything else
// ("0", "-1", "+1", "07", "1.5") is INVALID_ARGUMENT:
//   name "models/fraud/versions/07": the version must be a number from 1
//   without sign or leading zero (e.g. 7), "latest" or an alias
absl::StatusOr<VersionRef> ParseVersionName(absl::string_view name);

// A version name that must hold a number, for `method` (e.g.
// "TransitionVersion"): INVALID_ARGUMENT "TransitionVersion needs a version
// number" otherwise.
struct VersionNumber {
  std::string model;
  int64_t number = 0;
};
absl::StatusOr<VersionNumber> ParseVersionNumber(absl::string_view name,
                                                 absl::string_view method);

// Checks an upload's metadata before any byte is read: the model id, a
// well-formed claimed SHA-256, a non-negative size, a parent of the same
// model, at most 1 MiB of metadata, and a usable validation report if
// there is one.
absl::Status CheckUploadMetadata(const v1::UploadVersionMetadata& metadata);

// The version an upload creates: number `number`, REGISTERED, with the
// metadata's lineage and the verified digest and size.
v1::Version NewVersion(const v1::UploadVersionMetadata& metadata,
                       int64_t number, const std::string& sha256,
                       int64_t size_bytes, absl::Time now,
                       const std::string& actor);

// Registers the uploaded artifact `sha256` as the model's next version
// (audited "version.upload"), or returns the version that already has these
// bytes (created = false).
absl::StatusOr<v1::UploadVersionResponse> CreateVersion(
    RegistryWriter& w, const v1::UploadVersionMetadata& metadata,
    const std::string& sha256, int64_t size_bytes);

// The version `ref` names, with the aliases that point at it. NOT_FOUND
// "model x has no version or alias "y"" / "model x has no versions".
absl::StatusOr<v1::Version> ResolveVersion(RegistryWriter& w,
                                           const VersionRef& ref);

// One page of ListVersions: versions of `model` with a number below
// `before` (0 = from the newest), newest first, that match `filter`, at
// most `page_size`; next_page_token (the last number, in a
// core::EncodePageToken of `query`) set when more may follow. `brief`
// drops the state history, manifest and validation report.
absl::StatusOr<v1::ListVersionsResponse> ListVersionsPage(
    RegistryTx& tx, const std::string& model, const VersionFilter& filter,
    int64_t before, int page_size, bool brief, absl::string_view query);

// Sets and removes tags of version `number` of `model` (audited
// "version.tags").
absl::StatusOr<v1::Version> ApplySetTags(RegistryWriter& w,
                                         const std::string& model,
                                         int64_t number,
                                         const v1::SetTagsRequest& request);

// SubmitValidation: VALIDATING, the model's gates applied to `report`, then
// VALIDATED or REJECTED with the decision stored; a validated version starts
// the model's rollout plan unless it says manual_start or another rollout
// is active (it then waits in VALIDATED for Registry::Tick).
absl::StatusOr<v1::SubmitValidationResponse> ApplyValidation(
    RegistryWriter& w, const VersionNumber& version,
    const v1::ValidationReport& report);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_VERSIONS_H_
