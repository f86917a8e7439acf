#include "services/trainer/training_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::continuum::core::ToProtoDuration;
using ::testing::HasSubstr;

TEST(TrainingConfigTest, DefaultsOfTheService) {
  v1::TrainingConfig config;
  config.set_seed(5);
  config.mutable_schedule_status()->set_paused(true);
  absl::StatusOr<v1::TrainingConfig> c = EffectiveTrainingConfig("m", config);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->name(), "models/m/trainingConfig");
  EXPECT_FALSE(c->has_schedule_status());
  EXPECT_EQ(c->dataset(), "m");
  EXPECT_EQ(FromProto(c->window()), absl::Hours(24 * 30));
  EXPECT_EQ(c->circuit_breaker_threshold(), 3);
  EXPECT_EQ(c->resources().memory_budget_bytes(), int64_t{1} << 30);
  EXPECT_EQ(FromProto(c->resources().max_duration()), absl::Hours(2));
  EXPECT_EQ(FromProto(c->online().publish_every()), absl::Minutes(15));
  EXPECT_EQ(c->online().micro_batch_size(), 1000);
  EXPECT_EQ(c->seed(), 5u);
  // Seed 0 becomes a random seed.
  EXPECT_NE(EffectiveTrainingConfig("m", v1::TrainingConfig())->seed(), 0u);
}

TEST(TrainingConfigTest, InvalidValuesNameTheField) {
  auto message = [](const v1::TrainingConfig& config) {
    absl::StatusOr<v1::TrainingConfig> c = EffectiveTrainingConfig("m", config);
    EXPECT_TRUE(absl::IsInvalidArgument(c.status())) << c.status();
    return std::string(c.status().message());
  };
  v1::TrainingConfig c;
  *c.mutable_window() = ToProtoDuration(-absl::Hours(1));
  EXPECT_EQ(message(c), "window must be positive (got -1h)");
  c = v1::TrainingConfig();
  *c.mutable_online()->mutable_publish_every() =
      ToProtoDuration(absl::ZeroDuration());
  EXPECT_THAT(message(c), HasSubstr("online.publish_every must be positive"));
  c = v1::TrainingConfig();
  c.set_dataset("Bad Name");
  EXPECT_THAT(message(c), HasSubstr("dataset: "));
  c = v1::TrainingConfig();
  c.set_golden_dataset("-");
  EXPECT_THAT(message(c), HasSubstr("golden_dataset: "));
  c = v1::TrainingConfig();
  c.set_circuit_breaker_threshold(-1);
  EXPECT_THAT(message(c), HasSubstr("circuit_breaker_threshold"));
  c = v1::TrainingConfig();
  c.mutable_resources()->set_memory_budget_bytes(-1);
  EXPECT_THAT(message(c), HasSubstr("resources.memory_budget_bytes"));
  c = v1::TrainingConfig();
  *c.mutable_resources()->mutable_max_duration() =
      ToProtoDuration(-absl::Seconds(1));
  EXPECT_THAT(message(c), HasSubstr("resources.max_duration"));
  c = v1::TrainingConfig();
  c.set_strategy(static_cast<v1::TrainingStrategy>(99));
  EXPECT_THAT(message(c), HasSubstr("strategy: unknown value 99"));
  c = v1::TrainingConfig();
  c.mutable_schedule()->mutable_daily_at()->set_time_zone("Atlantis/Capital");
  EXPECT_THAT(message(c), HasSubstr("schedule.daily_at.time_zone"));
}

TEST(TrainingConfigTest, Names) {
  EXPECT_EQ(TrainingConfigName("m"), "models/m/trainingConfig");
  EXPECT_EQ(*ParseTrainingConfigName("models/m/trainingConfig"), "m");
  absl::Status form = ParseTrainingConfigName("models/m").status();
  EXPECT_TRUE(absl::IsInvalidArgument(form));
  EXPECT_THAT(form.message(),
              HasSubstr("is not of the form models/{model}/trainingConfig"));
  absl::Status id = ParseTrainingConfigName("models/M/trainingConfig").status();
  EXPECT_THAT(std::string(id.message()),
              ::testing::StartsWith("name: model id"));
}

