// One of the few translation units that include LibTorch. Exceptions from
// LibTorch are caught here and returned as absl::Status.
#include "lib/model/torch_runtime.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <mutex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "lib/model/blas_lock.h"
#include "spdlog/spdlog.h"

namespace continuum::model {

bool BlasNeedsLock() {
  static const bool needs = [] {
    const std::string kind = GetTorchRuntimeInfo().blas_kind;
    return kind != "openblas-pthread" && kind != "openblas-openmp" &&
           kind != "reference";
  }();
  return needs;
}

std::mutex& BlasMutex() {
  static auto* mu = new std::mutex;
  return *mu;
}

std::unique_lock<std::mutex> LockBlasIfNeeded() {
  if (!BlasNeedsLock()) return std::unique_lock<std::mutex>();
  return std::unique_lock<std::mutex>(BlasMutex());
}

absl::Status ConfigureTorchRuntime(
    const config::v1::TorchRuntimeConfig& config) {
  if (config.intra_op_threads() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("torch.intra_op_threads: ", config.intra_op_threads(),
                     " is negative; use 1 (the default) or more"));
  }
  int threads = config.intra_op_threads() == 0 ? 1 : config.intra_op_threads();
  try {
    at::set_num_threads(threads);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch refused ", threads, " threads: ", e.what()));
  }
  return absl::OkStatus();
}

absl::Status InitTorchRuntime(const config::v1::TorchRuntimeConfig& config) {
  if (absl::Status s = ConfigureTorchRuntime(config); !s.ok()) return s;
  TorchRuntimeInfo info = GetTorchRuntimeInfo();
  spdlog::info("LibTorch {} with {} BLAS ({}), {} intra-op thread(s)",
               info.torch_version, info.blas_kind, info.blas_library,
               info.intra_op_threads);
  if (info.blas_kind != "openblas-serial") {
    spdlog::warn(
        "BLAS is {}, not openblas-serial: run scripts/install-deps (see "
        "docs/architecture.md, \"LibTorch and BLAS\")",
        info.blas_kind);
  }
  return absl::OkStatus();
}

std::string ClassifyBlasLibrary(const std::string& path) {
  if (path.empty()) return "unknown";
  if (absl::StrContains(path, "openblas-serial")) return "openblas-serial";
  if (absl::StrContains(path, "openblas-pthread")) return "openblas-pthread";
  if (absl::StrContains(path, "openblas-openmp")) return "openblas-openmp";
  if (absl::StrContains(path, "/blas/")) return "reference";
  if (absl::StrContains(path, "openblas")) return "openblas";
  return "unknown";
}

TorchRuntimeInfo GetTorchRuntimeInfo() {
  TorchRuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.intra_op_threads = at::get_num_threads();
  // The dynamic linker resolved libblas.so.3 and libopenblas.so.0 through
  // Debian's alternatives; the mappings show which implementation it picked.
  // OpenBLAS's own library decides (the serial libblas.so.3 loads whichever
  // libopenblas.so.0 the alternatives point at); libblas.so.3 only tells when
  // no OpenBLAS is mapped (the reference BLAS).
  std::ifstream maps("/proc/self/maps");
  std::string line;
  std::string blas;
  std::string openblas;
  while (std::getline(maps, line)) {
    size_t slash = line.find('/');
    if (slash == std::string::npos) continue;
    std::string path = line.substr(slash);
    if (openblas.empty() && absl::StrContains(path, "libopenblas")) {
      openblas = path;
    } else if (blas.empty() && absl::StrContains(path, "libblas.so")) {
      blas = path;
    }
  }
  info.blas_library = openblas.empty() ? blas : openblas;
  info.blas_kind = ClassifyBlasLibrary(info.blas_library);
  return info;
}

absl::StatusOr<double> RunMatmulSelfCheck(int n) {
  if (n <= 0) return absl::InvalidArgumentError("n must be positive");
  try {
    at::Tensor a = at::ones({n, n}, at::kFloat);
    at::Tensor b = at::full({n, n}, 2.0f, at::kFloat);
    auto start = std::chrono::steady_clock::now();
    at::Tensor c = at::mm(a, b);
    std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    // Every element is the sum of n products 1 * 2.
    float expected = 2.0f * static_cast<float>(n);
    float low = c.min().item<float>();
    float high = c.max().item<float>();
    if (low != expected || high != expected) {
      return absl::InternalError(absl::StrCat("matmul self-check: expected ",
                                              expected, ", got [", low, ", ",
                                              high, "]"));
    }
    double flops = 2.0 * n * static_cast<double>(n) * n;
    return flops / std::max(took.count(), 1e-9) / 1e9;
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("LibTorch: ", e.what()));
  }
}

}  // namespace continuum::model
