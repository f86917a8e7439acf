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