TEST(TrainingConfigTest, MasksAndMerges) {
  google::protobuf::FieldMask mask;
  mask.add_paths("epochs");
  mask.add_paths("optimizer");
  EXPECT_TRUE(ValidateConfigMask(mask, "update_mask", false).ok());
  mask.add_paths("schedule.every");
  EXPECT_TRUE(ValidateConfigMask(mask, "update_mask", true).ok());
  EXPECT_THAT(ValidateConfigMask(mask, "override_mask", false).message(),
              HasSubstr("override_mask: \"schedule.every\" cannot be "
                        "overridden for one run"));
  google::protobuf::FieldMask output_only;
  output_only.add_paths("schedule_status.paused");
  EXPECT_THAT(ValidateConfigMask(output_only, "update_mask", true).message(),
              HasSubstr("is output only"));
  google::protobuf::FieldMask unknown;
  unknown.add_paths("optimiser");
  EXPECT_THAT(ValidateConfigMask(unknown, "update_mask", true).message(),
              HasSubstr("\"optimiser\" is not a field of TrainingConfig"));

  v1::TrainingConfig to;
  to.set_epochs(5);
  to.mutable_optimizer()->set_learning_rate(0.1);
  to.mutable_optimizer()->set_grad_clip_norm(2);
  v1::TrainingConfig from;
  from.set_epochs(9);
  from.mutable_optimizer()->set_learning_rate(0.5);
  google::protobuf::FieldMask optimizer;
  optimizer.add_paths("optimizer");
  MergeConfig(from, optimizer, &to);
  EXPECT_EQ(to.epochs(), 5);
  EXPECT_DOUBLE_EQ(to.optimizer().learning_rate(), 0.5);
  EXPECT_EQ(to.optimizer().grad_clip_norm(), 0);  // Replaced as a whole.
}

// Issue 15: overriding the strategy alone kept the incremental epochs (3)
// instead of full retraining's default (20).
TEST(TrainingConfigTest, ANewStrategyBringsItsDefaults) {
  v1::TrainingConfig stored;
  stored.set_strategy(v1::TRAINING_STRATEGY_INCREMENTAL);
  stored.set_epochs(3);
  stored.mutable_optimizer()->set_learning_rate(1e-4);
  stored.set_batch_size(32);
  v1::TrainingConfig override_config;
  override_config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  google::protobuf::FieldMask strategy;
  strategy.add_paths("strategy");
  v1::TrainingConfig merged = stored;
  MergeConfig(override_config, strategy, &merged);
  absl::StatusOr<v1::TrainingConfig> effective =
      EffectiveTrainingConfig("m", merged);
  ASSERT_TRUE(effective.ok()) << effective.status();
  EXPECT_EQ(effective->strategy(), v1::TRAINING_STRATEGY_FULL_RETRAIN);
  EXPECT_EQ(effective->epochs(), 20);
  EXPECT_DOUBLE_EQ(effective->optimizer().learning_rate(), 1e-3);
  EXPECT_EQ(effective->batch_size(), 32);  // Not strategy-dependent: kept.
  EXPECT_EQ(effective->guards().replay_ratio(), 0);
  // Fields the override names are taken from it.
  override_config.set_epochs(7);
  strategy.add_paths("epochs");
  merged = stored;
  MergeConfig(override_config, strategy, &merged);
  EXPECT_EQ(merged.epochs(), 7);
  // The same strategy again changes nothing.
  merged = stored;
  MergeConfig(stored, strategy, &merged);
  EXPECT_EQ(merged.epochs(), 3);
}

TEST(TrainingConfigTest, Cadences) {
  v1::TrainingSchedule every;
  *every.mutable_every() = ToProtoDuration(absl::Hours(6));
  EXPECT_EQ(DescribeCadence(every), "every 6h");
  v1::TrainingSchedule daily;
  daily.mutable_daily_at()->set_hours(2);
  daily.mutable_daily_at()->set_minutes(30);
  EXPECT_EQ(DescribeCadence(daily), "daily at 02:30 UTC");
  daily.mutable_daily_at()->set_time_zone("America/New_York");
  EXPECT_EQ(DescribeCadence(daily), "daily at 02:30 America/New_York");

  EXPECT_FALSE(CadenceChanged(every, every));
  EXPECT_TRUE(CadenceChanged(every, daily));
  v1::TrainingSchedule longer = every;
  *longer.mutable_every() = ToProtoDuration(absl::Hours(7));
  EXPECT_TRUE(CadenceChanged(every, longer));
  v1::TrainingSchedule more_records = every;
  more_records.set_min_new_records(100);
  EXPECT_FALSE(CadenceChanged(every, more_records));
}

}  // namespace
}  // namespace continuum::trainer
