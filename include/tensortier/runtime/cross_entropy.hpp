// Softmax + cross-entropy loss over classes on the channel axis, averaged over
// all voxels (PyTorch's CrossEntropyLoss on N,C,D,H,W logits, mean reduction):
//   loss = -1/(N*D*H*W) * sum_v log softmax(logits_v)[label_v]
//   d loss / d logits_v = (softmax(logits_v) - onehot(label_v)) / (N*D*H*W)
// labels: (N, D, H, W) or (N, 1, D, H, W), u8 or s32, plain, values in [0, C).
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct CrossEntropySaved {
  Tensor probs;  // softmax(logits), ndhwc
  Tensor labels;
};

// Throws std::invalid_argument for a label outside [0, C).
double softmax_cross_entropy_forward(Context& ctx, const Tensor& logits, const Tensor& labels,
                                     CrossEntropySaved* saved = nullptr);

// diff_logits (ndhwc) for d(total loss)/d(this loss) = diff_loss.
Tensor softmax_cross_entropy_backward(Context& ctx, const CrossEntropySaved& saved,
                                      float diff_loss = 1.f);

}  // namespace tensortier::runtime
