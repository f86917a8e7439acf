// The gRPC handlers over a real ModelManager and batcher, on a loopback
// server: answers per family, every INVALID_ARGUMENT/NOT_FOUND/UNAVAILABLE
// case, PredictStream with a bad request in the middle, shadow copies that
// never answer, and GetModelStatus.
#include "services/inference/inference_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "absl/synchronization/mutex.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "services/inference/memory_artifact_source.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

using ::testing::HasSubstr;

internal::v1::ModelBundle Bundle(v1::ModelFamily family, uint64_t seed) {
  v1::ArtifactManifest manifest;
  manifest.mutable_spec()->set_family(family);
  manifest.mutable_spec()->set_input_dim(3);
  manifest.mutable_spec()->set_output_dim(
      family == v1::MODEL_FAMILY_AUTOENCODER ? 0 : 4);
  manifest.mutable_spec()->add_hidden_sizes(5);
  if (family == v1::MODEL_FAMILY_GRU_FORECASTER) {
    // Windows of 4 steps of 3 features; 2 series at horizons 1 and 2.
    manifest.mutable_spec()->set_output_dim(2);
    manifest.mutable_spec()->set_sequence_length(4);
    manifest.mutable_spec()->add_horizons(1);
    manifest.mutable_spec()->add_horizons(2);
  }
  if (family == v1::MODEL_FAMILY_AUTOENCODER) {
    manifest.mutable_thresholds()->set_anomaly_threshold(0.5);
  }
  auto b = model::Model::InitBundle(manifest, seed);
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

class InferenceServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelManagerOptions m;
    m.batching.workers = 2;
    m.batching.batch_timeout = absl::ZeroDuration();
    m.source = &source_;
    manager_ = std::make_unique<ModelManager>(m);
    PredictorOptions p;
    p.manager = manager_.get();
    p.pod_id = "pod-1";
    p.max_request_rows = 16;
    p.log = [this](const v1::PredictRequest& q, const v1::PredictResponse& r,
                   absl::string_view caller) {
      absl::MutexLock lock(&mu_);
      logged_roles_.push_back(r.role());
      if (r.role() != v1::SERVING_ROLE_SHADOW) {
        last_caller_ = std::string(caller);
      }
      return q.log() != v1::LOG_POLICY_NEVER;
    };
    predictor_ = std::make_unique<Predictor>(p);
    service_ = std::make_unique<InferenceServiceImpl>(
        predictor_.get(), [] { return RegistryState{true, false}; });
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::InferenceService::NewStub(channel_);
  }
  void TearDown() override { server_->Shutdown(); }

  void Deploy(const std::string& model, v1::ModelFamily family,
              int64_t shadow = 0) {
    v1::Deployment d;
    d.set_model(model);
    d.set_revision(++revision_);
    d.set_stable_version(1);
    v1::DeployedArtifact* a = d.add_artifacts();
    a->set_version(1);
    a->set_sha256(source_.Add(*model::SerializeBundle(Bundle(family, 1))));
    if (shadow > 0) {
      d.set_shadow_version(shadow);
      d.set_shadow_percent(100);
      a = d.add_artifacts();
      a->set_version(shadow);
      a->set_sha256(
          source_.Add(*model::SerializeBundle(Bundle(family, shadow))));
    }
    ASSERT_TRUE(manager_->Apply(d).ok());
  }

  static v1::PredictRequest Request(const std::string& model, int rows,
                                    int dim = 3) {
    v1::PredictRequest r;
    r.set_model(model);
    r.mutable_inputs()->add_shape(rows);
    r.mutable_inputs()->add_shape(dim);
    for (int i = 0; i < rows * dim; ++i) {
      r.mutable_inputs()->add_data(0.1f * i);
    }
    return r;
  }

  grpc::Status Predict(const v1::PredictRequest& request,
                       v1::PredictResponse* response) {
    grpc::ClientContext context;
    return stub_->Predict(&context, request, response);
  }

  MemoryArtifactSource source_;
  int64_t revision_ = 0;
  std::unique_ptr<ModelManager> manager_;
  std::unique_ptr<Predictor> predictor_;
  std::unique_ptr<InferenceServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InferenceService::Stub> stub_;
  absl::Mutex mu_;
  std::vector<v1::ServingRole> logged_roles_ ABSL_GUARDED_BY(mu_);
  std::string last_caller_ ABSL_GUARDED_BY(mu_);
};

