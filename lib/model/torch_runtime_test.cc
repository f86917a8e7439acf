#include "lib/model/torch_runtime.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "lib/core/rpc_metrics.h"
#include "tests/util/subprocess.h"

namespace continuum::model {
namespace {

TEST(TorchRuntimeTest, ConfiguresThreads) {
  config::v1::TorchRuntimeConfig config;
  config.set_intra_op_threads(1);
  ASSERT_TRUE(ConfigureTorchRuntime(config).ok());
  EXPECT_EQ(GetTorchRuntimeInfo().intra_op_threads, 1);
  config.set_intra_op_threads(-2);
  EXPECT_EQ(ConfigureTorchRuntime(config).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TorchRuntimeTest, MatmulIsCorrect) {
  absl::StatusOr<double> gflops = RunMatmulSelfCheck(128);
  ASSERT_TRUE(gflops.ok()) << gflops.status();
  EXPECT_GT(*gflops, 0.0);
  EXPECT_EQ(RunMatmulSelfCheck(0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TorchRuntimeTest, ReportsVersionAndBlas) {
  ASSERT_TRUE(RunMatmulSelfCheck(64).ok());
  TorchRuntimeInfo info = GetTorchRuntimeInfo();
  EXPECT_FALSE(info.torch_version.empty());
  EXPECT_FALSE(info.blas_library.empty())
      << "no BLAS library is mapped into a process running LibTorch";
  // scripts/install-deps installs the serial OpenBLAS; the others break the
  // metrics exposer (see the next test) or are 30x slower.
  EXPECT_EQ(info.blas_kind, "openblas-serial") << info.blas_library;
}

TEST(TorchRuntimeTest, ClassifiesBlasLibraries) {
  EXPECT_EQ(ClassifyBlasLibrary(
                "/usr/lib/x86_64-linux-gnu/openblas-serial/libblas.so.3"),
            "openblas-serial");
  EXPECT_EQ(ClassifyBlasLibrary(
                "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"),
            "openblas-pthread");
  EXPECT_EQ(ClassifyBlasLibrary(
                "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"),
            "openblas-pthread");
  EXPECT_EQ(ClassifyBlasLibrary("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3"),
            "reference");
  EXPECT_EQ(ClassifyBlasLibrary(""), "unknown");
}

// With libopenblas0-pthread or -openmp, the thread-local storage of BLAS no
// longer fits civetweb's 100 KiB thread stacks and the exposer fails to
// start. This process has LibTorch and its BLAS loaded and working.
TEST(TorchRuntimeTest, MetricsExposerStartsWithLibTorchLoaded) {
  ASSERT_TRUE(RunMatmulSelfCheck(256).ok());
  auto registry = std::make_shared<prometheus::Registry>();
  core::RpcMetrics metrics(*registry, "inference");
  metrics.CallStarted("/continuum.v1.InferenceService/Predict");
  metrics.CallFinished("/continuum.v1.InferenceService/Predict",
                       grpc::StatusCode::OK, 0.001);
  auto exposer = core::MetricsExposer::Start("127.0.0.1:0", {registry});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> body =
        testing::HttpGet("127.0.0.1", (*exposer)->port(), "/metrics");
    ASSERT_TRUE(body.ok()) << body.status();
    EXPECT_EQ(
        testing::FindSample(*body, "continuum_inference_rpc_requests_total",
                            {"code=\"OK\""}),
        1.0);
  }
}

}  // namespace
}  // namespace continuum::model
