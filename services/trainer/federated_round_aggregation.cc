#include "services/trainer/federated_round_aggregation.h"

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "lib/federated/aggregation.h"
#include "lib/federated/privacy.h"
#include "lib/federated/rdp_accountant.h"
#include "lib/federated/secure_aggregation.h"
#include "lib/federated/server_optimizer.h"

namespace continuum::trainer {
namespace {

namespace fed = ::continuum::federated;

fed::Rule RuleOf(v1::Aggregation a) {
  switch (a) {
    case v1::AGGREGATION_COORDINATE_MEDIAN:
      return fed::Rule::kCoordinateMedian;
    case v1::AGGREGATION_TRIMMED_MEAN:
      return fed::Rule::kTrimmedMean;
    case v1::AGGREGATION_KRUM:
      return fed::Rule::kKrum;
    case v1::AGGREGATION_MULTI_KRUM:
      return fed::Rule::kMultiKrum;
    default:
      return fed::Rule::kFedAvg;
  }
}

fed::ServerOptimizerOptions OptimizerOptions(const v1::FederatedConfig& c) {
  const v1::ServerOptimizerConfig& o = c.server_optimizer();
  fed::ServerOptimizerOptions options;
  switch (o.optimizer()) {
    case v1::SERVER_OPTIMIZER_FEDADAGRAD:
      options.kind = fed::ServerOptimizerKind::kAdagrad;
      break;
    case v1::SERVER_OPTIMIZER_FEDYOGI:
      options.kind = fed::ServerOptimizerKind::kYogi;
      break;
    case v1::SERVER_OPTIMIZER_FEDADAM:
      options.kind = fed::ServerOptimizerKind::kAdam;
      break;
    default:
      options.kind = fed::ServerOptimizerKind::kNone;
  }
  options.learning_rate = o.learning_rate();
  if (o.beta1() != 0) options.beta1 = o.beta1();
  if (o.beta2() != 0) options.beta2 = o.beta2();
  if (o.tau() != 0) options.tau = o.tau();
  return options;
}

}  // namespace

RoundAggregation AggregateRoundUpdates(
    const v1::Round& round, std::map<std::string, std::vector<float>> updates,
    const std::vector<uint32_t>& masked_words, FederatedModelState state,
    int64_t federation, uint64_t noise_seed) {
  const v1::FederatedConfig& config = round.config();
  const v1::DifferentialPrivacyConfig& dp = config.differential_privacy();
  const bool secure = config.secure_aggregation().enabled();
  std::mt19937_64 noise(noise_seed);
  RoundAggregation result;
  absl::Status& error = result.error;
  int64_t& total_samples = result.total_samples;
  int& aggregated = result.aggregated;
  std::vector<float> mean;
  int unclipped = 0;

  if (secure) {
    fed::MaskedSum sum(masked_words.size());
    (void)sum.Add(masked_words);
    int64_t weight = 0;
    for (const v1::Participant& p : round.participants()) {
      if (p.state() != v1::PARTICIPANT_STATE_SUBMITTED) continue;
      weight += dp.enabled() ? 1 : p.sample_count();
      total_samples += p.sample_count();
      ++aggregated;
    }
    absl::StatusOr<std::vector<float>> m =
        sum.WeightedMean(config.secure_aggregation().fixed_point_scale(), weight);
    if (m.ok()) {
      mean = *std::move(m);
    } else {
      error = m.status();
    }
  } else {
    // Norms as received; DP clips to the round's clip norm first.
    std::vector<std::string> ids;
    std::vector<double> norms;
    for (auto& [id, v] : updates) {
      ids.push_back(id);
      const double norm =
          dp.enabled() ? fed::ClipToNorm(absl::MakeSpan(v), round.clip_norm())
                       : fed::L2Norm(v);
      if (dp.enabled() && norm <= round.clip_norm()) ++unclipped;
      norms.push_back(norm);
    }
    if (config.outlier_exclusion().enabled() && ids.size() >= 3) {
      const std::vector<double> z = fed::RobustZScores(norms);
      const double median = fed::Median(norms);
      for (size_t i = 0; i < ids.size(); ++i) {
        result.outlier_scores[ids[i]] = z[i];
        if (z[i] > config.outlier_exclusion().norm_threshold()) {
          result.excluded[ids[i]] = absl::StrCat(
              "update norm ", norms[i], " is ", z[i],
              " MADs from the round's median norm ", median, " (threshold ",
              config.outlier_exclusion().norm_threshold(), ")");
        }
      }
    }
    std::vector<fed::SiteUpdate> views;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (result.excluded.count(ids[i])) continue;
      int64_t samples = 0;
      for (const v1::Participant& p : round.participants()) {
        if (p.site_id() == ids[i]) samples = p.sample_count();
      }
      total_samples += samples;
      // The DP mean is unweighted: a site's weight would scale its
      // sensitivity.
      views.push_back({updates[ids[i]], dp.enabled() ? 1 : samples});
    }
    aggregated = static_cast<int>(views.size());
    if (aggregated < config.min_sites()) {
      error = absl::FailedPreconditionError(absl::StrCat(
          aggregated, " updates are left after excluding outliers; the round "
                      "needs min_sites = ",
          config.min_sites()));
    } else {
      fed::AggregationOptions options{
          .rule = RuleOf(config.aggregation()),
          .trim_fraction = config.trim_fraction(),
          .byzantine_sites =
              config.byzantine_sites() == 0 ? -1 : config.byzantine_sites(),
          .multi_krum_selected = config.multi_krum_selected()};
      absl::StatusOr<fed::AggregationResult> result =
          fed::Aggregate(views, options);
      if (result.ok()) {
        mean = std::move(result->values);
      } else {
        error = result.status();
      }
    }
  }