TEST_F(InferenceServiceTest, ClassifierAnswerMatchesTheModel) {
  ASSERT_NO_FATAL_FAILURE(Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER));
  v1::PredictRequest request = Request("c", 5);
  request.set_request_id("req-7");
  v1::PredictResponse response;
  ASSERT_TRUE(Predict(request, &response).ok());
  EXPECT_EQ(response.version().version(), 1);
  EXPECT_EQ(response.role(), v1::SERVING_ROLE_STABLE);
  EXPECT_EQ(response.revision(), 1);
  EXPECT_EQ(response.request_id(), "req-7");
  EXPECT_EQ(response.pod_id(), "pod-1");
  ASSERT_THAT(response.outputs().shape(), ::testing::ElementsAre(5, 4));
  // The same numbers as the model run directly.
  auto direct = model::Model::FromBundle(
      Bundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 1));
  ASSERT_TRUE(direct.ok());
  std::vector<float> expected;
  ASSERT_TRUE((*direct)
                  ->Forward(request.inputs().data().data(), 5, &expected)
                  .ok());
  ASSERT_EQ(response.outputs().data_size(), 20);
  for (int i = 0; i < 20; ++i) {
    EXPECT_NEAR(response.outputs().data(i), expected[i], 1e-6);
  }
  ASSERT_EQ(response.predicted_classes_size(), 5);
  for (int r = 0; r < 5; ++r) {
    auto row = expected.begin() + r * 4;
    EXPECT_EQ(response.predicted_classes(r),
              std::max_element(row, row + 4) - row);
    EXPECT_FLOAT_EQ(response.scores(r), *std::max_element(row, row + 4));
  }
}

TEST_F(InferenceServiceTest, TheAnswerSaysWhetherItWasLogged) {
  ASSERT_NO_FATAL_FAILURE(Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER));
  v1::PredictRequest request = Request("c", 1);
  v1::PredictResponse response;
  ASSERT_TRUE(Predict(request, &response).ok());
  EXPECT_TRUE(response.logged());
  request.set_log(v1::LOG_POLICY_NEVER);
  ASSERT_TRUE(Predict(request, &response).ok());
  EXPECT_FALSE(response.logged());
  // force_log and NEVER contradict each other.
  request.set_force_log(true);
  grpc::Status s = Predict(request, &response);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("force_log: contradicts log"));
  request.set_force_log(false);
  request.set_log(static_cast<v1::LogPolicy>(9));
  s = Predict(request, &response);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("log: 9 is not a value"));
  // The log sees the caller (x-continuum-actor), for per-caller policies.
  request.clear_log();
  grpc::ClientContext context;
  context.AddMetadata("x-continuum-actor", "evaluator");
  ASSERT_TRUE(stub_->Predict(&context, request, &response).ok());
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(last_caller_, "evaluator");
}

TEST_F(InferenceServiceTest, AutoencoderFlagsAnomalies) {
  ASSERT_NO_FATAL_FAILURE(Deploy("ae", v1::MODEL_FAMILY_AUTOENCODER));
  v1::PredictRequest request = Request("ae", 2);
  request.mutable_inputs()->set_data(0, 100.0f);  // Far off: anomalous.
  v1::PredictResponse response;
  ASSERT_TRUE(Predict(request, &response).ok());
  ASSERT_EQ(response.scores_size(), 2);
  ASSERT_EQ(response.anomalies_size(), 2);
  EXPECT_TRUE(response.anomalies(0));
  EXPECT_EQ(response.anomalies(1), response.scores(1) > 0.5f);
}

