// The schedule of one training step: ops in execution order and every tensor
// they touch, with its bytes, its defining op and every use. The forward ops
// come from the model (builder.hpp), the backward and optimizer-update ops are
// derived from them (autograd.hpp), and the executor runs them in this order
// (executor.hpp). It is a plain data structure so that a memory planner can
// read it: which tensor is needed when, for how long, and how big it is.
//
//   Graph g;                     // ops()[i].id == i, tensors()[t].id == t
//   Builder b(g);                // forward ops with shape inference
//   ... model ...
//   derive_backward(g, loss_op, {OptimizerKind::sgd});
//   for (const OpNode& op : g.ops()) ...                // in execution order
//   for (const TensorInfo& t : g.tensors()) t.bytes, t.producer, t.uses
//
// docs/training.md describes the op conventions (input/output order per kind).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime::graph {

using TensorId = std::int32_t;
using OpId = std::int32_t;
inline constexpr TensorId kNoTensor = -1;
inline constexpr OpId kNoOp = -1;

enum class TensorKind : std::uint8_t {
  input,            // fed each step: the image batch (plain NCDHW)
  label,            // fed each step: class ids (plain NDHW u8)
  weight,           // trainable parameter (persistent)
  state,            // non-trainable persistent state: batch-norm running statistics
  optimizer_state,  // SGD momentum, Adam moments (persistent)
  activation,       // result of a forward op
  saved,            // kept by a forward op for its backward op only: batch statistics,
                    // fused-ReLU mask, max-pool argmax, loss probabilities
  gradient,         // gradient of an activation (or a partial sum of one)
  weight_gradient,  // gradient of a weight
};
const char* tensor_kind_name(TensorKind kind) noexcept;
// Lives across steps (weights, state, optimizer state): defined before the
// step (producer kNoOp), never released by the executor.
constexpr bool is_persistent(TensorKind k) noexcept {
  return k == TensorKind::weight || k == TensorKind::state || k == TensorKind::optimizer_state;
}

enum class Phase : std::uint8_t { forward, backward, update };
const char* phase_name(Phase phase) noexcept;

// Inputs / outputs / updates of each kind, in order ("?" = only when present):
//   to_activation        in {src}                     out {dst}
//   conv3d               in {src, weights, bias?}     out {dst}
//   conv_transpose3d     in {src, weights, bias?}     out {dst}
//   max_pool3d           in {src}                     out {dst, workspace}
//   batch_norm3d         in {src, scale, shift}       out {dst, mean, variance, relu_mask?}
//                        updates {running_mean, running_var}
//   activation           in {src}                     out {dst}
//   concat               in {src_0, src_1, ...}       out {dst}
//   loss                 in {logits, labels}          out {probs_ce?, probs_dice?}
//   loss_backward        in {labels, probs_ce?, probs_dice?}   out {diff_logits}
//   conv3d_backward,     in {diff_dst, src, weights}  out {diff_src?, diff_weights, diff_bias?}
//   conv_transpose3d_backward (same)
//   max_pool3d_backward  in {diff_dst, workspace}     out {diff_src}
//   batch_norm3d_backward in {diff_dst, src, scale, shift, mean, variance, relu_mask?}
//                                                     out {diff_src, diff_scale, diff_shift}
//   activation_backward  in {diff_dst, dst}           out {diff_src}
//   concat_backward      in {diff_dst}                out {diff_src_i for each src that
//                                                          requires a gradient}
//   accumulate           in {partial}                 updates {gradient}      (gradient += partial)
//   sgd_update           in {diff_weights}            updates {weights, momentum}
//   adam_update          in {diff_weights}            updates {weights, m, v}
enum class OpKind : std::uint8_t {
  to_activation,
  conv3d,
  conv_transpose3d,
  max_pool3d,
  batch_norm3d,
  activation,
  concat,
  loss,
  loss_backward,
  conv3d_backward,
  conv_transpose3d_backward,
  max_pool3d_backward,
  batch_norm3d_backward,
  activation_backward,
  concat_backward,
  accumulate,
  sgd_update,
  adam_update,
};
const char* op_kind_name(OpKind kind) noexcept;

