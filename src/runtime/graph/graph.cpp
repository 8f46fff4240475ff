// The schedule data structure: tensors, ops, uses, checks, memory profile, JSON.
#include "runtime/graph/graph.hpp"

#include <algorithm>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tensortier::runtime::graph {

const char* tensor_kind_name(TensorKind kind) noexcept {
  switch (kind) {
    case TensorKind::input: return "input";
    case TensorKind::label: return "label";
    case TensorKind::weight: return "weight";
    case TensorKind::state: return "state";
    case TensorKind::optimizer_state: return "optimizer_state";
    case TensorKind::activation: return "activation";
    case TensorKind::saved: return "saved";
    case TensorKind::gradient: return "gradient";
    case TensorKind::weight_gradient: return "weight_gradient";
  }
  return "?";
}

const char* phase_name(Phase phase) noexcept {
  switch (phase) {
    case Phase::forward: return "forward";
    case Phase::backward: return "backward";
    case Phase::update: return "update";
  }
  return "?";
}

const char* op_kind_name(OpKind kind) noexcept {
  switch (kind) {
    case OpKind::to_activation: return "to_activation";
    case OpKind::conv3d: return "conv3d";
    case OpKind::conv_transpose3d: return "conv_transpose3d";
    case OpKind::max_pool3d: return "max_pool3d";
    case OpKind::batch_norm3d: return "batch_norm3d";
    case OpKind::activation: return "activation";
    case OpKind::concat: return "concat";
    case OpKind::loss: return "loss";
    case OpKind::loss_backward: return "loss_backward";
    case OpKind::conv3d_backward: return "conv3d_backward";
    case OpKind::conv_transpose3d_backward: return "conv_transpose3d_backward";
    case OpKind::max_pool3d_backward: return "max_pool3d_backward";
    case OpKind::batch_norm3d_backward: return "batch_norm3d_backward";
    case OpKind::activation_backward: return "activation_backward";
    case OpKind::concat_backward: return "concat_backward";
    case OpKind::accumulate: return "accumulate";
    case OpKind::sgd_update: return "sgd_update";
    case OpKind::adam_update: return "adam_update";
  }
  return "?";
}

std::string dims_text(const Dims& dims) {
  std::string s;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) s += 'x';
    s += std::to_string(dims[i]);
  }
  return s;
}

std::uint64_t plain_bytes(const Dims& dims, DataType type) {
  std::uint64_t n = 1;
  for (auto d : dims) n *= static_cast<std::uint64_t>(d);
  std::uint64_t size = 4;
  switch (type) {
    case DataType::u8:
    case DataType::s8: size = 1; break;
    case DataType::f16:
    case DataType::bf16: size = 2; break;
    default: size = 4; break;
  }
  return n * size;
}

TensorId Graph::add_tensor(std::string name, TensorKind kind, Dims dims, DataType type,
                           std::uint64_t bytes) {
  TensorInfo t;
  t.id = static_cast<TensorId>(tensors_.size());
  t.name = std::move(name);
  t.kind = kind;
  t.bytes = bytes != 0 ? bytes : plain_bytes(dims, type);
  t.dims = std::move(dims);
  t.type = type;
  t.requires_grad = kind == TensorKind::weight;
  tensors_.push_back(std::move(t));
  return tensors_.back().id;
}

OpId Graph::add_op(OpNode op) {
  const OpId id = static_cast<OpId>(ops_.size());
  op.id = id;
  auto known = [&](TensorId t, const char* role) {
    if (t < 0 || static_cast<std::size_t>(t) >= tensors_.size())
      throw std::invalid_argument("graph: op '" + op.name + "': " + role + " tensor " +
                                  std::to_string(t) + " does not exist");
  };
  for (TensorId t : op.inputs) known(t, "input");
  for (TensorId t : op.updates) known(t, "updated");
  for (TensorId t : op.outputs) {
    known(t, "output");
    const TensorInfo& info = tensors_[static_cast<std::size_t>(t)];
    if (info.producer != kNoOp || is_persistent(info.kind))
      throw std::invalid_argument("graph: op '" + op.name + "' defines tensor '" + info.name +
                                  "', which is already defined");
  }
  for (TensorId t : op.outputs) tensors_[static_cast<std::size_t>(t)].producer = id;
  auto use = [&](TensorId t) {
    auto& uses = tensors_[static_cast<std::size_t>(t)].uses;
    if (uses.empty() || uses.back() != id) uses.push_back(id);
  };
  for (TensorId t : op.inputs) use(t);
  for (TensorId t : op.updates) use(t);
  ops_.push_back(std::move(op));
  return id;
}

TensorId Graph::find(const std::string& name) const {
  for (const TensorInfo& t : tensors_)
    if (t.name == name) return t.id;
  return kNoTensor;
}

OpId Graph::last_use(TensorId t, bool forward_only) const {
  const TensorInfo& info = tensor(t);
  for (auto it = info.uses.rbegin(); it != info.uses.rend(); ++it)
    if (!forward_only || op(*it).phase == Phase::forward) return *it;
  return info.producer;
}

std::vector<TensorId> Graph::tensors_of(TensorKind kind) const {
  std::vector<TensorId> out;
  for (const TensorInfo& t : tensors_)
    if (t.kind == kind) out.push_back(t.id);
  return out;
}

std::size_t Graph::count(Phase phase) const {
  return static_cast<std::size_t>(
      std::count_if(ops_.begin(), ops_.end(), [&](const OpNode& o) { return o.phase == phase; }));
}

