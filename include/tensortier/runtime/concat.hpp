// Concatenation on the channel axis (the U-Net's skip connections): srcs
// (N, C_i, D, H, W) -> dst (N, sum C_i, D, H, W) in the activation layout.
// The backward pass is the split of diff_dst back into the channel ranges.
#pragma once

#include <span>
#include <vector>

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct ConcatSaved {
  Dims dst_dims;
  std::vector<std::int64_t> channels;  // C_i of each src, in order
};

Tensor concat_forward(Context& ctx, std::span<const Tensor> srcs, ConcatSaved* saved = nullptr);

// One diff_src per src (activation layout), each a copy of its channel range.
std::vector<Tensor> concat_backward(Context& ctx, const Tensor& diff_dst, const ConcatSaved& saved);

}  // namespace tensortier::runtime
