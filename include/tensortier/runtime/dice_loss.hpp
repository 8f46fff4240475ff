// Soft Dice loss on softmax probabilities (MONAI's DiceLoss(softmax=True,
// to_onehot_y=True), mean reduction): for each sample n and class c,
//   dice_nc = (2 * sum_v p g + smooth) / (sum_v p + sum_v g + smooth)
//   loss = 1 - mean over (n, c) of dice_nc
// with p = softmax(logits) and g = onehot(label). Classes 1.. only when
// include_background is false. labels as in cross_entropy.hpp.
#pragma once

#include <vector>

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct DiceLossOptions {
  double smooth = 1e-5;
  bool include_background = true;
};

struct DiceLossSaved {
  Tensor probs;  // ndhwc
  Tensor labels;
  std::vector<double> intersection, prob_sum, label_sum;  // per (n, c), n-major
  DiceLossOptions options;
};

double dice_loss_forward(Context& ctx, const Tensor& logits, const Tensor& labels,
                         const DiceLossOptions& options = {}, DiceLossSaved* saved = nullptr);

// diff_logits (ndhwc), through the softmax Jacobian.
Tensor dice_loss_backward(Context& ctx, const DiceLossSaved& saved, float diff_loss = 1.f);

}  // namespace tensortier::runtime
