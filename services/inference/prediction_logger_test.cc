// PredictionLogger with fake sinks: sampling, the rows it builds, batching
// in the background, Flush and Stop, and how every row is counted as sent
// or dropped (with the reason the sink reports). The gRPC sinks are tested
// in prediction_sinks_test.cc.
#include "services/inference/prediction_logger.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "lib/core/clock.h"
#include "services/inference/prediction_log_testing.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

using log_testing::Config;
using log_testing::Dropped;
using log_testing::ExpectAllDroppedWhileDown;
using log_testing::ExpectAllSent;
using log_testing::LogFraudRequests;
using log_testing::Pending;
using log_testing::PendingBytes;
using log_testing::Request;
using log_testing::Response;
using log_testing::Sent;

constexpr absl::Duration kWait = absl::Seconds(30);

// What a FakeSink was sent, kept apart from the sink (the logger owns the
// sink, the test keeps this). Thread-safe.
class FakeSinkState {
 public:
  // The status of one call with `rows` of `model`; OK by default.
  using Answer = std::function<absl::Status(
      const std::string& model, const std::vector<const LoggedRow*>& rows)>;

  void SetAnswer(Answer answer) {
    absl::MutexLock lock(&mu_);
    answer_ = std::move(answer);
  }

  // While closed, every Send waits until Open.
  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }

  // One call: waits while closed, answers, keeps the rows of a call
  // answered OK.
  absl::Status Call(const std::string& model,
                    const std::vector<const LoggedRow*>& rows) {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&open_));
    ++calls_;
    absl::Status status = answer_ ? answer_(model, rows) : absl::OkStatus();
    if (status.ok()) {
      for (const LoggedRow* row : rows) rows_.push_back(*row);
    }
    return status;
  }

  // The rows of `model` received (all models when empty).
  std::vector<LoggedRow> Rows(const std::string& model = "") {
    absl::MutexLock lock(&mu_);
    std::vector<LoggedRow> out;
    for (const LoggedRow& row : rows_) {
      if (model.empty() || row.request->model == model) out.push_back(row);
    }
    return out;
  }
  int64_t Count(const std::string& model) {
    return static_cast<int64_t>(Rows(model).size());
  }
  std::set<std::string> Ids(const std::string& model) {
    std::set<std::string> ids;
    for (const LoggedRow& row : Rows(model)) ids.insert(row.id);
    return ids;
  }
  std::optional<LoggedRow> Find(const std::string& id) {
    for (LoggedRow& row : Rows()) {
      if (row.id == id) return row;
    }
    return std::nullopt;
  }

 private:
  absl::Mutex mu_;
  Answer answer_ ABSL_GUARDED_BY(mu_);
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<LoggedRow> rows_ ABSL_GUARDED_BY(mu_);
};

// A sink that makes one "call" per model, as the collector's does.
class FakeSink final : public PredictionSink {
 public:
  FakeSink(std::string name, std::shared_ptr<FakeSinkState> state)
      : name_(std::move(name)), state_(std::move(state)) {}

  absl::string_view name() const override { return name_; }

  void Send(absl::Span<const LoggedRowPtr> rows, absl::Time /*deadline*/,
            Report report) override {
    std::map<std::string, std::vector<const LoggedRow*>> by_model;
    for (const LoggedRowPtr& row : rows) {
      by_model[row->request->model].push_back(row.get());
    }
    for (const auto& [model, model_rows] : by_model) {
      report(static_cast<int64_t>(model_rows.size()),
             state_->Call(model, model_rows),
             absl::StrCat("model '", model, "'"));
    }
  }

 private:
  const std::string name_;
  const std::shared_ptr<FakeSinkState> state_;
};

class PredictionLoggerTest : public ::testing::Test {
 protected:
  // A collector-like and a drift-like sink over collector_ and drift_.
  std::vector<std::unique_ptr<PredictionSink>> BothSinks() {
    std::vector<std::unique_ptr<PredictionSink>> sinks;
    sinks.push_back(std::make_unique<FakeSink>("collector", collector_));
    sinks.push_back(std::make_unique<FakeSink>("drift", drift_));
    return sinks;
  }

