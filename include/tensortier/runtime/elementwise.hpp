// Elementwise sum through oneDNN's binary primitive, for gradient
// accumulation (a tensor used twice, e.g. an encoder output feeding both the
// pooling and the skip connection, gets the sum of both gradients).
#pragma once

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

// a + b in a's layout (b is reordered to it when needed).
Tensor add(Context& ctx, const Tensor& a, const Tensor& b);
// acc += b in place.
void add_to(Context& ctx, const Tensor& acc, const Tensor& b);

}  // namespace tensortier::runtime