struct OpAttrs {
  int kernel = 3;                // conv3d (cubic, stride 1)
  int padding = 1;               // conv3d
  float negative_slope = 0.f;    // activation: 0 = ReLU, > 0 = LeakyReLU
  bool fuse_relu = false;        // batch_norm3d: ReLU fused into the norm
  float epsilon = 1e-5f;         // batch_norm3d
  float momentum = 0.1f;         // batch_norm3d running statistics
  double ce_weight = 1.0;        // loss = ce_weight * CE + dice_weight * soft Dice
  double dice_weight = 1.0;
  bool dice_background = false;  // soft Dice over class 0 too
  bool need_diff_src = true;     // conv backward: compute diff_src
};

struct TensorInfo {
  TensorId id = kNoTensor;
  std::string name;
  TensorKind kind = TensorKind::activation;
  Dims dims;                         // logical shape (N,C,D,H,W for activations)
  DataType type = DataType::f32;
  std::uint64_t bytes = 0;           // from dims and type; the executor replaces it with the
  bool bytes_measured = false;       // allocated size on first run (opaque workspaces)
  OpId producer = kNoOp;             // defining op; kNoOp: persistent, or fed before the step
  std::vector<OpId> uses;            // every op reading or updating it, ascending, no repeats
  TensorId grad = kNoTensor;         // its gradient (activations and weights)
  TensorId grad_of = kNoTensor;      // gradients: the tensor differentiated
  bool requires_grad = false;        // a gradient flows to it (weights, and what they feed)
  // An activation (or input) a backward op reads: the forward keeps it alive
  // until then. Set by derive_backward().
  bool saved_for_backward = false;
};

struct OpNode {
  OpId id = kNoOp;
  OpKind kind = OpKind::conv3d;
  Phase phase = Phase::forward;
  std::string name;
  std::vector<TensorId> inputs;   // read
  std::vector<TensorId> outputs;  // defined here (fresh storage)
  std::vector<TensorId> updates;  // modified in place
  OpAttrs attrs;
  OpId forward_op = kNoOp;        // backward ops: the forward op differentiated
  double flops = 0;               // multiply-adds x 2 of convolutions; 0 for other ops
};

// Bytes alive around one op when tensors are allocated at their definition
// and freed after their last use (what the executor does).
struct MemoryProfile {
  std::uint64_t persistent_bytes = 0;        // weights, state, optimizer state
  std::vector<std::uint64_t> live_bytes;     // per op: non-persistent bytes live during it
  std::uint64_t peak_bytes = 0;              // max of live_bytes
  OpId peak_op = kNoOp;
};

class Graph {
 public:
  // A new tensor; bytes 0 = computed from dims and type.
  TensorId add_tensor(std::string name, TensorKind kind, Dims dims, DataType type = DataType::f32,
                      std::uint64_t bytes = 0);
  // Appends an op at the end of the schedule and records it as the producer
  // of its outputs and a use of its inputs and updates. Throws
  // std::invalid_argument for an unknown tensor or an output defined twice.
  OpId add_op(OpNode op);

  const std::vector<OpNode>& ops() const noexcept { return ops_; }
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  const OpNode& op(OpId id) const { return ops_.at(static_cast<std::size_t>(id)); }
  OpNode& op(OpId id) { return ops_.at(static_cast<std::size_t>(id)); }
  const TensorInfo& tensor(TensorId id) const { return tensors_.at(static_cast<std::size_t>(id)); }
  TensorInfo& tensor(TensorId id) { return tensors_.at(static_cast<std::size_t>(id)); }
  // The first tensor called `name`, kNoTensor if none.
  TensorId find(const std::string& name) const;

  // The last op using `t`, or its producer when unused (kNoOp if neither);
  // with `forward_only`, among the forward ops (an inference pass).
  OpId last_use(TensorId t, bool forward_only = false) const;
  // Tensors of one kind, in id order.
  std::vector<TensorId> tensors_of(TensorKind kind) const;
  // Number of ops of a phase.
  std::size_t count(Phase phase) const;
  double total_flops() const;

  MemoryProfile memory_profile() const;

  // Checks the schedule: ids in order, every non-persistent, non-fed tensor
  // defined by exactly one op before any use, uses sorted and complete,
  // phases in order (forward, backward, update interleaved after backward).
  // Returns "" when consistent, else the first problem found.
  std::string check() const;

  // {"ops":[...], "tensors":[...], "memory":{...}}: see docs/training.md.
  std::string to_json() const;

 private:
  std::vector<OpNode> ops_;
  std::vector<TensorInfo> tensors_;
};

// "2x4x32x32x32".
std::string dims_text(const Dims& dims);

// Bytes of a plain tensor of `dims` and `type`.
std::uint64_t plain_bytes(const Dims& dims, DataType type);

}  // namespace tensortier::runtime::graph