  // The collector's answers: NOT_FOUND for a model without a data set,
  // INVALID_ARGUMENT for rows whose length is not the data set's.
  void CollectorDatasets(std::map<std::string, size_t> feature_dims) {
    collector_->SetAnswer(
        [feature_dims](const std::string& model,
                       const std::vector<const LoggedRow*>& rows) {
          auto it = feature_dims.find(model);
          if (it == feature_dims.end()) {
            return absl::NotFoundError(
                absl::StrCat("data set '", model, "' not found"));
          }
          for (const LoggedRow* row : rows) {
            if (row->features.size() != it->second) {
              return absl::InvalidArgumentError("feature_dim mismatch");
            }
          }
          return absl::OkStatus();
        });
  }

  std::shared_ptr<FakeSinkState> collector_ =
      std::make_shared<FakeSinkState>();
  std::shared_ptr<FakeSinkState> drift_ = std::make_shared<FakeSinkState>();
};

TEST_F(PredictionLoggerTest, DeliversRowsToEverySinkInTheBackground) {
  core::FakeClock clock(
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Minutes(1))));
  prometheus::Registry metrics;
  PredictionLogger logger(Config(absl::Milliseconds(10)), BothSinks(), metrics,
                          {.pod_id = "pod-1", .clock = &clock, .seed = 1});
  ASSERT_TRUE(logger.has_sink("collector"));
  ASSERT_TRUE(logger.has_sink("drift"));

  LogFraudRequests(logger);

  // Delivered in the background, without Flush.
  EXPECT_TRUE(testing::WaitFor([&] { return collector_->Count("fraud") == 5; },
                               kWait));
  EXPECT_TRUE(
      testing::WaitFor([&] { return drift_->Count("fraud") == 5; }, kWait));

  // The rows the collector's sink got.
  std::map<std::string, std::vector<float>> features;
  std::map<std::string, std::map<std::string, std::string>> attributes;
  for (const LoggedRow& row : collector_->Rows("fraud")) {
    ASSERT_EQ(row.features.size(), 3u);
    features[row.id] = row.features;
    attributes[row.id] = {row.request->attributes.begin(),
                          row.request->attributes.end()};
    EXPECT_EQ(row.request->event_time, clock.Now());
  }
  ASSERT_EQ(features.size(), 5u);
  EXPECT_EQ(features["a"], (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(features["b"], (std::vector<float>{10, 11, 12}));
  EXPECT_EQ(features["c"], (std::vector<float>{20, 21, 22}));
  EXPECT_EQ(attributes["b"]["site"], "eu-1");
  int generated = 0;
  for (const auto& [id, row] : features) {
    if (absl::StartsWith(id, "pod-1-")) ++generated;
  }
  EXPECT_EQ(generated, 2);

  // The prediction that goes with a row.
  std::optional<LoggedRow> b = collector_->Find("b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->request->model, "fraud");
  EXPECT_EQ(b->request->version, 7);
  EXPECT_EQ(b->request->role, v1::SERVING_ROLE_CANARY);
  EXPECT_EQ(b->request->revision, 3);
  ASSERT_TRUE(b->score.has_value());
  EXPECT_FLOAT_EQ(*b->score, 0.8f);
  EXPECT_EQ(b->predicted_class, 1);
  ASSERT_EQ(b->outputs.size(), 2u);
  EXPECT_FLOAT_EQ(b->outputs[1], 0.8f);
  EXPECT_EQ(b->request->request_id, "req-1");
  EXPECT_FALSE(b->anomaly.has_value());

  // The drift sink got the same rows, of version 7.
  for (const LoggedRow& row : drift_->Rows("fraud")) {
    EXPECT_EQ(row.request->version, 7);
  }

  logger.Stop();
  ExpectAllSent(metrics, "collector", 5);
  ExpectAllSent(metrics, "drift", 5);
}

TEST_F(PredictionLoggerTest, StopSendsWhatIsPendingOnceAndIsIdempotent) {
  prometheus::Registry metrics;
  // Neither the interval nor the batch size triggers a send.
  PredictionLogger logger(Config(absl::Hours(1)), BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 3, 3, {"a", "b", "c"}),
             Response("fraud", 2, {0.9f, 0.8f, 0.7f}));
  EXPECT_EQ(Pending(metrics, "collector"), 3);
  EXPECT_EQ(Pending(metrics, "drift"), 3);

  logger.Stop();
  EXPECT_EQ(collector_->Count("fraud"), 3);
  EXPECT_EQ(drift_->Count("fraud"), 3);
  EXPECT_EQ(Pending(metrics, "collector"), 0);
  logger.Stop();

  // Rows logged after Stop are counted, not queued.
  logger.Log(Request("fraud", 2, 3), Response("fraud", 2, {0.9f, 0.8f}));
  EXPECT_EQ(Dropped(metrics, "collector", "stopped"), 2);
  EXPECT_EQ(Dropped(metrics, "drift", "stopped"), 2);
  EXPECT_EQ(Sent(metrics, "collector"), 3);
  EXPECT_EQ(Sent(metrics, "drift"), 3);
}

TEST_F(PredictionLoggerTest, AWindowIsLoggedAsItsLastStep) {
  prometheus::Registry metrics;
  PredictionLogger logger(Config(absl::Hours(1)), BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  // Two forecaster windows of 4 steps of 3 features: [2, 4, 3]; row r's
  // values are 10 r + 0..11.
  v1::PredictRequest request = Request("cpu", 2, 12, {"w0", "w1"}, true);
  request.mutable_inputs()->clear_shape();
  for (int d : {2, 4, 3}) request.mutable_inputs()->add_shape(d);
  logger.Log(request, Response("cpu", 1, {0.5f, 0.6f}));
  logger.Stop();
  ASSERT_EQ(collector_->Count("cpu"), 2);
  std::optional<LoggedRow> w1 = collector_->Find("w1");
  ASSERT_TRUE(w1.has_value());
  EXPECT_EQ(w1->features, (std::vector<float>{19, 20, 21}));
}

TEST_F(PredictionLoggerTest, RejectedBatchesAreDroppedWithTheirReason) {
  CollectorDatasets({{"fraud", 3}});
  prometheus::Registry metrics;
  PredictionLogger logger(Config(absl::Hours(1)), BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  // No data set for this model: NOT_FOUND from the collector; the drift
  // sink takes it.
  logger.Log(Request("nodata", 2, 3), Response("nodata", 1, {0.9f, 0.8f}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "not_found"), 2);
  EXPECT_EQ(Sent(metrics, "drift"), 2);
  EXPECT_EQ(drift_->Count("nodata"), 2);

  // Rows that do not fit the data set's feature_dim: INVALID_ARGUMENT, and
  // only that batch is lost.
  logger.Log(Request("fraud", 4, 5), Response("fraud", 2, {0.9f, 0.8f, 0.7f,
                                                           0.6f}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "invalid_argument"), 4);
  logger.Log(Request("fraud", 1, 3, {"ok"}), Response("fraud", 1, {0.9f}));
  logger.Flush();
  EXPECT_EQ(collector_->Ids("fraud"), (std::set<std::string>{"ok"}));
  EXPECT_EQ(Sent(metrics, "collector"), 1);
  EXPECT_EQ(Dropped(metrics, "collector"), 6);
  EXPECT_EQ(Sent(metrics, "drift"), 7);
  EXPECT_EQ(Dropped(metrics, "drift"), 0);
}

TEST_F(PredictionLoggerTest, OneSinkDownDoesNotStopTheOther) {
  collector_->SetAnswer([](const std::string&,
                           const std::vector<const LoggedRow*>&) {
    return absl::UnavailableError("connection refused");
  });
  prometheus::Registry metrics;
  PredictionLogger logger(Config(absl::Hours(1)), BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 4, 3), Response("fraud", 1, {1, 1, 1, 1}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "unavailable"), 4);
  EXPECT_EQ(Sent(metrics, "drift"), 4);
  EXPECT_EQ(drift_->Count("fraud"), 4);
}

// Issue 24: wide rows (784 floats) behind a sink that does not answer held
// the pod's memory up to max_pending_rows of them; the byte bound holds it
// whatever the width.
TEST_F(PredictionLoggerTest, PendingBytesAreBoundedWhateverTheRowWidth) {
  for (const std::shared_ptr<FakeSinkState>& state : {collector_, drift_}) {
    state->Close();  // every send hangs until the test lets it go
  }
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Milliseconds(1));
  config.set_max_pending_bytes(256 * 1024);
  config.set_max_batch_rows(16);
  PredictionLogger logger(config, BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  const v1::PredictRequest request = Request("fraud", 8, 784);
  const v1::PredictResponse response =
      Response("fraud", 1, std::vector<float>(8, 0.5f));
  constexpr int kLogs = 2000;  // 16000 rows, about 50 MB unbounded
  for (int i = 0; i < kLogs; ++i) logger.Log(request, response);
  for (const char* sink : {"collector", "drift"}) {
    EXPECT_LE(PendingBytes(metrics, sink), 256 * 1024) << sink;
    EXPECT_GT(PendingBytes(metrics, sink), 0) << sink;
    // About 3.2 KB a row: some 80 rows, far below max_pending_rows.
    EXPECT_LT(Pending(metrics, sink), 100) << sink;
  }
  collector_->Open();
  drift_->Open();
  logger.Stop();
  for (const char* sink : {"collector", "drift"}) {
    EXPECT_EQ(PendingBytes(metrics, sink), 0) << sink;
  }
}

TEST_F(PredictionLoggerTest, DownSinksDropRowsWithoutHoldingUpLog) {
  for (const std::shared_ptr<FakeSinkState>& state : {collector_, drift_}) {
    state->SetAnswer([](const std::string&,
                        const std::vector<const LoggedRow*>&) {
      return absl::UnavailableError("connection refused");
    });
    // Every send hangs until the test lets it go.
    state->Close();
  }
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Milliseconds(1));
  config.set_max_pending_rows(4);
  config.set_max_batch_rows(2);
  PredictionLogger logger(config, BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  const v1::PredictRequest request = Request("fraud", 1, 3);
  const v1::PredictResponse response = Response("fraud", 1, {0.5f});
  constexpr int kLogs = 10000;
  for (int i = 0; i < kLogs; ++i) logger.Log(request, response);
  // Queued (at most 4) plus in flight (at most one batch of 2).
  EXPECT_LE(Pending(metrics, "collector"), 6);
  EXPECT_LE(Pending(metrics, "drift"), 6);
  collector_->Open();
  drift_->Open();
  logger.Stop();
  ExpectAllDroppedWhileDown(metrics, "collector", kLogs);
  ExpectAllDroppedWhileDown(metrics, "drift", kLogs);
}

TEST_F(PredictionLoggerTest, RateZeroLogsOnlyForcedRequests) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_sample_rate(0);
  PredictionLogger logger(config, BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 3, 3, {"a", "b", "c"}),
             Response("fraud", 1, {0.9f, 0.8f, 0.7f}));
  EXPECT_EQ(Pending(metrics, "collector"), 0);
  logger.Log(Request("fraud", 2, 3, {"x", "y"}, /*force_log=*/true),
             Response("fraud", 1, {0.9f, 0.8f}));
  logger.Flush();
  EXPECT_EQ(collector_->Ids("fraud"), (std::set<std::string>{"x", "y"}));
  EXPECT_EQ(Sent(metrics, "drift"), 2);
}

