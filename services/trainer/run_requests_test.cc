#include "services/trainer/run_requests.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

TEST(RunRequestsTest, TriggerRequestIsCheckedFieldByField) {
  v1::TriggerRunRequest request;
  request.set_parent("models/m");
  request.set_reason("drift on f3");
  request.set_request_id("alert-7");
  absl::StatusOr<TriggerSpec> spec = ParseTriggerRequest(request, "drift");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->model, "m");
  EXPECT_EQ(spec->trigger, v1::RUN_TRIGGER_MANUAL);  // From UNSPECIFIED.
  EXPECT_EQ(spec->reason, "drift on f3");
  EXPECT_EQ(spec->request_id, "alert-7");
  EXPECT_EQ(spec->actor, "drift");
  EXPECT_FALSE(spec->window.has_value());

  auto field_of = [](const v1::TriggerRunRequest& r) {
    return ParseTriggerRequest(r, "").status();
  };
  v1::TriggerRunRequest bad = request;
  bad.set_parent("model/m");
  EXPECT_THAT(field_of(bad).message(), HasSubstr("parent: "));
  bad = request;
  bad.set_trigger(v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_THAT(field_of(bad).message(), HasSubstr("internal to the trainer"));
  bad.set_trigger(v1::RUN_TRIGGER_FEDERATED);
  EXPECT_THAT(field_of(bad).message(), HasSubstr("internal to the trainer"));
  // reason and request_id lengths are field rules, checked by the handler
  // (trainer_service_test: RequestsBreakingFieldRulesAreRejectedFirst).
  bad = request;
  *bad.mutable_data_window()->mutable_start_time() =
      core::ToProto(absl::FromUnixSeconds(100));
  *bad.mutable_data_window()->mutable_end_time() =
      core::ToProto(absl::FromUnixSeconds(100));
  EXPECT_THAT(field_of(bad).message(), HasSubstr("data_window.end_time"));
  bad = request;
  bad.mutable_override_mask()->add_paths("schedule.every");
  EXPECT_THAT(field_of(bad).message(),
              HasSubstr("cannot be overridden for one run"));
  EXPECT_TRUE(absl::IsInvalidArgument(field_of(bad)));
  bad = request;
  bad.mutable_overrides()->mutable_federated()->set_fedprox_mu(-1);
  EXPECT_THAT(field_of(bad).message(),
              HasSubstr("overrides.federated.fedprox_mu: must be >= 0"));

  v1::TriggerRunRequest windowed = request;
  *windowed.mutable_data_window()->mutable_end_time() =
      core::ToProto(absl::FromUnixSeconds(100));
  windowed.set_trigger(v1::RUN_TRIGGER_DRIFT);
  spec = ParseTriggerRequest(windowed, "");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->window.has_value());
  EXPECT_EQ(spec->trigger, v1::RUN_TRIGGER_DRIFT);
}