double Graph::total_flops() const {
  double f = 0;
  for (const OpNode& o : ops_) f += o.flops;
  return f;
}

MemoryProfile Graph::memory_profile() const {
  MemoryProfile p;
  p.live_bytes.assign(ops_.size(), 0);
  // Difference array: +bytes at the producer (or op 0 for fed tensors), -bytes after the last use.
  std::vector<std::int64_t> delta(ops_.size() + 1, 0);
  for (const TensorInfo& t : tensors_) {
    if (is_persistent(t.kind)) {
      p.persistent_bytes += t.bytes;
      continue;
    }
    const OpId first = t.producer != kNoOp ? t.producer : 0;
    const OpId last = std::max(last_use(t.id), first);
    if (ops_.empty() || (t.producer == kNoOp && t.uses.empty())) continue;
    delta[static_cast<std::size_t>(first)] += static_cast<std::int64_t>(t.bytes);
    delta[static_cast<std::size_t>(last) + 1] -= static_cast<std::int64_t>(t.bytes);
  }
  std::int64_t live = 0;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    live += delta[i];
    p.live_bytes[i] = static_cast<std::uint64_t>(live);
    if (p.live_bytes[i] > p.peak_bytes || p.peak_op == kNoOp) {
      p.peak_bytes = p.live_bytes[i];
      p.peak_op = static_cast<OpId>(i);
    }
  }
  return p;
}

std::string Graph::check() const {
  auto name = [&](TensorId t) { return "'" + tensor(t).name + "'"; };
  bool seen_backward = false;
  for (std::size_t i = 0; i < ops_.size(); ++i) {
    const OpNode& o = ops_[i];
    if (o.id != static_cast<OpId>(i)) return "op " + std::to_string(i) + " has id " + std::to_string(o.id);
    if (o.phase != Phase::forward) seen_backward = true;
    if (seen_backward && o.phase == Phase::forward)
      return "forward op '" + o.name + "' after the backward pass started";
    auto ready = [&](TensorId t) -> std::string {
      const TensorInfo& info = tensor(t);
      if (is_persistent(info.kind) || info.kind == TensorKind::input ||
          info.kind == TensorKind::label)
        return info.producer == kNoOp ? "" : name(t) + " is fed or persistent but has a producer";
      if (info.producer == kNoOp) return name(t) + " is used by '" + o.name + "' but never defined";
      if (info.producer >= o.id)
        return name(t) + " is used by '" + o.name + "' before its definition";
      return "";
    };
    for (TensorId t : o.inputs)
      if (auto e = ready(t); !e.empty()) return e;
    for (TensorId t : o.updates)
      if (auto e = ready(t); !e.empty()) return e;
    for (TensorId t : o.outputs)
      if (tensor(t).producer != o.id) return name(t) + " is not produced by '" + o.name + "'";
  }
  for (const TensorInfo& t : tensors_) {
    if (!std::is_sorted(t.uses.begin(), t.uses.end()) ||
        std::adjacent_find(t.uses.begin(), t.uses.end()) != t.uses.end())
      return "uses of " + name(t.id) + " are not ascending";
    for (OpId u : t.uses) {
      const OpNode& o = op(u);
      const bool listed = std::count(o.inputs.begin(), o.inputs.end(), t.id) +
                              std::count(o.updates.begin(), o.updates.end(), t.id) >
                          0;
      if (!listed) return "op '" + o.name + "' is listed as a use of " + name(t.id) + " but does not use it";
    }
    if (t.bytes == 0) return name(t.id) + " has 0 bytes";
  }
  for (const OpNode& o : ops_)
    for (const auto* list : {&o.inputs, &o.updates})
      for (TensorId t : *list)
        if (!std::binary_search(tensor(t).uses.begin(), tensor(t).uses.end(), o.id))
          return "op '" + o.name + "' uses " + name(t) + " but is not in its uses";
  return "";
}

std::string Graph::to_json() const {
  using nlohmann::json;
  json ops = json::array();
  for (const OpNode& o : ops_) {
    json j = {{"id", o.id},
              {"name", o.name},
              {"kind", op_kind_name(o.kind)},
              {"phase", phase_name(o.phase)},
              {"inputs", o.inputs},
              {"outputs", o.outputs},
              {"updates", o.updates},
              {"flops", o.flops}};
    if (o.forward_op != kNoOp) j["forward_op"] = o.forward_op;
    ops.push_back(std::move(j));
  }
  json tensors = json::array();
  for (const TensorInfo& t : tensors_) {
    json j = {{"id", t.id},
              {"name", t.name},
              {"kind", tensor_kind_name(t.kind)},
              {"dims", t.dims},
              {"bytes", t.bytes},
              {"bytes_measured", t.bytes_measured},
              {"persistent", is_persistent(t.kind)},
              {"producer", t.producer},
              {"uses", t.uses},
              {"last_use", last_use(t.id)},
              {"saved_for_backward", t.saved_for_backward}};
    if (t.grad != kNoTensor) j["grad"] = t.grad;
    if (t.grad_of != kNoTensor) j["grad_of"] = t.grad_of;
    tensors.push_back(std::move(j));
  }
  const MemoryProfile m = memory_profile();
  json doc = {{"ops", std::move(ops)},
              {"tensors", std::move(tensors)},
              {"memory",
               {{"persistent_bytes", m.persistent_bytes},
                {"peak_live_bytes", m.peak_bytes},
                {"peak_op", m.peak_op},
                {"live_bytes", m.live_bytes}}}};
  return doc.dump(1);
}

}  // namespace tensortier::runtime::graph