// Issue 15: evaluation traffic became training data; nothing in a Predict
// request could turn logging off.
TEST_F(PredictionLoggerTest, TheRequestPolicyDecidesAndLogSaysIfItQueued) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_sample_rate(0);  // SAMPLED keeps nothing.
  PredictionLogger logger(config, BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  v1::PredictRequest never = Request("fraud", 2, 3, {"n1", "n2"});
  never.set_log(v1::LOG_POLICY_NEVER);
  EXPECT_FALSE(logger.Log(never, Response("fraud", 1, {0.9f, 0.8f})));
  v1::PredictRequest sampled = Request("fraud", 1, 3, {"s1"});
  EXPECT_FALSE(logger.Log(sampled, Response("fraud", 1, {0.9f})));
  v1::PredictRequest always = Request("fraud", 2, 3, {"a1", "a2"});
  always.set_log(v1::LOG_POLICY_ALWAYS);
  EXPECT_TRUE(logger.Log(always, Response("fraud", 1, {0.9f, 0.8f})));
  logger.Flush();
  EXPECT_EQ(collector_->Ids("fraud"), (std::set<std::string>{"a1", "a2"}));
  EXPECT_EQ(drift_->Count("fraud"), 2);

  // The pod's default applies to requests that leave theirs unset.
  prometheus::Registry metrics2;
  config.clear_sample_rate();
  config.set_default_policy(v1::LOG_POLICY_NEVER);
  PredictionLogger quiet(config, BothSinks(), metrics2,
                         {.pod_id = "pod-2", .seed = 1});
  EXPECT_FALSE(quiet.Log(Request("fraud", 1, 3, {"q1"}),
                         Response("fraud", 1, {0.9f})));
  EXPECT_TRUE(quiet.Log(Request("fraud", 1, 3, {"q2"}, /*force_log=*/true),
                        Response("fraud", 1, {0.9f})));
  // Per caller: an evaluator's requests are never logged by default.
  prometheus::Registry metrics3;
  config.set_default_policy(v1::LOG_POLICY_SAMPLED);
  (*config.mutable_caller_policies())["evaluator"] = v1::LOG_POLICY_NEVER;
  ASSERT_TRUE(ValidatePredictionLogConfig(config).ok());
  PredictionLogger per_caller(config, BothSinks(), metrics3,
                              {.pod_id = "pod-3", .seed = 1});
  EXPECT_FALSE(per_caller.Log(Request("fraud", 1, 3, {"e1"}),
                              Response("fraud", 1, {0.9f}), "evaluator"));
  EXPECT_TRUE(per_caller.Log(Request("fraud", 1, 3, {"p1"}),
                             Response("fraud", 1, {0.9f}), "client"));
  v1::PredictRequest explicit_log = Request("fraud", 1, 3, {"e2"});
  explicit_log.set_log(v1::LOG_POLICY_ALWAYS);
  EXPECT_TRUE(per_caller.Log(explicit_log, Response("fraud", 1, {0.9f}),
                             "evaluator"));
  (*config.mutable_caller_policies())["evaluator"] =
      v1::LOG_POLICY_UNSPECIFIED;
  EXPECT_EQ(ValidatePredictionLogConfig(config).message(),
            "prediction_log.caller_policies[\"evaluator\"]: 0 is not a policy "
            "(LOG_POLICY_NEVER, _SAMPLED or _ALWAYS)");
  config.clear_caller_policies();
  config.set_default_policy(static_cast<v1::LogPolicy>(7));
  EXPECT_EQ(ValidatePredictionLogConfig(config).message(),
            "prediction_log.default_policy: 7 is not a value of "
            "continuum.v1.LogPolicy");
}

