// ConvTranspose3d: the U-Net's up-sampling, kernel 2, stride 2, no padding,
// optional bias. Shapes:
//   src (N, IC, D, H, W), weights (OC, IC, 2, 2, 2) plain — note oneDNN's
//   (out, in) order; PyTorch's ConvTranspose3d.weight is (in, out, ...) —
//   bias (OC), dst (N, OC, 2D, 2H, 2W) in the context's activation layout.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct ConvTranspose3dSaved {
  Tensor src;
  Tensor weights;
  bool has_bias = false;
};

struct ConvTranspose3dGrads {
  Tensor diff_src;
  Tensor diff_weights;
  Tensor diff_bias;
};

Tensor conv_transpose3d_forward(Context& ctx, const Tensor& src, const Tensor& weights,
                                const Tensor& bias, ConvTranspose3dSaved* saved = nullptr);

ConvTranspose3dGrads conv_transpose3d_backward(Context& ctx, const Tensor& diff_dst,
                                               const ConvTranspose3dSaved& saved,
                                               bool need_diff_src = true);

}  // namespace tensortier::runtime
