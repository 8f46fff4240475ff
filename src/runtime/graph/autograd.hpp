// Reverse-mode differentiation of a forward Graph: appends the backward ops
// (one per forward op a gradient flows through, in reverse forward order), an
// accumulate op wherever a tensor feeds several ops (the U-Net's skips), and
// one optimizer-update op per weight, placed right after the backward op that
// completes the weight's gradient (so the gradient dies at once; no later op
// reads the weight: each weight feeds one forward op).
#pragma once

#include "runtime/graph/graph.hpp"

namespace tensortier::runtime::graph {

enum class OptimizerKind : std::uint8_t { sgd, adam };
const char* optimizer_name(OptimizerKind kind) noexcept;

// `loss_op` must be the last forward op (a Builder::loss). Throws
// std::invalid_argument otherwise, or when the backward ops were already derived.
void derive_backward(Graph& graph, OpId loss_op, OptimizerKind optimizer);

}  // namespace tensortier::runtime::graph