TEST_F(PredictionLoggerTest, ConfidenceBelowKeepsOnlyUncertainRows) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_confidence_below(0.7);
  PredictionLogger logger(config, BothSinks(), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 4, 3, {"sure", "edge", "unsure", "coin"}),
             Response("fraud", 1, {0.95f, 0.7f, 0.65f, 0.5f}));
  logger.Flush();
  EXPECT_EQ(collector_->Ids("fraud"),
            (std::set<std::string>{"unsure", "coin"}));
  EXPECT_EQ(drift_->Count("fraud"), 2);
}

TEST_F(PredictionLoggerTest, TheSameSeedLogsTheSameRows) {
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(absl::StrCat("r", i));
  for (const std::string model : {"left", "right"}) {
    prometheus::Registry metrics;
    config::v1::PredictionLogConfig config = Config(absl::Hours(1));
    config.set_sample_rate(0.5);
    std::vector<std::unique_ptr<PredictionSink>> sinks;
    sinks.push_back(std::make_unique<FakeSink>("collector", collector_));
    PredictionLogger logger(config, std::move(sinks), metrics,
                            {.pod_id = "pod-1", .seed = 42});
    logger.Log(Request(model, 200, 3, ids),
               Response(model, 1, std::vector<float>(200, 0.9f)));
    logger.Flush();
  }
  const std::set<std::string> left = collector_->Ids("left");
  EXPECT_EQ(left, collector_->Ids("right"));
  EXPECT_GT(left.size(), 70u);
  EXPECT_LT(left.size(), 130u);
}