TEST_F(InferenceServiceTest, ForecasterTakesWindowsAndAnswersQuantiles) {
  ASSERT_NO_FATAL_FAILURE(Deploy("cpu", v1::MODEL_FAMILY_GRU_FORECASTER));
  v1::PredictRequest request = Request("cpu", 2, 12);
  request.mutable_inputs()->clear_shape();
  for (int d : {2, 4, 3}) request.mutable_inputs()->add_shape(d);
  v1::PredictResponse response;
  grpc::Status s = Predict(request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // [rows, horizons, series, quantiles], as the model computes it.
  EXPECT_THAT(response.outputs().shape(), ::testing::ElementsAre(2, 2, 2, 3));
  absl::StatusOr<std::unique_ptr<model::Model>> m =
      model::Model::FromBundle(Bundle(v1::MODEL_FAMILY_GRU_FORECASTER, 1));
  ASSERT_TRUE(m.ok());
  std::vector<float> want;
  ASSERT_TRUE(
      (*m)->Forward(request.inputs().data().data(), 2, &want).ok());
  ASSERT_EQ(response.outputs().data_size(), static_cast<int>(want.size()));
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_FLOAT_EQ(response.outputs().data(static_cast<int>(i)), want[i]);
  }
  // Each row's score: the median of the first series at the first horizon.
  ASSERT_EQ(response.scores_size(), 2);
  EXPECT_FLOAT_EQ(response.scores(1), want[12 + 1]);
  EXPECT_EQ(response.predicted_classes_size(), 0);

  // A window flattened into a row is not a window.
  v1::PredictRequest flat = Request("cpu", 2, 12);
  s = Predict(flat, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("inputs.shape is [2, 12]; model cpu version 1 takes "
                        "[rows, 4, 3]"));
}

TEST_F(InferenceServiceTest, BadRequestsNameTheProblem) {
  ASSERT_NO_FATAL_FAILURE(Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER));
  struct Case {
    v1::PredictRequest request;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({Request("", 1), grpc::INVALID_ARGUMENT, "model"});
  cases.push_back({Request("nope", 1), grpc::NOT_FOUND, "nope"});
  cases.push_back({Request("c", 1, 4), grpc::INVALID_ARGUMENT, "[rows, 3]"});
  cases.push_back({Request("c", 17), grpc::INVALID_ARGUMENT, "at most 16"});
  v1::PredictRequest short_data = Request("c", 2);
  short_data.mutable_inputs()->mutable_data()->RemoveLast();
  cases.push_back({short_data, grpc::INVALID_ARGUMENT, "needs 6"});
  v1::PredictRequest nan = Request("c", 2);
  nan.mutable_inputs()->set_data(4, NAN);
  cases.push_back({nan, grpc::INVALID_ARGUMENT, "row 1 column 1"});
  v1::PredictRequest ids = Request("c", 2);
  ids.add_record_ids("only-one");
  cases.push_back({ids, grpc::INVALID_ARGUMENT, "record_ids"});
  v1::PredictRequest pinned = Request("c", 1);
  pinned.set_version(9);
  cases.push_back({pinned, grpc::NOT_FOUND, "loaded versions: [1]"});
  v1::PredictRequest long_id = Request("c", 1);
  long_id.set_request_id(std::string(200, 'x'));
  cases.push_back({long_id, grpc::INVALID_ARGUMENT, "request_id"});
  // Issue 14: the rules of inference.proto's fields, checked before
  // routing. A pin of -1 was served by normal routing; a shape of [-1, 3]
  // answered "inputs holds no rows"; a 200-byte record id was accepted and
  // later took other requests' logged rows down with it at the collector.
  v1::PredictRequest negative_pin = Request("c", 1);
  negative_pin.set_version(-1);
  cases.push_back({negative_pin, grpc::INVALID_ARGUMENT,
                   "version: must be >= 0 (got -1)"});
  v1::PredictRequest negative_shape = Request("c", 1);
  negative_shape.mutable_inputs()->set_shape(0, -1);
  cases.push_back({negative_shape, grpc::INVALID_ARGUMENT,
                   "inputs.shape[0]: must be >= 0 (got -1)"});
  v1::PredictRequest long_record_id = Request("c", 2);
  long_record_id.add_record_ids("a");
  long_record_id.add_record_ids(std::string(200, 'x'));
  cases.push_back({long_record_id, grpc::INVALID_ARGUMENT,
                   "record_ids[1]: at most 128 bytes (got 200)"});
  v1::PredictRequest empty_record_id = Request("c", 1);
  empty_record_id.add_record_ids("");
  cases.push_back({empty_record_id, grpc::INVALID_ARGUMENT, "record_ids[0]"});
  v1::PredictRequest bad_model = Request("Bad/Model", 1);
  cases.push_back({bad_model, grpc::INVALID_ARGUMENT, "model"});
  v1::PredictRequest no_inputs = Request("c", 1);
  no_inputs.clear_inputs();
  cases.push_back({no_inputs, grpc::INVALID_ARGUMENT, "inputs"});
  v1::PredictRequest bad_attribute = Request("c", 1);
  (*bad_attribute.mutable_attributes())["Site"] = "eu";
  cases.push_back({bad_attribute, grpc::INVALID_ARGUMENT,
                   "attributes: attribute key \"Site\" must match"});
  for (const Case& c : cases) {
    v1::PredictResponse response;
    grpc::Status s = Predict(c.request, &response);
    EXPECT_EQ(s.error_code(), c.code) << c.message << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
  }
}

