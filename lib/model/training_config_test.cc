// The effective configuration of a training run and the hyper-parameters a
// candidate records from it.
#include "lib/model/training_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace continuum::model {
namespace {

using ::testing::HasSubstr;

TEST(ResolveTrainingConfigTest, FillsDocumentedDefaults) {
  absl::StatusOr<v1::TrainingConfig> c =
      ResolveTrainingConfig(v1::TrainingConfig());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->strategy(), v1::TRAINING_STRATEGY_INCREMENTAL);
  EXPECT_EQ(c->optimizer().optimizer(), v1::OPTIMIZER_ADAMW);
  EXPECT_DOUBLE_EQ(c->optimizer().learning_rate(), 1e-4);
  EXPECT_DOUBLE_EQ(c->optimizer().weight_decay(), 0.01);
  EXPECT_DOUBLE_EQ(c->optimizer().beta1(), 0.9);
  EXPECT_DOUBLE_EQ(c->optimizer().beta2(), 0.999);
  EXPECT_DOUBLE_EQ(c->optimizer().epsilon(), 1e-8);
  EXPECT_DOUBLE_EQ(c->optimizer().grad_clip_norm(), 1.0);
  EXPECT_EQ(c->epochs(), 2);
  EXPECT_EQ(c->batch_size(), 64);
  EXPECT_EQ(c->early_stopping().patience(), 2);
  EXPECT_DOUBLE_EQ(c->guards().replay_ratio(), 0.3);
  EXPECT_DOUBLE_EQ(c->guards().distillation_temperature(), 2.0);
  EXPECT_DOUBLE_EQ(c->target_false_positive_rate(), 0.01);
  EXPECT_EQ(c->online().micro_batch_size(), 1000);
  EXPECT_NE(c->seed(), 0u);

  v1::TrainingConfig full;
  full.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  full.mutable_optimizer()->set_grad_clip_norm(0);  // set: no clipping
  c = ResolveTrainingConfig(full);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_DOUBLE_EQ(c->optimizer().learning_rate(), 1e-3);
  EXPECT_EQ(c->epochs(), 20);
  EXPECT_DOUBLE_EQ(c->optimizer().grad_clip_norm(), 0.0);
  // What full retraining uses: no replay, EWC or distillation (issue 15:
  // its runs showed replay_ratio 0.3 though no replay row was used).
  full.mutable_guards()->set_replay_ratio(0.5);
  full.mutable_guards()->set_ewc_lambda(10);
  c = ResolveTrainingConfig(full);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->guards().replay_ratio(), 0);
  EXPECT_EQ(c->guards().ewc_lambda(), 0);
  EXPECT_EQ(c->guards().distillation_weight(), 0);
  EXPECT_EQ(c->normalization(), v1::NORMALIZATION_POLICY_KEEP);
}

TEST(ResolveTrainingConfigTest, NormalizationPolicyByStrategy) {
  v1::TrainingConfig c;
  EXPECT_EQ(ResolveTrainingConfig(c)->normalization(),
            v1::NORMALIZATION_POLICY_KEEP);
  c.set_normalization(v1::NORMALIZATION_POLICY_REFIT);
  EXPECT_EQ(ResolveTrainingConfig(c)->normalization(),
            v1::NORMALIZATION_POLICY_REFIT);
  c.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  c.clear_normalization();
  EXPECT_EQ(ResolveTrainingConfig(c)->normalization(),
            v1::NORMALIZATION_POLICY_KEEP);
  c.set_normalization(v1::NORMALIZATION_POLICY_REFIT);
  absl::Status s = ResolveTrainingConfig(c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("online run keeps"));
  c.set_normalization(static_cast<v1::NormalizationPolicy>(9));
  EXPECT_THAT(ResolveTrainingConfig(c).status().message(),
              HasSubstr("normalization: 9 is not a value"));
}

TEST(ResolveTrainingConfigTest, RejectsOutOfRangeNamingTheField) {
  v1::TrainingConfig c;
  c.mutable_guards()->set_replay_ratio(0.95);
  absl::Status s = ResolveTrainingConfig(c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("guards.replay_ratio"));
  c = v1::TrainingConfig();
  c.mutable_optimizer()->set_learning_rate(-1);
  s = ResolveTrainingConfig(c).status();
  EXPECT_THAT(s.message(), HasSubstr("optimizer.learning_rate"));
}

TEST(ResolveTrainingConfigTest, ReportsTheFirstFieldOutOfRange) {
  v1::TrainingConfig c;
  c.mutable_optimizer()->set_beta1(1.5);
  c.set_epochs(-1);
  c.mutable_online()->set_micro_batch_size(-5);
  absl::Status s = ResolveTrainingConfig(c).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "optimizer.beta1 is 1.5; allowed: (0, 1)");
  c.mutable_optimizer()->set_beta1(0.5);
  EXPECT_EQ(ResolveTrainingConfig(c).status().message(),
            "epochs is -1; allowed: >= 0 (0 = default)");
  c.set_epochs(0);
  EXPECT_THAT(ResolveTrainingConfig(c).status().message(),
              HasSubstr("online.micro_batch_size is -5"));
  // A seed that is set is kept.
  c = v1::TrainingConfig();
  c.set_seed(1234);
  EXPECT_EQ(ResolveTrainingConfig(c)->seed(), 1234u);
}

TEST(SetHyperparametersTest, RecordsTheEffectiveConfig) {
  v1::TrainingConfig c;
  c.mutable_optimizer()->set_optimizer(v1::OPTIMIZER_SGD);
  c.mutable_optimizer()->set_momentum(0.5);
  c.set_seed(7);
  absl::StatusOr<v1::TrainingConfig> resolved = ResolveTrainingConfig(c);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  v1::ArtifactManifest m;
  (*m.mutable_hyperparameters())["stale"] = "x";
  SetHyperparameters(*resolved, &m);
  const auto& h = m.hyperparameters();
  EXPECT_FALSE(h.contains("stale"));
  EXPECT_EQ(h.at("strategy"), "TRAINING_STRATEGY_INCREMENTAL");
  EXPECT_EQ(h.at("optimizer"), "OPTIMIZER_SGD");
  EXPECT_EQ(h.at("learning_rate"), "0.0001");
  EXPECT_EQ(h.at("momentum"), "0.5");
  EXPECT_FALSE(h.contains("beta1"));
  EXPECT_EQ(h.at("epochs"), "2");
  EXPECT_EQ(h.at("batch_size"), "64");
  EXPECT_EQ(h.at("early_stopping"), "patience 2, min_delta 0");
  EXPECT_EQ(h.at("replay_ratio"), "0.3");
  EXPECT_EQ(h.at("seed"), "7");

  resolved->mutable_early_stopping()->set_disabled(true);
  resolved->mutable_optimizer()->set_optimizer(v1::OPTIMIZER_ADAMW);
  SetHyperparameters(*resolved, &m);
  EXPECT_EQ(m.hyperparameters().at("early_stopping"), "off");
  EXPECT_EQ(m.hyperparameters().at("beta1"), "0.9");
  EXPECT_FALSE(m.hyperparameters().contains("momentum"));
}

}  // namespace
}  // namespace continuum::model
