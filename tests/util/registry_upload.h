// Registry calls the integration tests share.
#ifndef CONTINUUM_TESTS_UTIL_REGISTRY_UPLOAD_H_
#define CONTINUUM_TESTS_UTIL_REGISTRY_UPLOAD_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"

namespace continuum::testing {

// Uploads `bytes` as a new version of `model` in one chunk, with a
// validation report that passes the default gates (held-out loss 0.2,
// accuracy 0.8, 1000 samples): the registry validates it and, with the
// immediate plan, deploys it. Returns the version, or the call's error.
absl::StatusOr<v1::Version> UploadValidatedVersion(
    v1::RegistryService::Stub& stub, const std::string& model,
    const std::string& bytes, absl::Duration timeout = absl::Seconds(30));

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_REGISTRY_UPLOAD_H_
