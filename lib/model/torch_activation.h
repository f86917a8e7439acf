// Internal to lib/model, for its LibTorch .cc files only (mlp.cc,
// training_net.cc): the activation functions of a ModelSpec on tensors.
// Includes LibTorch: never include it from a header that services see.
#ifndef CONTINUUM_LIB_MODEL_TORCH_ACTIVATION_H_
#define CONTINUUM_LIB_MODEL_TORCH_ACTIVATION_H_

#include <ATen/ATen.h>

#include "continuum/v1/common.pb.h"

namespace continuum::model {

// `activation` applied to `h` elementwise; unset or unknown is ReLU (as
// ResolveSpec makes it). May throw (LibTorch).
inline at::Tensor Activate(v1::Activation activation, const at::Tensor& h) {
  switch (activation) {
    case v1::ACTIVATION_GELU:
      return at::gelu(h);
    case v1::ACTIVATION_TANH:
      return at::tanh(h);
    case v1::ACTIVATION_SIGMOID:
      return at::sigmoid(h);
    case v1::ACTIVATION_RELU:
    default:
      return at::relu(h);
  }
}

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TORCH_ACTIVATION_H_
