// Backward ops, gradient accumulation and optimizer updates from the forward ops.
#include "runtime/graph/autograd.hpp"

#include <stdexcept>
#include <utility>

namespace tensortier::runtime::graph {

const char* optimizer_name(OptimizerKind kind) noexcept {
  return kind == OptimizerKind::sgd ? "sgd" : "adam";
}

namespace {

class Differentiator {
 public:
  Differentiator(Graph& g, OptimizerKind optimizer)
      : g_(g), optimizer_(optimizer), grad_(g.tensors().size(), kNoTensor),
        pending_uses_(g.tensors().size(), 0) {
    for (const OpNode& op : g.ops())
      for (TensorId t : op.inputs)
        if (g.tensor(t).kind == TensorKind::weight) pending_uses_[static_cast<std::size_t>(t)] += 1;
  }

  void run(OpId loss_op) {
    const OpNode loss = g_.op(loss_op);
    OpNode back;
    back.kind = OpKind::loss_backward;
    back.name = loss.name + ".backward";
    back.inputs = {loss.inputs[1]};
    back.inputs.insert(back.inputs.end(), loss.outputs.begin(), loss.outputs.end());
    back.attrs = loss.attrs;
    const TensorId logits = loss.inputs[0];
    const TensorId d = new_gradient(logits, "");
    back.outputs = {d};
    emit(std::move(back), loss_op);
    contribute(logits, d, "");

    for (OpId id = loss_op - 1; id >= 0; --id) {
      const OpNode f = g_.op(id);  // copy: emitting ops may reallocate the vectors
      const TensorId dst = f.outputs.empty() ? kNoTensor : f.outputs[0];
      if (dst == kNoTensor || grad(dst) == kNoTensor) continue;
      differentiate(f, grad(dst));
    }
  }

 private:
  TensorId grad(TensorId t) const { return grad_[static_cast<std::size_t>(t)]; }

  // A fresh gradient tensor for `of` (a partial sum when one exists already).
  TensorId new_gradient(TensorId of, const std::string& from) {
    const TensorInfo info = g_.tensor(of);
    const bool weight = info.kind == TensorKind::weight;
    const bool first = grad(of) == kNoTensor;
    const std::string name = "grad(" + info.name + ")" + (first ? "" : " from " + from);
    const TensorId t = g_.add_tensor(name, weight ? TensorKind::weight_gradient : TensorKind::gradient,
                                     info.dims);
    g_.tensor(t).grad_of = of;
    grad_.push_back(kNoTensor);
    pending_uses_.push_back(0);
    return t;
  }

  // `partial` is (part of) the gradient of `of`: the first one becomes its
  // gradient, later ones are added into it.
  void contribute(TensorId of, TensorId partial, const std::string& from) {
    auto& slot = grad_[static_cast<std::size_t>(of)];
    if (slot == kNoTensor) {
      slot = partial;
      g_.tensor(of).grad = partial;
    } else {
      OpNode acc;
      acc.kind = OpKind::accumulate;
      acc.phase = Phase::backward;
      acc.name = "grad(" + g_.tensor(of).name + ") += " + from;
      acc.inputs = {partial};
      acc.updates = {slot};
      g_.add_op(std::move(acc));
    }
    if (g_.tensor(of).kind == TensorKind::weight) {
      int& pending = pending_uses_[static_cast<std::size_t>(of)];
      if (--pending == 0) update(of);
    }
  }

  void update(TensorId w) {
    const TensorInfo info = g_.tensor(w);
    OpNode up;
    up.phase = Phase::update;
    up.name = info.name + "." + optimizer_name(optimizer_);
    up.inputs = {grad(w)};
    up.updates = {w};
    if (optimizer_ == OptimizerKind::sgd) {
      up.kind = OpKind::sgd_update;
      up.updates.push_back(state(info, ".momentum"));
    } else {
      up.kind = OpKind::adam_update;
      up.updates.push_back(state(info, ".adam_m"));
      up.updates.push_back(state(info, ".adam_v"));
    }
    g_.add_op(std::move(up));
  }

