// MaxPool3d with a 2x2x2 window and stride 2 (the U-Net's down-sampling):
// src (N, C, D, H, W) with even D, H, W -> dst (N, C, D/2, H/2, W/2). The
// training forward keeps oneDNN's workspace (where each max came from) for
// the backward pass; it is allocated from the tensortier allocator too.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct MaxPool3dSaved {
  Dims src_dims;
  Tensor workspace;  // oneDNN's argmax workspace (opaque layout)
};

Tensor max_pool3d_forward(Context& ctx, const Tensor& src, MaxPool3dSaved* saved = nullptr);

// diff_src in the activation layout.
Tensor max_pool3d_backward(Context& ctx, const Tensor& diff_dst, const MaxPool3dSaved& saved);

}  // namespace tensortier::runtime
