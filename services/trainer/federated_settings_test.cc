#include "services/trainer/federated_settings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

TEST(FederatedSettingsTest, DefaultsAndValidSettingsPass) {
  EXPECT_TRUE(CheckFederatedConfig(v1::FederatedConfig(), "f").ok());
  v1::FederatedConfig c;
  c.set_aggregation(v1::AGGREGATION_FEDPROX);
  c.set_fedprox_mu(0.1);
  c.set_trim_fraction(0.49);
  c.mutable_differential_privacy()->set_clip_norm(1);
  c.mutable_differential_privacy()->set_noise_multiplier(0.5);
  c.set_site_id("site-eu.1");
  EXPECT_TRUE(CheckFederatedConfig(c, "config.federated").ok());
}

TEST(FederatedSettingsTest, EachRuleIsNamedByItsPath) {
  const std::vector<
      std::pair<std::function<void(v1::FederatedConfig&)>, std::string>>
      broken = {
          {[](auto& c) { c.set_aggregation(static_cast<v1::Aggregation>(99)); },
           "config.federated.aggregation: 99 is not a value of "
           "continuum.v1.Aggregation"},
          {[](auto& c) { c.set_fedprox_mu(-1); },
           "config.federated.fedprox_mu: must be >= 0 (got -1)"},
          {[](auto& c) { c.set_fedprox_mu(std::nan("")); },
           "config.federated.fedprox_mu: must be >= 0"},
          {[](auto& c) { c.set_trim_fraction(-0.1); },
           "config.federated.trim_fraction: must be >= 0"},
          {[](auto& c) { c.set_trim_fraction(0.5); },
           "config.federated.trim_fraction: must be < 0.5 (got 0.5)"},
          {[](auto& c) { c.mutable_differential_privacy()->set_clip_norm(-1); },
           "config.federated.differential_privacy.clip_norm: must be > 0"},
          {[](auto& c) {
             c.mutable_differential_privacy()->set_noise_multiplier(-2);
           },
           "config.federated.differential_privacy.noise_multiplier: must be "
           "> 0 (got -2)"},
          {[](auto& c) { c.set_site_id("Site 1"); },
           "config.federated.site_id: site id"},
          {[](auto& c) { c.set_min_sites(-1); },
           "config.federated.min_sites: must be >= 0 (got -1)"},
          {[](auto& c) { c.set_byzantine_sites(-1); },
           "config.federated.byzantine_sites: must be >= 0"},
          {[](auto& c) { c.set_multi_krum_selected(-2); },
           "config.federated.multi_krum_selected: must be >= 0"},
          {[](auto& c) { c.set_local_epochs(-1); },
           "config.federated.local_epochs: must be >= 0"},
          {[](auto& c) { c.set_local_batch_size(-8); },
           "config.federated.local_batch_size: must be >= 0"},
          {[](auto& c) { c.mutable_outlier_exclusion()->set_exclude_after(-1); },
           "config.federated.outlier_exclusion.exclude_after: must be >= 0"},
          {[](auto& c) {
             c.mutable_outlier_exclusion()->set_norm_threshold(-3);
           },
           "config.federated.outlier_exclusion.norm_threshold: must be >= 0"},
          {[](auto& c) {
             c.mutable_differential_privacy()->set_max_epsilon(-1);
           },
           "config.federated.differential_privacy.max_epsilon: must be >= 0"},
          {[](auto& c) {
             c.mutable_differential_privacy()
                 ->mutable_adaptive_clipping()
                 ->set_learning_rate(-0.2);
           },
           "adaptive_clipping.learning_rate: must be >= 0"},
          {[](auto& c) {
             c.mutable_differential_privacy()
                 ->mutable_adaptive_clipping()
                 ->set_count_stddev(-1);
           },
           "adaptive_clipping.count_stddev: must be >= 0"},
          {[](auto& c) {
             c.mutable_secure_aggregation()->set_fixed_point_scale(-1);
           },
           "config.federated.secure_aggregation.fixed_point_scale: must be >= 0"},
          {[](auto& c) { c.mutable_server_optimizer()->set_learning_rate(-1); },
           "config.federated.server_optimizer.learning_rate: must be >= 0"},
          {[](auto& c) { c.mutable_server_optimizer()->set_beta1(-0.1); },
           "config.federated.server_optimizer.beta1: must be in [0, 1)"},
          {[](auto& c) {
             c.set_min_sites(3);
             c.set_max_sites(2);
           },
           "config.federated.max_sites: must be >= min_sites (got 2 < 3)"},
          {[](auto& c) { c.mutable_join_timeout()->set_seconds(-5); },
           "config.federated.join_timeout: must be positive"},
          {[](auto& c) { c.set_local_learning_rate(-0.1); },
           "config.federated.local_learning_rate: must be >= 0"},
          {[](auto& c) {
             c.mutable_differential_privacy()->set_target_delta(1);
           },
           "config.federated.differential_privacy.target_delta: must be in "
           "[0, 1) (got 1)"},
          {[](auto& c) {
             c.mutable_differential_privacy()
                 ->mutable_adaptive_clipping()
                 ->set_target_quantile(-0.5);
           },
           "config.federated.differential_privacy.adaptive_clipping."
           "target_quantile: must be in [0, 1)"},
          {[](auto& c) {
             auto* dp = c.mutable_differential_privacy();
             dp->set_noise_multiplier(1.0);
             dp->mutable_adaptive_clipping()->set_enabled(true);
             dp->mutable_adaptive_clipping()->set_count_stddev(0.4);
           },
           "adaptive_clipping.count_stddev: must exceed half the noise "
           "multiplier (got 0.4 for noise_multiplier 1)"},
          {[](auto& c) { c.mutable_server_optimizer()->set_beta2(1.0); },
           "config.federated.server_optimizer.beta2: must be in [0, 1)"},
          {[](auto& c) { c.mutable_server_optimizer()->set_tau(-1); },
           "config.federated.server_optimizer.tau: must be >= 0"},
          {[](auto& c) {
             c.mutable_server_optimizer()->set_optimizer(
                 static_cast<v1::ServerOptimizer>(42));
           },
           "server_optimizer.optimizer: 42 is not a value"},
          {[](auto& c) {
             c.set_aggregation(v1::AGGREGATION_KRUM);
             c.mutable_secure_aggregation()->set_enabled(true);
           },
           "config.federated.secure_aggregation.enabled: cannot be combined "
           "with AGGREGATION_KRUM"},
          {[](auto& c) {
             c.mutable_outlier_exclusion()->set_enabled(true);
             c.mutable_secure_aggregation()->set_enabled(true);
           },
           "secure_aggregation.enabled: cannot be combined with "
           "outlier_exclusion"},
      };
  for (const auto& [breaks, message] : broken) {
    v1::FederatedConfig c;
    breaks(c);
    absl::Status s = CheckFederatedConfig(c, "config.federated");
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << message;
    EXPECT_THAT(s.message(), HasSubstr(message));
  }
}

}  // namespace
}  // namespace continuum::trainer
