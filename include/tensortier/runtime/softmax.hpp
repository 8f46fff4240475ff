// Softmax over the channel axis (oneDNN softmax / logsoftmax): logits
// (N, C, D, H, W), any layout -> probabilities (or log-probabilities) in
// ndhwc, so the C values of each voxel are contiguous for the loss loops.
// Forward only: the losses (cross_entropy.hpp, dice_loss.hpp) give the
// gradient with respect to the logits directly.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

Tensor softmax_channels(Context& ctx, const Tensor& logits);
Tensor log_softmax_channels(Context& ctx, const Tensor& logits);

}  // namespace tensortier::runtime
