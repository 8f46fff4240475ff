// ReLU and LeakyReLU (oneDNN eltwise, any layout; dst has src's layout). The
// backward pass uses dst, not src (eltwise_relu_use_dst_for_bwd, valid for a
// slope >= 0), so the saved tensor is the output the next layer keeps anyway.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct ActivationOptions {
  float negative_slope = 0.f;  // 0: ReLU; > 0: LeakyReLU (PyTorch default 0.01)
  bool in_place = false;       // write dst over src (src must not be needed elsewhere)
};

struct ActivationSaved {
  Tensor dst;
  float negative_slope = 0.f;
};

Tensor relu_forward(Context& ctx, const Tensor& src, const ActivationOptions& options = {},
                    ActivationSaved* saved = nullptr);
inline Tensor leaky_relu_forward(Context& ctx, const Tensor& src, float negative_slope = 0.01f,
                                 ActivationSaved* saved = nullptr) {
  return relu_forward(ctx, src, {negative_slope, false}, saved);
}

// diff_src in the layout of the saved dst.
Tensor relu_backward(Context& ctx, const Tensor& diff_dst, const ActivationSaved& saved);

}  // namespace tensortier::runtime
