#include "services/trainer/federated_settings.h"

#include "absl/strings/str_cat.h"
#include "lib/core/resource_names.h"

namespace continuum::trainer {
namespace {

absl::Status Broken(absl::string_view path, absl::string_view field,
                    absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ".", field, ": ", what));
}

}  // namespace

absl::Status CheckFederatedConfig(const v1::FederatedConfig& config,
                                  absl::string_view path) {
  if (!v1::Aggregation_IsValid(config.aggregation())) {
    return Broken(path, "aggregation",
                  absl::StrCat(config.aggregation(),
                               " is not a value of continuum.v1.Aggregation"));
  }
  // Written so that NaN breaks each rule.
  if (!(config.fedprox_mu() >= 0)) {
    return Broken(path, "fedprox_mu",
                  absl::StrCat("must be >= 0 (got ", config.fedprox_mu(), ")"));
  }
  if (!(config.trim_fraction() >= 0)) {
    return Broken(
        path, "trim_fraction",
        absl::StrCat("must be >= 0 (got ", config.trim_fraction(), ")"));
  }
  if (!(config.trim_fraction() < 0.5)) {
    return Broken(
        path, "trim_fraction",
        absl::StrCat("must be < 0.5 (got ", config.trim_fraction(), ")"));
  }
  const v1::DifferentialPrivacyConfig& dp = config.differential_privacy();
  if (dp.clip_norm() != 0 && !(dp.clip_norm() > 0)) {
    return Broken(path, "differential_privacy.clip_norm",
                  absl::StrCat("must be > 0 (got ", dp.clip_norm(), ")"));
  }
  if (dp.noise_multiplier() != 0 && !(dp.noise_multiplier() > 0)) {
    return Broken(
        path, "differential_privacy.noise_multiplier",
        absl::StrCat("must be > 0 (got ", dp.noise_multiplier(), ")"));
  }
  if (!config.site_id().empty()) {
    if (absl::Status s = core::ValidateResourceId("site", config.site_id());
        !s.ok()) {
      return Broken(path, "site_id", s.message());
    }
  }
  return absl::OkStatus();
}

}  // namespace continuum::trainer
