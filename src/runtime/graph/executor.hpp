// Runs a Graph on the runtime ops: the forward ops, then the backward and
// update ops, in schedule order. Each tensor is allocated (by the op that
// defines it, from the context's allocator) and released right after its
// last use in the schedule, and the state a forward op keeps for its backward
// op (the ops' ...Saved structs) is dropped once that backward op has run —
// so what the allocator holds at any point is what Graph::memory_profile()
// predicts, plus the ops' short-lived internals (scratchpad, weight reorders).
//
//   Executor exec(graph, ctx, {.sgd = {.lr = 0.01f}});
//   exec.bind(weight_id, weight_tensor);     // persistent tensors, once
//   exec.bind(image_id, image); exec.bind(labels_id, labels);   // every step
//   StepLoss l = exec.train_step();
//   Tensor logits = exec.infer(logits_id);   // inference primitives, BN running stats
//   Tensor same = exec.infer(logits_id, {.plan = &reuse_plan});   // tensors in one arena
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "runtime/graph/graph.hpp"
#include "tensortier/runtime/runtime.hpp"

namespace tensortier::runtime::plan {
struct ReusePlan;
}

namespace tensortier::runtime::graph {

// How an inference pass holds its tensors.
struct InferOptions {
  // A memory plan of this graph's inference pass (plan/reuse_plan.hpp): one
  // arena block from the context's allocator, every planned tensor a view at
  // its offset (checked after each op: std::logic_error naming the tensor if
  // an output is elsewhere). The returned output is a copy, so the arena is
  // released when the pass ends. nullptr: each tensor allocated by its op.
  const plan::ReusePlan* plan = nullptr;
  // Without a plan: release each tensor after its last use (true), or keep
  // every tensor in its own buffer until the pass ends (false: the naive
  // footprint, for comparisons).
  bool release_at_last_use = true;
};

struct ExecutorOptions {
  SgdOptions sgd;    // for sgd_update ops
  AdamOptions adam;  // for adam_update ops
};

struct StepLoss {
  double loss = 0;  // ce_weight * ce + dice_weight * dice
  double ce = 0;
  double dice = 0;  // soft Dice loss
};

class Executor {
 public:
  Executor(Graph& graph, Context& ctx, ExecutorOptions options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Gives a tensor its storage: persistent tensors (weights, running
  // statistics) once, inputs and labels before every run. Checks dims.
  void bind(TensorId id, Tensor value);
  // The current value of a tensor (undefined when not live).
  const Tensor& value(TensorId id) const { return values_.at(static_cast<std::size_t>(id)); }

  // Called with a tensor's value right after the op defining it ran (e.g. the
  // logits, for the training Dice), in training and inference runs.
  void observe(TensorId id, std::function<void(const Tensor&)> callback);

  // Called after each op of a run, once the tensors whose last use it was
  // have been released (tests compare the live set with the schedule).
  void after_each_op(std::function<void(const OpNode&)> callback) { after_op_ = std::move(callback); }

  // Memory management around each op of a training step (the tier plan,
  // runtime/plan/tier_scheduler.hpp): `before` runs right before an op,
  // `after` right after it, before the tensors whose last use it was are
  // released (and before after_each_op's callback). Either may be empty.
  struct MemoryHooks {
    std::function<void(const OpNode&)> before;
    std::function<void(const OpNode&)> after;
  };
  void set_memory_hooks(MemoryHooks hooks) { memory_hooks_ = std::move(hooks); }
  // The context the ops allocate through (memory hooks may arm placements on it).
  Context& context() const noexcept { return ctx_; }

  // Forward, backward and updates; returns the loss of the forward pass.
  // The first run records the allocated bytes of every tensor in the graph.
  StepLoss train_step();
  // The forward ops up to (not including) the loss, with inference
  // primitives (batch norm on running statistics); returns `output`.
  Tensor infer(TensorId output);
  Tensor infer(TensorId output, const InferOptions& options);
  // Bytes of the arena of the last planned inference (0 before any).
  std::uint64_t arena_bytes() const noexcept { return arena_bytes_; }

  // Learning rate of every update op from now on (a schedule's step).
  void set_learning_rate(float lr);

  // Wall time of each op in the last run (seconds, by OpId; 0 when not run).
  const std::vector<double>& op_seconds() const noexcept { return seconds_; }
  Graph& graph() noexcept { return graph_; }

 private:
  struct OpState;
  void run(const OpNode& op, bool training);
  void run_forward(const OpNode& op, bool training);
  void run_backward(const OpNode& op);
  void run_update(const OpNode& op);
  const Tensor& in(TensorId id) const;
  void set(TensorId id, Tensor value);

  Graph& graph_;
  Context& ctx_;
  ExecutorOptions options_;
  std::vector<Tensor> values_;                        // by TensorId
  std::vector<std::unique_ptr<OpState>> state_;       // by OpId: saved state, optimizers
  std::vector<std::vector<TensorId>> release_train_;  // by OpId: last uses in a training step
  std::vector<std::vector<TensorId>> release_infer_;  // ... in an inference pass
  std::vector<std::function<void(const Tensor&)>> observers_;
  std::function<void(const OpNode&)> after_op_;
  MemoryHooks memory_hooks_;
  std::vector<double> seconds_;
  StepLoss loss_;
  bool measured_ = false;
  std::uint64_t arena_bytes_ = 0;
};

}  // namespace tensortier::runtime::graph
