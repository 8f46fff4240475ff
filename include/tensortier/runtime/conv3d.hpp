// Conv3d: 3D convolution with stride 1, a cubic kernel (3 or 1 in the U-Net)
// and symmetric zero padding, optional bias. Shapes (PyTorch's Conv3d):
//   src (N, IC, D, H, W), weights (OC, IC, k, k, k) plain, bias (OC) plain,
//   dst (N, OC, D + 2p - k + 1, ...) in the context's activation layout.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct Conv3dOptions {
  int kernel = 3;
  int padding = 1;
};

// What conv3d_backward needs from the forward pass.
struct Conv3dSaved {
  Tensor src;      // in the layout the primitive used (shares storage when no reorder)
  Tensor weights;  // the parameter tensor (plain)
  bool has_bias = false;
  Conv3dOptions options;
};

struct Conv3dGrads {
  Tensor diff_src;      // activation layout; undefined unless requested
  Tensor diff_weights;  // plain, like weights
  Tensor diff_bias;     // plain; undefined without bias
};

// `bias` may be undefined (no bias). With `saved`, the forward is a training
// forward and fills `saved`; without, an inference forward.
Tensor conv3d_forward(Context& ctx, const Tensor& src, const Tensor& weights, const Tensor& bias,
                      const Conv3dOptions& options, Conv3dSaved* saved = nullptr);

Conv3dGrads conv3d_backward(Context& ctx, const Tensor& diff_dst, const Conv3dSaved& saved,
                            bool need_diff_src = true);

}  // namespace tensortier::runtime
