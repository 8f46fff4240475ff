// BatchNorm3d over (N, D, H, W) per channel, PyTorch semantics: training mode
// normalises with the batch statistics (biased variance) and updates the
// running statistics in place (running_var with the unbiased variance,
// running = (1 - momentum) * running + momentum * batch); inference mode
// normalises with the running statistics. Optionally fused with a following
// ReLU (oneDNN's fuse_norm_relu: one pass instead of two, fwd and bwd).
// scale (gamma), shift (beta), running_mean, running_var: (C) f32 plain.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct BatchNorm3dOptions {
  float epsilon = 1e-5f;
  float momentum = 0.1f;
  bool fuse_relu = false;
};

struct BatchNorm3dSaved {
  Tensor src;       // the layout the primitive used
  Tensor mean;      // batch statistics (C)
  Tensor variance;  // biased
  Tensor scale;
  Tensor shift;
  Tensor workspace;  // ReLU mask when fused
  BatchNorm3dOptions options;
};

struct BatchNorm3dGrads {
  Tensor diff_src;    // activation layout
  Tensor diff_scale;  // (C)
  Tensor diff_shift;  // (C)
};

// Training forward. running_mean / running_var are updated in place; pass
// undefined tensors to skip that. `saved` may be null when no backward follows.
Tensor batch_norm3d_forward_training(Context& ctx, const Tensor& src, const Tensor& scale,
                                     const Tensor& shift, const Tensor& running_mean,
                                     const Tensor& running_var, const BatchNorm3dOptions& options,
                                     BatchNorm3dSaved* saved);

// Inference forward with the running statistics.
Tensor batch_norm3d_forward_inference(Context& ctx, const Tensor& src, const Tensor& scale,
                                      const Tensor& shift, const Tensor& running_mean,
                                      const Tensor& running_var,
                                      const BatchNorm3dOptions& options = {});

BatchNorm3dGrads batch_norm3d_backward(Context& ctx, const Tensor& diff_dst,
                                       const BatchNorm3dSaved& saved);

}  // namespace tensortier::runtime
