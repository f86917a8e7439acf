// The LibTorch runtime of a process: threading and the BLAS actually loaded.
//
// lib/model is the only library that includes LibTorch headers, and only in
// its .cc files; this header is plain C++ so any service may include it.
#ifndef CONTINUUM_LIB_MODEL_TORCH_RUNTIME_H_
#define CONTINUUM_LIB_MODEL_TORCH_RUNTIME_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/config/v1/torch_runtime_config.pb.h"

namespace continuum::model {

// Facts about the LibTorch runtime in this process.
struct TorchRuntimeInfo {
  // LibTorch's version, e.g. "1.13.1".
  std::string torch_version;
  // Path of the BLAS implementation mapped into this process: OpenBLAS's
  // own library when one is loaded (e.g. ".../openblas-serial/
  // libopenblas.so.0" or ".../openblas-pthread/libopenblas.so.0"), else the
  // libblas.so.3 in use; empty if none.
  std::string blas_library;
  // A short name for it: "openblas-serial", "openblas-pthread",
  // "openblas-openmp", "reference" (Netlib, about 30x slower) or "unknown".
  std::string blas_kind;
  // Intra-op threads LibTorch uses for one operation.
  int intra_op_threads = 0;
};

// Applies `config`: sets LibTorch's intra-op thread count (0 means the
// default of 1). INVALID_ARGUMENT for a negative count.
absl::Status ConfigureTorchRuntime(
    const config::v1::TorchRuntimeConfig& config);

// ConfigureTorchRuntime, then logs the runtime facts, with a warning when
// the BLAS is not the serial OpenBLAS. What trainer and inference call at
// start.
absl::Status InitTorchRuntime(const config::v1::TorchRuntimeConfig& config);

// Reads the runtime facts above.
TorchRuntimeInfo GetTorchRuntimeInfo();

// Classifies a BLAS library path as in TorchRuntimeInfo::blas_kind.
std::string ClassifyBlasLibrary(const std::string& path);

// Multiplies two n x n matrices with LibTorch and checks the result, to prove
// the runtime works (and load BLAS). Returns the achieved GFLOP/s.
// INTERNAL if LibTorch throws or the product is wrong.
absl::StatusOr<double> RunMatmulSelfCheck(int n = 256);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TORCH_RUNTIME_H_