TEST(RunRequestsTest, ListRunsQuery) {
  v1::ListRunsRequest request;
  request.set_parent("models/-");
  absl::StatusOr<RunQuery> all = RunQuery::Parse(request);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->model(), "");
  EXPECT_EQ(all->page_size(), 50);
  EXPECT_EQ(all->before(), 0);

  request.set_parent("models/m");
  request.set_page_size(5000);
  request.set_filter("state = RUN_STATE_FAILED OR trigger = RUN_TRIGGER_DRIFT");
  absl::StatusOr<RunQuery> first = RunQuery::Parse(request);
  ASSERT_TRUE(first.ok()) << first.status();
  request.set_page_token(first->NextPageToken(17));
  absl::StatusOr<RunQuery> query = RunQuery::Parse(request);
  ASSERT_TRUE(query.ok()) << query.status();
  EXPECT_EQ(query->model(), "m");
  EXPECT_EQ(query->page_size(), 1000);
  EXPECT_EQ(query->before(), 17);
  v1::Run run;
  run.set_model("m");
  run.set_state(v1::RUN_STATE_FAILED);
  EXPECT_TRUE(query->Matches(run));
  run.set_state(v1::RUN_STATE_SUCCEEDED);
  EXPECT_FALSE(query->Matches(run));
  run.set_trigger(v1::RUN_TRIGGER_DRIFT);
  EXPECT_TRUE(query->Matches(run));

  v1::ListRunsRequest bad = request;
  bad.set_parent("models");
  EXPECT_THAT(RunQuery::Parse(bad).status().message(),
              HasSubstr("(or models/- for all)"));
  // page_size >= 0 is a field rule, checked by the handler
  // (trainer_service_test: RequestsBreakingFieldRulesAreRejectedFirst).
  bad = request;
  bad.set_page_token("x");
  EXPECT_THAT(RunQuery::Parse(bad).status().message(),
              HasSubstr("page_token"));
  EXPECT_TRUE(absl::IsInvalidArgument(RunQuery::Parse(bad).status()));
  bad = request;
  bad.set_filter("state = RUN_STATE_NOPE");
  EXPECT_THAT(RunQuery::Parse(bad).status().message(),
              HasSubstr("is not a value of continuum.v1.RunState"));
  bad.set_filter("colour = red");
  EXPECT_TRUE(absl::IsInvalidArgument(RunQuery::Parse(bad).status()));
}

TEST(RunRequestsTest, PageTokensBelongToTheirParentAndFilter) {
  v1::ListRunsRequest request;
  request.set_parent("models/m");
  request.set_filter("state = RUN_STATE_FAILED");
  absl::StatusOr<RunQuery> first = RunQuery::Parse(request);
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string token = first->NextPageToken(9);

  request.set_page_token(token);
  request.set_page_size(3);  // The page size may change between pages.
  absl::StatusOr<RunQuery> next = RunQuery::Parse(request);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->before(), 9);

  v1::ListRunsRequest other_filter = request;
  other_filter.set_filter("state = RUN_STATE_SUCCEEDED");
  absl::Status s = RunQuery::Parse(other_filter).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("page_token: not a token of this query"));
  v1::ListRunsRequest other_parent = request;
  other_parent.set_parent("models/-");
  EXPECT_TRUE(absl::IsInvalidArgument(RunQuery::Parse(other_parent).status()));
  v1::ListRunsRequest made_up = request;
  made_up.set_page_token("9");  // The old form: a bare sequence number.
  EXPECT_TRUE(absl::IsInvalidArgument(RunQuery::Parse(made_up).status()));
}

TEST(RunRequestsTest, FilterValuesAreEnumNamesWithOrWithoutThePrefix) {
  v1::ListRunsRequest request;
  request.set_parent("models/-");
  request.set_filter(
      "state = FAILED AND strategy != FULL_RETRAIN OR trigger = "
      "RUN_TRIGGER_DRIFT AND model = m");
  absl::StatusOr<RunQuery> query = RunQuery::Parse(request);
  ASSERT_TRUE(query.ok()) << query.status();
  v1::Run run;
  run.set_model("x");
  run.set_state(v1::RUN_STATE_FAILED);
  run.set_strategy(v1::TRAINING_STRATEGY_INCREMENTAL);
  EXPECT_TRUE(query->Matches(run));
  run.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  EXPECT_FALSE(query->Matches(run));
  run.set_trigger(v1::RUN_TRIGGER_DRIFT);
  EXPECT_FALSE(query->Matches(run));  // Model x, not m.
  run.set_model("m");
  EXPECT_TRUE(query->Matches(run));

  for (const char* misspelt :
       {"state = FAILD", "trigger = RUN_TRIGGER_DRIF", "strategy = online",
        "state = RUN_TRIGGER_DRIFT"}) {
    request.set_filter(misspelt);
    absl::Status s = RunQuery::Parse(request).status();
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << misspelt;
    EXPECT_THAT(s.message(), HasSubstr("is not a value of")) << misspelt;
  }
}

}  // namespace
}  // namespace continuum::trainer
