// Softmax over the channel axis through oneDNN (inference: class
// probabilities of the segmentation head): logits (N, C, D, H, W), any
// layout -> probabilities in ndhwc. The losses (cross_entropy.hpp,
// dice_loss.hpp) compute their own softmax in the same pass as the loss.
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

Tensor softmax_channels(Context& ctx, const Tensor& logits);

}  // namespace tensortier::runtime
