#include "services/trainer/federated_settings.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/resource_names.h"
#include "lib/federated/secure_aggregation.h"

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
  // Counts and sizes: >= 0 (0 = the default).
  const std::pair<const char*, int64_t> counts[] = {
      {"byzantine_sites", config.byzantine_sites()},
      {"multi_krum_selected", config.multi_krum_selected()},
      {"min_sites", config.min_sites()},
      {"max_sites", config.max_sites()},
      {"local_epochs", config.local_epochs()},
      {"local_batch_size", config.local_batch_size()},
      {"outlier_exclusion.exclude_after",
       config.outlier_exclusion().exclude_after()}};
  for (const auto& [field, value] : counts) {
    if (value < 0) {
      return Broken(path, field,
                    absl::StrCat("must be >= 0 (got ", value, ")"));
    }
  }
  if (config.max_sites() != 0 && config.max_sites() < config.min_sites()) {
    return Broken(path, "max_sites",
                  absl::StrCat("must be >= min_sites (got ", config.max_sites(),
                               " < ", config.min_sites(), ")"));
  }
  for (const auto& [field, d] :
       {std::pair<const char*, const google::protobuf::Duration*>{
            "join_timeout", &config.join_timeout()},
        {"submit_timeout", &config.submit_timeout()}}) {
    if (d->seconds() < 0 || d->nanos() < 0) {
      return Broken(path, field, "must be positive when set");
    }
  }
  const std::pair<const char*, double> non_negative[] = {
      {"local_learning_rate", config.local_learning_rate()},
      {"outlier_exclusion.norm_threshold",
       config.outlier_exclusion().norm_threshold()},
      {"differential_privacy.max_epsilon", dp.max_epsilon()},
      {"differential_privacy.adaptive_clipping.learning_rate",
       dp.adaptive_clipping().learning_rate()},
      {"differential_privacy.adaptive_clipping.count_stddev",
       dp.adaptive_clipping().count_stddev()},
      {"secure_aggregation.fixed_point_scale",
       config.secure_aggregation().fixed_point_scale()},
      {"server_optimizer.learning_rate",
       config.server_optimizer().learning_rate()},
      {"server_optimizer.tau", config.server_optimizer().tau()}};
  for (const auto& [field, value] : non_negative) {
    if (!(value >= 0) || std::isinf(value)) {
      return Broken(path, field,
                    absl::StrCat("must be >= 0 (got ", value, ")"));
    }
  }
  // Fractions in [0, 1) (0 = the default).
  const std::pair<const char*, double> fractions[] = {
      {"differential_privacy.target_delta", dp.target_delta()},
      {"differential_privacy.adaptive_clipping.target_quantile",
       dp.adaptive_clipping().target_quantile()},
      {"server_optimizer.beta1", config.server_optimizer().beta1()},
      {"server_optimizer.beta2", config.server_optimizer().beta2()}};
  for (const auto& [field, value] : fractions) {
    if (!(value >= 0 && value < 1)) {
      return Broken(path, field,
                    absl::StrCat("must be in [0, 1) (got ", value, ")"));
    }
  }
  if (!v1::ServerOptimizer_IsValid(config.server_optimizer().optimizer())) {
    return Broken(path, "server_optimizer.optimizer",
                  absl::StrCat(config.server_optimizer().optimizer(),
                               " is not a value of continuum.v1.ServerOptimizer"));
  }
  const double z = dp.noise_multiplier();
  const double sigma_b = dp.adaptive_clipping().count_stddev();
  if (dp.adaptive_clipping().enabled() && z > 0 && sigma_b > 0 &&
      !(2 * sigma_b > z)) {
    return Broken(path, "differential_privacy.adaptive_clipping.count_stddev",
                  absl::StrCat("must exceed half the noise multiplier (got ",
                               sigma_b, " for noise_multiplier ", z, ")"));
  }
  if (config.secure_aggregation().enabled()) {
    const v1::Aggregation a = config.aggregation();
    if (a != v1::AGGREGATION_UNSPECIFIED && a != v1::AGGREGATION_FEDAVG &&
        a != v1::AGGREGATION_FEDPROX) {
      return Broken(path, "secure_aggregation.enabled",
                    absl::StrCat("cannot be combined with ",
                                 v1::Aggregation_Name(a),
                                 ": the coordinator sees only the sum of the "
                                 "updates; use AGGREGATION_FEDAVG or "
                                 "AGGREGATION_FEDPROX"));
    }
    if (config.outlier_exclusion().enabled()) {
      return Broken(path, "secure_aggregation.enabled",
                    "cannot be combined with outlier_exclusion: the "
                    "coordinator sees only the sum of the updates");
    }
  }
  if (!config.site_id().empty()) {
    if (absl::Status s = core::ValidateResourceId("site", config.site_id());
        !s.ok()) {
      return Broken(path, "site_id", s.message());
    }
  }
  return absl::OkStatus();
}

v1::FederatedConfig ResolveFederatedConfig(const v1::FederatedConfig& in) {
  v1::FederatedConfig c = in;
  if (c.aggregation() == v1::AGGREGATION_UNSPECIFIED) {
    c.set_aggregation(v1::AGGREGATION_FEDAVG);
  }
  if (c.aggregation() == v1::AGGREGATION_FEDPROX && c.fedprox_mu() == 0) {
    c.set_fedprox_mu(0.01);
  }
  if (c.trim_fraction() == 0) c.set_trim_fraction(0.1);
  if (c.min_sites() == 0) c.set_min_sites(2);
  if (!c.has_join_timeout()) c.mutable_join_timeout()->set_seconds(300);
  if (!c.has_submit_timeout()) c.mutable_submit_timeout()->set_seconds(1800);
  if (c.local_epochs() == 0) c.set_local_epochs(1);
  if (c.local_batch_size() == 0) c.set_local_batch_size(64);
  v1::DifferentialPrivacyConfig* dp = c.mutable_differential_privacy();
  if (dp->target_delta() == 0) dp->set_target_delta(1e-5);
  v1::AdaptiveClippingConfig* ac = dp->mutable_adaptive_clipping();
  if (ac->target_quantile() == 0) ac->set_target_quantile(0.5);
  if (ac->learning_rate() == 0) ac->set_learning_rate(0.2);
  v1::SecureAggregationConfig* sa = c.mutable_secure_aggregation();
  if (sa->fixed_point_scale() == 0) sa->set_fixed_point_scale(65536);
  sa->set_protocol(std::string(federated::kSecureAggregationProtocol));
  v1::OutlierExclusionConfig* oe = c.mutable_outlier_exclusion();
  if (oe->norm_threshold() == 0) oe->set_norm_threshold(3.0);
  if (oe->exclude_after() == 0) oe->set_exclude_after(3);
  if (c.server_optimizer().optimizer() == v1::SERVER_OPTIMIZER_UNSPECIFIED) {
    c.mutable_server_optimizer()->set_optimizer(v1::SERVER_OPTIMIZER_NONE);
  }
  return c;
}

}  // namespace continuum::trainer