  // DP noise on the mean and the accountant's step; adaptive clipping.
  fed::RdpAccountant accountant;
  if (!state.rdp.empty()) (void)accountant.Restore(state.rdp, state.dp_rounds);
  double next_clip = state.clip_norm;
  if (error.ok() && dp.enabled()) {
    double z = dp.noise_multiplier();
    const bool adaptive = dp.adaptive_clipping().enabled() && !secure;
    double sigma_b = dp.adaptive_clipping().count_stddev();
    if (sigma_b == 0) sigma_b = static_cast<double>(aggregated) / 20.0;
    if (adaptive) {
      absl::StatusOr<double> raised =
          fed::AdaptiveUpdateNoiseMultiplier(z, sigma_b);
      if (!raised.ok()) {
        error = raised.status();
      } else {
        z = *raised;
      }
    }
    if (error.ok()) {
      fed::AddGaussianNoise(absl::MakeSpan(mean),
                            z * round.clip_norm() / aggregated, noise);
      const double q = std::min(
          1.0, static_cast<double>(round.participants_size()) /
                   static_cast<double>(std::max<int64_t>(
                       federation, round.participants_size())));
      (void)accountant.Step(dp.noise_multiplier(), q);
      state.rdp = accountant.rdp();
      state.dp_rounds = accountant.steps();
      if (adaptive) {
        absl::StatusOr<double> c = fed::NextClipNorm(
            round.clip_norm(), unclipped, aggregated,
            {.target_quantile = dp.adaptive_clipping().target_quantile(),
             .learning_rate = dp.adaptive_clipping().learning_rate(),
             .count_stddev = sigma_b},
            noise);
        if (c.ok()) next_clip = *c;
      }
    }
  }
  // The server optimiser's step.
  std::vector<float> step;
  if (error.ok()) {
    absl::StatusOr<fed::ServerOptimizer> optimizer =
        fed::ServerOptimizer::Create(OptimizerOptions(config),
                                     round.num_parameters());
    if (!optimizer.ok()) {
      error = optimizer.status();
    } else {
      if (state.optimizer.m.size() ==
          static_cast<size_t>(round.num_parameters())) {
        (void)optimizer->Restore(state.optimizer);
      }
      absl::StatusOr<std::vector<float>> s = optimizer->Step(mean);
      if (!s.ok()) {
        error = s.status();
      } else {
        step = *std::move(s);
        state.optimizer = optimizer->State();
      }
    }
  }
  if (!error.ok()) return result;
  if (dp.enabled()) {
    state.clip_norm = next_clip;
    absl::StatusOr<fed::PrivacySpent> spent =
        accountant.Spent(dp.target_delta());
    result.epsilon = spent.ok() ? spent->epsilon : 0;
  }
  result.state = std::move(state);
  result.aggregate_norm = fed::L2Norm(mean);
  result.step = std::move(step);
  return result;
}

absl::StatusOr<v1::PrivacyAccounting> PlanPrivacy(
    const std::string& model, const FederatedModelState& state,
    const v1::DifferentialPrivacyConfig& dp) {
  fed::RdpAccountant accountant;
  if (!state.rdp.empty()) {
    if (absl::Status s = accountant.Restore(state.rdp, state.dp_rounds);
        !s.ok()) {
      return absl::InternalError(
          absl::StrCat("privacy accountant: ", s.message()));
    }
  }
  absl::StatusOr<fed::PrivacySpent> now = accountant.Spent(dp.target_delta());
  if (dp.enabled() && dp.max_epsilon() > 0) {
    absl::StatusOr<fed::PrivacySpent> after =
        accountant.SpentAfter(dp.noise_multiplier(), 1.0, 1, dp.target_delta());
    if (after.ok() && after->epsilon > dp.max_epsilon()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "privacy budget of model ", model, ": max_epsilon is ",
          dp.max_epsilon(), "; ", accountant.steps(),
          " rounds spent epsilon ", now.ok() ? now->epsilon : 0.0,
          " and one more would reach ", after->epsilon, " (delta ",
          dp.target_delta(), ")"));
    }
  }
  v1::PrivacyAccounting spent;
  spent.set_epsilon(now.ok() ? now->epsilon : 0);
  spent.set_delta(dp.target_delta());
  spent.set_rounds(accountant.steps());
  return spent;
}

}  // namespace continuum::trainer
