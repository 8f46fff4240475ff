// What an op's oneDNN primitives will ask for, without running the op: the
// memory descriptors of its arguments, workspace and scratchpad, built by the
// same code the op itself runs (so a planner sees exactly what a call
// allocates: weights reordered into the primitive's layout, the fused-ReLU
// mask, the max-pool workspace, the shared scratchpad's size). Creates
// primitive descriptors only: no primitive, no tensor.
//
//   PrimitiveMemory m = describe_conv3d(ctx, {2, 16, 64, 64, 64}, {32, 16, 3, 3, 3}, false,
//                                       {3, 1}, PrimitivePass::forward_training);
//   m.weights.get_size();     // the reordered weights a forward call allocates
//   m.scratchpad.get_size();  // what it needs of the context's shared scratchpad
//
// runtime/plan/footprint.hpp turns these into a training step's or an
// inference pass's peak footprint.
#pragma once

#include <cstdint>
#include <vector>

#include "tensortier/runtime/batch_norm3d.hpp"
#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/conv3d.hpp"

namespace tensortier::runtime {

enum class PrimitivePass : std::uint8_t {
  forward_training,
  forward_inference,
  backward,          // batch norm, pooling, eltwise: the one backward primitive
  backward_data,     // convolutions: diff_src
  backward_weights,  // convolutions: diff_weights (and diff_bias)
};

// Descriptors of one primitive's arguments; zero (is_zero()) where it has none.
struct PrimitiveMemory {
  MemoryDesc src, weights, bias, dst, workspace, mean, variance;
  MemoryDesc diff_src, diff_dst, diff_weights, diff_bias;
  MemoryDesc scratchpad;
};

// forward_training, forward_inference, backward_data, backward_weights.
PrimitiveMemory describe_conv3d(Context& ctx, const Dims& src, const Dims& weights, bool bias,
                                const Conv3dOptions& options, PrimitivePass pass);
PrimitiveMemory describe_conv_transpose3d(Context& ctx, const Dims& src, const Dims& weights,
                                          bool bias, PrimitivePass pass);
// forward_training, forward_inference, backward.
PrimitiveMemory describe_batch_norm3d(Context& ctx, const Dims& src,
                                      const BatchNorm3dOptions& options, PrimitivePass pass);
PrimitiveMemory describe_max_pool3d(Context& ctx, const Dims& src, PrimitivePass pass);
PrimitiveMemory describe_relu(Context& ctx, const MemoryDesc& src, float negative_slope,
                              PrimitivePass pass);
// The concat primitive of srcs in the activation layout (dst, scratchpad).
PrimitiveMemory describe_concat(Context& ctx, const std::vector<Dims>& srcs);
// add / add_to on tensors of layout `md`.
PrimitiveMemory describe_add(Context& ctx, const MemoryDesc& md);
// Context::reorder from src to dst (scratchpad).
PrimitiveMemory describe_reorder(Context& ctx, const MemoryDesc& src, const MemoryDesc& dst);

}  // namespace tensortier::runtime
