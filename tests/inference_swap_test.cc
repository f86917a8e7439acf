// The inference pod against a real registry process, both as separate
// processes over loopback:
// - swap under load: client threads predict without pause while 50 new
//   versions are deployed; no request fails, every answer names a version
//   that was deployed by then, and after the last swap no old version
//   stays loaded;
// - bad artifacts uploaded to the registry (corrupt, shapes disagreeing
//   with the manifest, NaN weights) are refused and the current version
//   keeps serving;
// - a pod restarted while the registry is down serves the deployment it
//   cached on disk.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "continuum/v1/inference.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "tests/util/registry_upload.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

constexpr int kInputs = 784;
constexpr int kClasses = 10;

std::string BundleBytes(uint64_t seed) {
  v1::ArtifactManifest manifest;
  manifest.set_model("fmnist");
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(kInputs);
  manifest.mutable_spec()->set_output_dim(kClasses);
  manifest.mutable_spec()->add_hidden_sizes(32);
  auto bundle = model::Model::InitBundle(manifest, seed);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  auto bytes = model::SerializeBundle(*bundle);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

// Uploads `bytes` with a passing validation report: the registry
// validates it and, with the immediate plan, deploys it. Returns the
// version number.
int64_t UploadValidated(v1::RegistryService::Stub& stub,
                        const std::string& bytes) {
  absl::StatusOr<v1::Version> v =
      testing::UploadValidatedVersion(stub, "fmnist", bytes);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->version() : 0;
}

class Processes {
 public:
  Processes() : dir_(testing::MakeTempDir("inference_swap_")) {}

  void StartRegistry() {
    auto p = Subprocess::Start(
        {absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-registry"),
         "--data_dir=" + dir_ + "/registry", "--port_file=" + dir_ +
         "/registry.port", "--metrics_listen=", "--shutdown_grace=1s"},
        dir_, "registry");
    ASSERT_TRUE(p.ok()) << p.status();
    registry_ = *std::move(p);
    registry_port_ = testing::WaitForPortFile(dir_ + "/registry.port",
                                              *registry_);
    ASSERT_GT(registry_port_, 0) << registry_->ReadStderr();
    registry_stub_ = v1::RegistryService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", registry_port_),
        grpc::InsecureChannelCredentials()));
  }

  void StartInference() {
    std::remove((dir_ + "/inference.port").c_str());
    auto p = Subprocess::Start(
        {absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-inference"),
         "--data_dir=" + dir_ + "/inference",
         "--port_file=" + dir_ + "/inference.port", "--metrics_listen=",
         "--shutdown_grace=2s",
         absl::StrCat("--config_text=registry_address: \"127.0.0.1:",
                      registry_port_,
                      "\" pod_id: \"pod-a\" batching { workers: 2 } "
                      "max_reconnect_backoff { nanos: 200000000 }")},
        dir_, absl::StrCat("inference", ++inference_starts_));
    ASSERT_TRUE(p.ok()) << p.status();
    inference_ = *std::move(p);
    int port = testing::WaitForPortFile(dir_ + "/inference.port",
                                        *inference_);
    ASSERT_GT(port, 0) << inference_->ReadStderr();
    inference_target_ = absl::StrCat("127.0.0.1:", port);
  }

  void Stop(std::unique_ptr<Subprocess>& p) {
    ASSERT_TRUE(p->Signal(SIGTERM).ok());
    auto status = p->Wait(absl::Seconds(30));
    ASSERT_TRUE(status.ok()) << status.status();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << p->ReadStderr();
    p.reset();
  }

  std::unique_ptr<v1::InferenceService::Stub> NewInferenceStub() {
    // A channel per caller: one HTTP/2 connection each.
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    return v1::InferenceService::NewStub(grpc::CreateCustomChannel(
        inference_target_, grpc::InsecureChannelCredentials(), args));
  }

  bool Serving() {
    auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
        inference_target_, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(2));
    grpc::health::v1::HealthCheckResponse response;
    return stub->Check(&context, grpc::health::v1::HealthCheckRequest(),
                       &response)
               .ok() &&
           response.status() ==
               grpc::health::v1::HealthCheckResponse::SERVING;
  }

  absl::StatusOr<v1::GetModelStatusResponse> Status() {
    auto stub = NewInferenceStub();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::GetModelStatusRequest request;
    request.set_model("fmnist");
    v1::GetModelStatusResponse response;
    grpc::Status s = stub->GetModelStatus(&context, request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return response;
  }

  // Waits until the pod serves `version` as stable and holds nothing else
  // (no UNLOADING or FAILED leftovers unless `only` is false).
  bool WaitServing(int64_t version, bool only) {
    return WaitFor(
        [&] {
          auto s = Status();
          if (!s.ok() || s->models_size() != 1) return false;
          bool stable = false;
          int others = 0;
          for (const auto& v : s->models(0).versions()) {
            if (v.version() == version &&
                v.state() == v1::SERVING_STATE_AVAILABLE &&
                v.role() == v1::SERVING_ROLE_STABLE) {
              stable = true;
            } else if (v.state() != v1::SERVING_STATE_FAILED) {
              ++others;
            }
          }
          return stable && (!only || others == 0);
        },
        absl::Seconds(60));
  }

  void Register() {
    grpc::ClientContext context;
    v1::RegisterModelRequest request;
    request.set_model_id("fmnist");
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
    v1::RegisterModelResponse response;
    grpc::Status s = registry_stub_->RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  std::string dir_;
  std::unique_ptr<Subprocess> registry_, inference_;
  int registry_port_ = 0;
  int inference_starts_ = 0;
  std::string inference_target_;
  std::unique_ptr<v1::RegistryService::Stub> registry_stub_;
};

v1::PredictRequest Request(int rows, int seed) {
  v1::PredictRequest request;
  request.set_model("fmnist");
  request.mutable_inputs()->add_shape(rows);
  request.mutable_inputs()->add_shape(kInputs);
  for (int i = 0; i < rows * kInputs; ++i) {
    request.mutable_inputs()->add_data(((i * 7 + seed) % 255) / 255.0f);
  }
  return request;
}

TEST(InferenceSwapTest, FiftySwapsUnderLoadRestartFromCacheAndBadArtifacts) {
  Processes p;
  ASSERT_NO_FATAL_FAILURE(p.StartRegistry());
  ASSERT_NO_FATAL_FAILURE(p.Register());
  ASSERT_NO_FATAL_FAILURE(p.StartInference());
  // Not ready without a model.
  EXPECT_FALSE(p.Serving());
  ASSERT_EQ(UploadValidated(*p.registry_stub_, BundleBytes(1)), 1);
  ASSERT_TRUE(WaitFor([&] { return p.Serving(); }, absl::Seconds(60)))
      << p.inference_->ReadStderr();
  ASSERT_TRUE(p.WaitServing(1, true));

  // Load: 4 threads, each its own channel, predicting without pause.
  std::atomic<int64_t> deployed_max{1};   // Uploaded and validated.
  std::atomic<int64_t> confirmed_min{1};  // Seen served by the pod.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> ok{0}, failed{0}, out_of_range{0}, went_back{0};
  std::vector<std::string> errors(4);
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      auto stub = p.NewInferenceStub();
      v1::PredictRequest request = Request(8, t);
      int64_t last = 0;
      while (!stop.load()) {
        const int64_t lo = confirmed_min.load();
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        v1::PredictResponse response;
        grpc::Status s = stub->Predict(&context, request, &response);
        const int64_t hi = deployed_max.load();
        if (!s.ok()) {
          ++failed;
          errors[t] = s.error_message();
          continue;
        }
        ++ok;
        const int64_t v = response.version().version();
        if (v < lo || v > hi) ++out_of_range;
        if (v < last) ++went_back;
        last = v;
      }
    });
  }
  for (int i = 2; i <= 51; ++i) {
    // Publish the upper bound before the version can possibly serve.
    deployed_max.store(i);
    ASSERT_EQ(UploadValidated(*p.registry_stub_, BundleBytes(i)), i);
    ASSERT_TRUE(p.WaitServing(i, false)) << "version " << i;
    confirmed_min.store(i);
  }
  // Let the load run on the last version for a moment, by requests counted.
  const int64_t after = ok.load() + 200;
  const bool ran_on = WaitFor(
      [&] { return ok.load() >= after || failed.load() > 0; },
      absl::Seconds(60));
  stop.store(true);
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(ran_on) << "200 more predictions on the last version did not "
                         "complete within 60 s (" << ok.load() << " ok)";
  EXPECT_EQ(failed.load(), 0) << errors[0] << errors[1] << errors[2]
                              << errors[3];
  EXPECT_GT(ok.load(), 500);
  std::cout << ok.load() << " predictions during 50 swaps, " << failed.load()
            << " failed\n";
  EXPECT_EQ(out_of_range.load(), 0);
  EXPECT_EQ(went_back.load(), 0);
  // No old version stays loaded once the requests are done.
  EXPECT_TRUE(p.WaitServing(51, true));
  {
    auto s = p.Status();
    ASSERT_TRUE(s.ok());
    EXPECT_TRUE(s->ready());
    EXPECT_TRUE(s->registry_connected());
    EXPECT_EQ(s->models(0).versions_size(), 1) << s->DebugString();
  }

  // Bad artifacts: the registry refuses each at upload, naming the problem
  // (artifact_check.h; the pod's own checks of what it loads are
  // model_manager_test's), and version 51 keeps serving.
  {
    std::string corrupt = BundleBytes(100);
    corrupt[corrupt.size() / 2] ^= 0x5a;
    auto wrong_shape = model::ParseBundle(BundleBytes(101));
    ASSERT_TRUE(wrong_shape.ok());
    wrong_shape->mutable_weights(0)->mutable_tensor()->set_shape(1, 5);
    auto nan_weights = model::ParseBundle(BundleBytes(102));
    ASSERT_TRUE(nan_weights.ok());
    nan_weights->mutable_weights(0)->mutable_tensor()->set_data(0, NAN);
    const std::vector<std::pair<std::string, std::string>> bad = {
        {corrupt, "CRC-32C mismatch"},
        {*model::SerializeBundle(*wrong_shape), "has shape"},
        {*model::SerializeBundle(*nan_weights), "is NaN"}};
    for (const auto& [bytes, why] : bad) {
      absl::StatusOr<v1::Version> refused =
          testing::UploadValidatedVersion(*p.registry_stub_, "fmnist", bytes);
      EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument)
          << refused.status();
      EXPECT_TRUE(absl::StrContains(refused.status().message(), why))
          << refused.status();
      auto stub = p.NewInferenceStub();
      grpc::ClientContext context;
      v1::PredictResponse response;
      ASSERT_TRUE(stub->Predict(&context, Request(1, 0), &response).ok());
      EXPECT_EQ(response.version().version(), 51);
    }
  }

  // Restart with the registry down: the cached deployment serves.
  ASSERT_NO_FATAL_FAILURE(p.Stop(p.inference_));
  ASSERT_NO_FATAL_FAILURE(p.Stop(p.registry_));
  ASSERT_NO_FATAL_FAILURE(p.StartInference());
  ASSERT_TRUE(WaitFor([&] { return p.Serving(); }, absl::Seconds(60)))
      << p.inference_->ReadStderr();
  auto stub = p.NewInferenceStub();
  grpc::ClientContext context;
  v1::PredictResponse response;
  grpc::Status s = stub->Predict(&context, Request(2, 0), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.version().version(), 51);
  EXPECT_EQ(response.predicted_classes_size(), 2);
  auto status = p.Status();
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(status->from_cache());
  EXPECT_FALSE(status->registry_connected());
  ASSERT_NO_FATAL_FAILURE(p.Stop(p.inference_));
}

}  // namespace
}  // namespace continuum