TEST_F(InferenceServiceTest, ModelWithoutAVersionIsUnavailable) {
  v1::Deployment d;
  d.set_model("later");
  d.set_revision(1);
  ASSERT_TRUE(manager_->Apply(d).ok());
  v1::PredictResponse response;
  EXPECT_EQ(Predict(Request("later", 1), &response).error_code(),
            grpc::UNAVAILABLE);
}

TEST_F(InferenceServiceTest, StreamAnswersEachRequestIncludingErrors) {
  ASSERT_NO_FATAL_FAILURE(Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER));
  grpc::ClientContext context;
  auto stream = stub_->PredictStream(&context);
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    v1::PredictStreamRequest message;
    // Request 50 is malformed; it gets its own error and the stream goes on.
    *message.mutable_request() = Request("c", 1 + i % 4, i == 50 ? 2 : 3);
    message.mutable_request()->set_request_id(absl::StrCat("r", i));
    ASSERT_TRUE(stream->Write(message));
  }
  stream->WritesDone();
  std::set<int64_t> sequences;
  v1::PredictStreamResponse answer;
  int errors = 0;
  while (stream->Read(&answer)) {
    EXPECT_TRUE(sequences.insert(answer.sequence()).second);
    EXPECT_EQ(answer.request_id(), absl::StrCat("r", answer.sequence()));
    if (answer.has_error()) {
      ++errors;
      EXPECT_EQ(answer.sequence(), 50);
      EXPECT_EQ(answer.error().code(), grpc::INVALID_ARGUMENT);
    } else {
      EXPECT_EQ(answer.response().outputs().shape(0),
                1 + answer.sequence() % 4);
    }
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(sequences.size(), static_cast<size_t>(n));
  EXPECT_EQ(errors, 1);
}

// A PredictStream of raw messages: writes each of `messages`, half-closes,
// and reads every answer (out of order) and the final status.
struct RawStreamResult {
  grpc::Status status;
  std::vector<v1::PredictStreamResponse> answers;
};

RawStreamResult PredictStreamRaw(grpc::Channel* channel,
                                 const std::vector<std::string>& messages) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::
                 Create(channel,
                        grpc::internal::RpcMethod(
                            "/continuum.v1.InferenceService/PredictStream",
                            grpc::internal::RpcMethod::BIDI_STREAMING),
                        &context));
  for (const std::string& m : messages) {
    grpc::Slice slice(m.data(), m.size());
    if (!stream->Write(grpc::ByteBuffer(&slice, 1))) break;
  }
  stream->WritesDone();
  RawStreamResult result;
  grpc::ByteBuffer bytes;
  while (stream->Read(&bytes)) {
    v1::PredictStreamResponse answer;
    EXPECT_TRUE(
        grpc::SerializationTraits<v1::PredictStreamResponse>::Deserialize(
            &bytes, &answer)
            .ok());
    result.answers.push_back(std::move(answer));
  }
  result.status = stream->Finish();
  return result;
}

