// The executor: schedule order, releases at last use, saved state per op.
#include "runtime/graph/executor.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <variant>

#include "runtime/plan/reuse_plan.hpp"

namespace tensortier::runtime::graph {

namespace {

struct LossSaved {
  CrossEntropySaved ce;
  DiceLossSaved dice;
};

using Saved = std::variant<std::monostate, Conv3dSaved, ConvTranspose3dSaved, MaxPool3dSaved,
                           BatchNorm3dSaved, ActivationSaved, ConcatSaved, LossSaved>;


}  // namespace

struct Executor::OpState {
  Saved saved;
  std::unique_ptr<Sgd> sgd;
  std::unique_ptr<Adam> adam;
};

Executor::Executor(Graph& graph, Context& ctx, ExecutorOptions options)
    : graph_(graph), ctx_(ctx), options_(options) {
  if (std::string problem = graph.check(); !problem.empty())
    throw std::invalid_argument("executor: inconsistent graph: " + problem);
  const std::size_t n_ops = graph.ops().size();
  values_.resize(graph.tensors().size());
  observers_.resize(graph.tensors().size());
  state_.resize(n_ops);
  for (auto& s : state_) s = std::make_unique<OpState>();
  release_train_.resize(n_ops);
  release_infer_.resize(n_ops);
  seconds_.assign(n_ops, 0.0);
  for (const TensorInfo& t : graph.tensors()) {
    if (is_persistent(t.kind)) continue;
    const OpId last = graph.last_use(t.id);
    if (last != kNoOp) release_train_[static_cast<std::size_t>(last)].push_back(t.id);
    const OpId last_fwd = graph.last_use(t.id, true);
    if (last_fwd != kNoOp && graph.op(last_fwd).phase == Phase::forward)
      release_infer_[static_cast<std::size_t>(last_fwd)].push_back(t.id);
  }
}

Executor::~Executor() = default;

void Executor::bind(TensorId id, Tensor value) {
  const TensorInfo& info = graph_.tensor(id);
  if (!value.defined() || value.dims() != info.dims || value.data_type() != info.type)
    throw std::invalid_argument("executor: binding '" + info.name + "' (" + dims_text(info.dims) +
                                ") to a tensor " +
                                (value.defined() ? describe(value.desc()) : "undefined"));
  values_.at(static_cast<std::size_t>(id)) = std::move(value);
}

void Executor::observe(TensorId id, std::function<void(const Tensor&)> callback) {
  observers_.at(static_cast<std::size_t>(id)) = std::move(callback);
}

const Tensor& Executor::in(TensorId id) const {
  const Tensor& t = values_.at(static_cast<std::size_t>(id));
  if (!t.defined())
    throw std::logic_error("executor: tensor '" + graph_.tensor(id).name + "' is not live");
  return t;
}

void Executor::set(TensorId id, Tensor value) {
  values_[static_cast<std::size_t>(id)] = std::move(value);
}

StepLoss Executor::train_step() {
  loss_ = {};
  for (const TensorInfo& t : graph_.tensors())
    if ((t.kind == TensorKind::input || t.kind == TensorKind::label || is_persistent(t.kind)) &&
        t.kind != TensorKind::optimizer_state && !values_[static_cast<std::size_t>(t.id)].defined())
      throw std::logic_error("executor: '" + t.name + "' is not bound");
  using Clock = std::chrono::steady_clock;
  for (const OpNode& op : graph_.ops()) {
    if (memory_hooks_.before) memory_hooks_.before(op);
    const auto t0 = Clock::now();
    run(op, true);
    seconds_[static_cast<std::size_t>(op.id)] =
        std::chrono::duration<double>(Clock::now() - t0).count();
    if (!measured_) {
      for (TensorId t : op.outputs) {
        const Tensor& v = values_[static_cast<std::size_t>(t)];
        TensorInfo& info = graph_.tensor(t);
        if (v.defined()) {
          info.bytes = v.bytes();
          info.bytes_measured = true;
        }
      }
    }
    if (memory_hooks_.after) memory_hooks_.after(op);
    for (TensorId t : release_train_[static_cast<std::size_t>(op.id)]) set(t, Tensor());
    if (op.phase == Phase::backward && op.forward_op != kNoOp)
      state_[static_cast<std::size_t>(op.forward_op)]->saved = std::monostate{};
    if (after_op_) after_op_(op);
  }
  measured_ = true;
  return loss_;
}

Tensor Executor::infer(TensorId output) { return infer(output, InferOptions{}); }

namespace {

// Disarms the context's placements and drops the pass's tensors (views into
// the arena among them) however the pass ends: an op may throw.
struct EndOfPass {
  Context& ctx;
  std::function<void()> drop;
  ~EndOfPass() {
    ctx.clear_placements();
    drop();
  }
};

}  // namespace

Tensor Executor::infer(TensorId output, const InferOptions& options) {
  const TensorInfo& out = graph_.tensor(output);
  if (out.producer == kNoOp || graph_.op(out.producer).phase != Phase::forward)
    throw std::invalid_argument("executor: '" + out.name + "' is not defined by a forward op");
  const plan::ReusePlan* plan = options.plan;
  std::shared_ptr<Storage> arena;
  if (plan != nullptr) {
    if (plan->placement_of.size() != graph_.tensors().size())
      throw std::invalid_argument("executor: the memory plan covers " +
                                  std::to_string(plan->placement_of.size()) +
                                  " tensors, the graph has " +
                                  std::to_string(graph_.tensors().size()));
    for (const plan::TensorPlacement& p : plan->placements)
      if (p.bytes < graph_.tensor(p.tensor).bytes)
        throw std::invalid_argument("executor: the memory plan gives '" +
                                    graph_.tensor(p.tensor).name + "' " + std::to_string(p.bytes) +
                                    " bytes, it needs " +
                                    std::to_string(graph_.tensor(p.tensor).bytes));
    arena = std::make_shared<Storage>(ctx_.allocator(),
                                      std::max<std::uint64_t>(plan->arena_bytes, 1),
                                      ctx_.options().hint);
    arena_bytes_ = plan->arena_bytes;
  }
  const EndOfPass end_of_pass{ctx_, [this] {
    for (const TensorInfo& t : graph_.tensors())
      if (!is_persistent(t.kind)) set(t.id, Tensor());
  }};
  using Clock = std::chrono::steady_clock;
  Tensor result;
  std::vector<Context::Placement> placements;
  for (const OpNode& op : graph_.ops()) {
    if (op.phase != Phase::forward || op.kind == OpKind::loss) continue;
    const auto t0 = Clock::now();
    if (plan != nullptr) {
      placements.clear();
      for (TensorId t : op.outputs)
        if (const plan::TensorPlacement* p = plan->find(t))
          placements.push_back({graph_.tensor(t).dims, graph_.tensor(t).type,
                                std::make_shared<Storage>(arena, p->offset, p->bytes)});
      ctx_.arm_placements(std::move(placements));
      placements = {};
    }
    run(op, false);
    if (plan != nullptr) {
      ctx_.clear_placements();
      // A silent fallback to a normal allocation would hide a broken plan.
      for (TensorId t : op.outputs) {
        const plan::TensorPlacement* p = plan->find(t);
        if (p == nullptr) continue;
        const Tensor& v = values_[static_cast<std::size_t>(t)];
        const void* planned = static_cast<const char*>(arena->data()) + p->offset;
        if (!v.defined() || v.data() != planned)
          throw std::logic_error("executor: '" + graph_.tensor(t).name + "' (output of '" +
                                 op.name + "') is not at its planned arena offset " +
                                 std::to_string(p->offset) +
                                 (v.defined() ? "" : ": the op did not produce it"));
      }
    }
    seconds_[static_cast<std::size_t>(op.id)] =
        std::chrono::duration<double>(Clock::now() - t0).count();
    if (op.id == out.producer) {
      const Tensor& v = values_[static_cast<std::size_t>(output)];
      // Planned: copied out, so that the arena goes when the pass ends.
      result = plan != nullptr && plan->find(output) != nullptr ? v.clone(ctx_.allocator()) : v;
    }
    if (plan != nullptr || options.release_at_last_use)
      for (TensorId t : release_infer_[static_cast<std::size_t>(op.id)]) set(t, Tensor());
    if (after_op_) after_op_(op);
    if (op.id >= out.producer) break;
  }
  return result;
}

void Executor::run(const OpNode& op, bool training) {
  switch (op.phase) {
    case Phase::forward: run_forward(op, training); break;
    case Phase::backward: run_backward(op); break;
    case Phase::update: run_update(op); break;
  }
  for (TensorId t : op.outputs) {
    auto& cb = observers_[static_cast<std::size_t>(t)];
    if (cb && values_[static_cast<std::size_t>(t)].defined()) cb(values_[static_cast<std::size_t>(t)]);
  }
}

void Executor::run_forward(const OpNode& op, bool training) {
  Saved& saved = state_[static_cast<std::size_t>(op.id)]->saved;
  const auto& x = op.inputs;
  const auto& y = op.outputs;
  switch (op.kind) {
    case OpKind::to_activation:
      set(y[0], ctx_.to_activation(in(x[0])));
      return;
    case OpKind::conv3d: {
      const Tensor bias = x.size() > 2 ? in(x[2]) : Tensor();
      const Conv3dOptions o{op.attrs.kernel, op.attrs.padding};
      Conv3dSaved* s = training ? &saved.emplace<Conv3dSaved>() : nullptr;
      set(y[0], conv3d_forward(ctx_, in(x[0]), in(x[1]), bias, o, s));
      return;
    }
    case OpKind::conv_transpose3d: {
      const Tensor bias = x.size() > 2 ? in(x[2]) : Tensor();
      ConvTranspose3dSaved* s = training ? &saved.emplace<ConvTranspose3dSaved>() : nullptr;
      set(y[0], conv_transpose3d_forward(ctx_, in(x[0]), in(x[1]), bias, s));
      return;
    }
    case OpKind::max_pool3d: {
      MaxPool3dSaved* s = training ? &saved.emplace<MaxPool3dSaved>() : nullptr;
      set(y[0], max_pool3d_forward(ctx_, in(x[0]), s));
      if (s != nullptr) set(y[1], s->workspace);
      return;
    }
    case OpKind::batch_norm3d: {
      const BatchNorm3dOptions o{op.attrs.epsilon, op.attrs.momentum, op.attrs.fuse_relu};
      const auto& u = op.updates;
      if (!training) {
        set(y[0], batch_norm3d_forward_inference(ctx_, in(x[0]), in(x[1]), in(x[2]), in(u[0]),
                                                 in(u[1]), o));
        return;
      }
      auto& s = saved.emplace<BatchNorm3dSaved>();
      set(y[0], batch_norm3d_forward_training(ctx_, in(x[0]), in(x[1]), in(x[2]), in(u[0]),
                                              in(u[1]), o, &s));
      set(y[1], s.mean);
      set(y[2], s.variance);
      if (y.size() > 3) set(y[3], s.workspace);
      return;
    }
    case OpKind::activation: {
      ActivationSaved* s = training ? &saved.emplace<ActivationSaved>() : nullptr;
      set(y[0], relu_forward(ctx_, in(x[0]), {op.attrs.negative_slope, false}, s));
      return;
    }
    case OpKind::concat: {
      std::vector<Tensor> srcs;
      for (TensorId t : x) srcs.push_back(in(t));
      ConcatSaved* s = training ? &saved.emplace<ConcatSaved>() : nullptr;
      set(y[0], concat_forward(ctx_, srcs, s));
      return;
    }
    case OpKind::loss: {
      auto& s = saved.emplace<LossSaved>();
      const Tensor& logits = in(x[0]);
      const Tensor& labels = in(x[1]);
      std::size_t k = 0;
      if (op.attrs.ce_weight > 0) {
        loss_.ce = softmax_cross_entropy_forward(ctx_, logits, labels, &s.ce);
        set(y[k++], s.ce.probs);
      }
      if (op.attrs.dice_weight > 0) {
        const DiceLossOptions o{1e-5, op.attrs.dice_background};
        loss_.dice = dice_loss_forward(ctx_, logits, labels, o, &s.dice);
        set(y[k++], s.dice.probs);
      }
      loss_.loss = op.attrs.ce_weight * loss_.ce + op.attrs.dice_weight * loss_.dice;
      return;
    }
    default:
      throw std::logic_error(std::string("executor: ") + op_kind_name(op.kind) +
                             " is not a forward op");
  }
}

void Executor::run_backward(const OpNode& op) {
  const auto& x = op.inputs;
  const auto& y = op.outputs;
  Saved* saved = op.forward_op != kNoOp ? &state_[static_cast<std::size_t>(op.forward_op)]->saved
                                        : nullptr;
  auto saved_as = [&]<typename T>(T*) -> T& {
    if (saved == nullptr || !std::holds_alternative<T>(*saved))
      throw std::logic_error("executor: '" + op.name + "' has no saved state from its forward op");
    return std::get<T>(*saved);
  };
  switch (op.kind) {
    case OpKind::loss_backward: {
      auto& s = saved_as(static_cast<LossSaved*>(nullptr));
      Tensor d;
      if (op.attrs.ce_weight > 0)
        d = softmax_cross_entropy_backward(ctx_, s.ce, static_cast<float>(op.attrs.ce_weight));
      if (op.attrs.dice_weight > 0) {
        Tensor dd = dice_loss_backward(ctx_, s.dice, static_cast<float>(op.attrs.dice_weight));
        if (d.defined()) {
          add_to(ctx_, d, dd);
        } else {
          d = dd;
        }
      }
      set(y[0], d);
      return;
    }
    case OpKind::conv3d_backward: {
      auto& s = saved_as(static_cast<Conv3dSaved*>(nullptr));
      Conv3dGrads g = conv3d_backward(ctx_, in(x[0]), s, op.attrs.need_diff_src);
      std::size_t k = 0;
      if (op.attrs.need_diff_src) set(y[k++], g.diff_src);
      set(y[k++], g.diff_weights);
      if (k < y.size()) set(y[k++], g.diff_bias);
      return;
    }
    case OpKind::conv_transpose3d_backward: {
      auto& s = saved_as(static_cast<ConvTranspose3dSaved*>(nullptr));
      ConvTranspose3dGrads g =
          conv_transpose3d_backward(ctx_, in(x[0]), s, op.attrs.need_diff_src);
      std::size_t k = 0;
      if (op.attrs.need_diff_src) set(y[k++], g.diff_src);
      set(y[k++], g.diff_weights);
      if (k < y.size()) set(y[k++], g.diff_bias);
      return;
    }
    case OpKind::max_pool3d_backward:
      set(y[0], max_pool3d_backward(ctx_, in(x[0]), saved_as(static_cast<MaxPool3dSaved*>(nullptr))));
      return;
    case OpKind::batch_norm3d_backward: {
      BatchNorm3dGrads g =
          batch_norm3d_backward(ctx_, in(x[0]), saved_as(static_cast<BatchNorm3dSaved*>(nullptr)));
      set(y[0], g.diff_src);
      set(y[1], g.diff_scale);
      set(y[2], g.diff_shift);
      return;
    }
    case OpKind::activation_backward:
      set(y[0], relu_backward(ctx_, in(x[0]), saved_as(static_cast<ActivationSaved*>(nullptr))));
      return;
    case OpKind::concat_backward: {
      std::vector<Tensor> parts =
          concat_backward(ctx_, in(x[0]), saved_as(static_cast<ConcatSaved*>(nullptr)));
      const OpNode& f = graph_.op(op.forward_op);
      std::size_t k = 0;
      for (std::size_t i = 0; i < f.inputs.size(); ++i)
        if (graph_.tensor(f.inputs[i]).requires_grad) set(y[k++], parts[i]);
      return;
    }
    case OpKind::accumulate:
      add_to(ctx_, in(op.updates[0]), in(x[0]));
      return;
    default:
      throw std::logic_error(std::string("executor: ") + op_kind_name(op.kind) +
                             " is not a backward op");
  }
}

void Executor::set_learning_rate(float lr) {
  options_.sgd.lr = lr;
  options_.adam.lr = lr;
  for (auto& s : state_) {
    if (s->sgd) s->sgd->options().lr = lr;
    if (s->adam) s->adam->options().lr = lr;
  }
}

void Executor::run_update(const OpNode& op) {
  OpState& s = *state_[static_cast<std::size_t>(op.id)];
  const Tensor params[] = {in(op.updates[0])};
  const Tensor grads[] = {in(op.inputs[0])};
  if (op.kind == OpKind::sgd_update) {
    if (!s.sgd) s.sgd = std::make_unique<Sgd>(options_.sgd);
    s.sgd->step(ctx_, params, grads);
  } else if (op.kind == OpKind::adam_update) {
    if (!s.adam) s.adam = std::make_unique<Adam>(options_.adam);
    s.adam->step(ctx_, params, grads);
  } else {
    throw std::logic_error(std::string("executor: ") + op_kind_name(op.kind) +
                           " is not an update op");
  }
}

}  // namespace tensortier::runtime::graph