TEST(PredictionLoggerNoSinksTest, LogIsANoOpWithoutSinks) {
  prometheus::Registry metrics;
  PredictionLogger logger(Config(absl::Milliseconds(1)), {}, metrics, {});
  EXPECT_FALSE(logger.has_sink("collector"));
  EXPECT_FALSE(logger.has_sink("drift"));
  logger.Log(Request("fraud", 2, 3), Response("fraud", 1, {0.9f, 0.8f}));
  logger.Flush();
  logger.Stop();
}

TEST(ForEachChunkTest, CutsRunsAtTheByteLimitAndSendsALargeRowAlone) {
  auto request = std::make_shared<LoggedRequest>();
  auto row = [&](size_t floats) {
    LoggedRow r;
    r.request = request;
    r.features.assign(floats, 0.0f);
    return r;
  };
  // ApproxBytes: 64 + 4 per float.
  const std::vector<LoggedRow> rows = {row(9), row(9), row(9), row(100),
                                       row(9)};
  std::vector<const LoggedRow*> pointers;
  for (const LoggedRow& r : rows) pointers.push_back(&r);
  EXPECT_EQ(ApproxBytes(rows[0]), 100);
  std::vector<size_t> sizes;
  ForEachChunk(
      pointers,
      [&](absl::Span<const LoggedRow* const> chunk) {
        sizes.push_back(chunk.size());
      },
      /*max_bytes=*/250);
  EXPECT_EQ(sizes, (std::vector<size_t>{2, 1, 1, 1}));
}