// Issue 14: [valid, unparsable, valid] ended OK after one answer, the
// third message never answered and the client told all was well.
TEST_F(InferenceServiceTest, StreamWithAnUnparsableMessageFailsNamingIt) {
  ASSERT_NO_FATAL_FAILURE(Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER));
  auto message = [](int rows, const std::string& id) {
    v1::PredictStreamRequest m;
    *m.mutable_request() = Request("c", rows);
    m.mutable_request()->set_request_id(id);
    return m.SerializeAsString();
  };
  RawStreamResult result = PredictStreamRaw(
      channel_.get(), {message(2, "a"), message(1, "b"),
                       std::string("\xff\xff\xff\xff not a message", 17),
                       message(3, "c")});
  EXPECT_EQ(result.status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_EQ(result.status.error_message(),
            "message 3 of the stream is not a valid "
            "continuum.v1.PredictStreamRequest (its bytes do not parse as "
            "that message); the 2 messages before it are answered; nothing "
            "after it was read");
  // Both messages before it were answered, with predictions.
  ASSERT_EQ(result.answers.size(), 2u);
  std::set<std::string> ids;
  for (const v1::PredictStreamResponse& a : result.answers) {
    EXPECT_TRUE(a.has_response()) << a.DebugString();
    ids.insert(a.request_id());
  }
  EXPECT_EQ(ids, (std::set<std::string>{"a", "b"}));
  // A clean raw stream still ends OK.
  result = PredictStreamRaw(channel_.get(), {message(1, "x")});
  EXPECT_TRUE(result.status.ok()) << result.status.error_message();
  EXPECT_EQ(result.answers.size(), 1u);
}

TEST_F(InferenceServiceTest, ShadowRunsButNeverAnswers) {
  ASSERT_NO_FATAL_FAILURE(
      Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER, /*shadow=*/2));
  for (int i = 0; i < 20; ++i) {
    v1::PredictResponse response;
    ASSERT_TRUE(Predict(Request("c", 2), &response).ok());
    EXPECT_EQ(response.version().version(), 1);
    EXPECT_EQ(response.role(), v1::SERVING_ROLE_STABLE);
  }
  // Every request was also run by the shadow, off the request path, and
  // logged as SHADOW.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        absl::MutexLock lock(&mu_);
        return std::count(logged_roles_.begin(), logged_roles_.end(),
                          v1::SERVING_ROLE_SHADOW) == 20;
      },
      absl::Seconds(30)));
  auto status = manager_->Status("c");
  ASSERT_TRUE(status.ok());
  int64_t shadow_rows = 0;
  for (const auto& v : (*status)[0].versions()) {
    if (v.role() == v1::SERVING_ROLE_SHADOW) shadow_rows = v.rows_served();
  }
  EXPECT_EQ(shadow_rows, 40);
}

TEST_F(InferenceServiceTest, GetModelStatus) {
  ASSERT_NO_FATAL_FAILURE(Deploy("c", v1::MODEL_FAMILY_MLP_CLASSIFIER));
  grpc::ClientContext context;
  v1::GetModelStatusResponse response;
  ASSERT_TRUE(
      stub_->GetModelStatus(&context, v1::GetModelStatusRequest(), &response)
          .ok());
  EXPECT_EQ(response.pod_id(), "pod-1");
  EXPECT_TRUE(response.ready());
  EXPECT_TRUE(response.registry_connected());
  ASSERT_EQ(response.models_size(), 1);
  EXPECT_EQ(response.models(0).model(), "c");
  EXPECT_EQ(response.models(0).revision(), 1);
  grpc::ClientContext context2;
  v1::GetModelStatusRequest unknown;
  unknown.set_model("zzz");
  EXPECT_EQ(stub_->GetModelStatus(&context2, unknown, &response).error_code(),
            grpc::NOT_FOUND);
  grpc::ClientContext context3;
  v1::GetModelStatusRequest invalid;
  invalid.set_model("Not/An-Id");
  grpc::Status s = stub_->GetModelStatus(&context3, invalid, &response);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("model"));
}

}  // namespace
}  // namespace continuum::inference
