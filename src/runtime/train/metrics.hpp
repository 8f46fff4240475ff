// Segmentation metrics: per-class Dice of the arg-max prediction.
#pragma once

#include <cstdint>
#include <vector>

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime::train {

// True positives, false positives and false negatives per class.
struct ClassCounts {
  std::vector<std::uint64_t> tp, fp, fn;
  explicit ClassCounts(int classes = 0) : tp(classes, 0), fp(classes, 0), fn(classes, 0) {}
  int classes() const noexcept { return static_cast<int>(tp.size()); }
  void add(const ClassCounts& other);
  // 2 tp / (2 tp + fp + fn); 1 when the class is absent from both prediction and truth.
  double dice(int c) const;
  std::vector<double> dice() const;
};

// Counts of sample n of logits (N, K, D, H, W, any layout) against labels
// (N, D, H, W, u8, plain), prediction = arg max over K (first max on ties).
// n < 0: every sample together.
ClassCounts count_predictions(Context& ctx, const Tensor& logits, const Tensor& labels, int n = -1);

// Mean of dice[first..] (the tumour classes when first = 1).
double mean_dice(const std::vector<double>& dice, int first = 1);

}  // namespace tensortier::runtime::train