  TensorId state(const TensorInfo& w, const char* suffix) {
    const TensorId t = g_.add_tensor(w.name + suffix, TensorKind::optimizer_state, w.dims);
    grad_.push_back(kNoTensor);
    pending_uses_.push_back(0);
    return t;
  }

  OpId emit(OpNode op, OpId forward) {
    op.phase = Phase::backward;
    op.forward_op = forward;
    for (TensorId t : op.inputs) {
      TensorInfo& info = g_.tensor(t);
      if (info.kind == TensorKind::activation || info.kind == TensorKind::input)
        info.saved_for_backward = true;
    }
    return g_.add_op(std::move(op));
  }

  bool needs_grad(TensorId t) const { return g_.tensor(t).requires_grad; }

  void differentiate(const OpNode& f, TensorId dy) {
    OpNode b;
    b.name = f.name + ".backward";
    b.attrs = f.attrs;
    std::vector<std::pair<TensorId, TensorId>> contributions;  // (of, partial)
    auto partial = [&](TensorId of) {
      const TensorId p = new_gradient(of, b.name);
      b.outputs.push_back(p);
      contributions.emplace_back(of, p);
    };
    switch (f.kind) {
      case OpKind::to_activation:
      case OpKind::loss:
      case OpKind::loss_backward:
        return;  // the input needs no gradient
      case OpKind::conv3d:
      case OpKind::conv_transpose3d: {
        b.kind = f.kind == OpKind::conv3d ? OpKind::conv3d_backward
                                          : OpKind::conv_transpose3d_backward;
        b.inputs = {dy, f.inputs[0], f.inputs[1]};
        b.attrs.need_diff_src = needs_grad(f.inputs[0]);
        if (b.attrs.need_diff_src) partial(f.inputs[0]);
        for (std::size_t i = 1; i < f.inputs.size(); ++i) partial(f.inputs[i]);
        b.flops = f.flops * (b.attrs.need_diff_src ? 2 : 1);
        break;
      }
      case OpKind::max_pool3d:
        b.kind = OpKind::max_pool3d_backward;
        b.inputs = {dy, f.outputs[1]};
        partial(f.inputs[0]);
        break;
      case OpKind::batch_norm3d:
        b.kind = OpKind::batch_norm3d_backward;
        b.inputs = {dy, f.inputs[0], f.inputs[1], f.inputs[2]};
        b.inputs.insert(b.inputs.end(), f.outputs.begin() + 1, f.outputs.end());
        partial(f.inputs[0]);
        partial(f.inputs[1]);
        partial(f.inputs[2]);
        break;
      case OpKind::activation:
        b.kind = OpKind::activation_backward;
        b.inputs = {dy, f.outputs[0]};
        partial(f.inputs[0]);
        break;
      case OpKind::concat:
        b.kind = OpKind::concat_backward;
        b.inputs = {dy};
        for (TensorId s : f.inputs)
          if (needs_grad(s)) partial(s);
        break;
      default:
        throw std::invalid_argument("autograd: cannot differentiate op '" + f.name + "' (" +
                                    op_kind_name(f.kind) + ")");
    }
    emit(std::move(b), f.id);
    const std::string from = f.name;
    for (auto [of, p] : contributions) contribute(of, p, from);
  }

  Graph& g_;
  OptimizerKind optimizer_;
  std::vector<TensorId> grad_;      // current gradient of each tensor
  std::vector<int> pending_uses_;   // forward uses of each weight whose gradient is still due
};

}  // namespace

void derive_backward(Graph& graph, OpId loss_op, OptimizerKind optimizer) {
  if (loss_op < 0 || static_cast<std::size_t>(loss_op) >= graph.ops().size() ||
      graph.op(loss_op).kind != OpKind::loss)
    throw std::invalid_argument("autograd: op " + std::to_string(loss_op) + " is not a loss op");
  if (static_cast<std::size_t>(loss_op) + 1 != graph.ops().size())
    throw std::invalid_argument("autograd: the loss must be the last op (backward already derived?)");
  Differentiator(graph, optimizer).run(loss_op);
}

}  // namespace tensortier::runtime::graph