TEST(ValidatePredictionLogConfigTest, RefusesOutOfRangeValues) {
  config::v1::PredictionLogConfig config;
  EXPECT_TRUE(ValidatePredictionLogConfig(config).ok());
  config.set_collector_address("127.0.0.1:7001");
  config.set_sample_rate(0.1);
  config.set_confidence_below(0.6);
  EXPECT_TRUE(ValidatePredictionLogConfig(config).ok());

  auto refused = [](const config::v1::PredictionLogConfig& c,
                    absl::string_view field) {
    absl::Status s = ValidatePredictionLogConfig(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.message(), field)) << s;
  };
  config::v1::PredictionLogConfig bad = config;
  bad.set_sample_rate(1.5);
  refused(bad, "sample_rate");
  bad = config;
  bad.set_confidence_below(-0.1);
  refused(bad, "confidence_below");
  bad = config;
  bad.set_drift_address("no-port");
  refused(bad, "drift_address");
  bad = config;
  bad.set_max_pending_rows(-1);
  refused(bad, "max_pending_rows");
  bad = config;
  bad.set_max_pending_bytes(-1);
  refused(bad, "max_pending_bytes");
  bad = config;
  bad.mutable_flush_interval()->set_seconds(-1);
  refused(bad, "flush_interval");
}

}  // namespace
}  // namespace continuum::inference
