// The footprint model: the allocations of each op (from the descriptors the
// ops build, describe.hpp) replayed in schedule order.
#include "runtime/plan/footprint.hpp"

#include <algorithm>
#include <stdexcept>

#include "runtime/plan/reuse_plan.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime::plan {

namespace {

using graph::Graph;
using graph::OpKind;
using graph::OpNode;
using graph::Phase;
using graph::TensorKind;

// One allocation-relevant event of an op, in the order the op runs them.
struct Event {
  enum Kind : std::uint8_t {
    output,     // a schedule tensor (the op's output) is allocated
    temporary,  // an internal block is allocated (freed by `release` or at the op's end)
    release,    // the temporary of `slot` is freed
    execute,    // a primitive runs: the scratchpad grows to `bytes` if smaller
    state,      // optimizer state created on the first update (replayed step 0 only)
  };
  Kind kind;
  TensorId tensor = graph::kNoTensor;
  std::uint64_t bytes = 0;
  int slot = -1;
};

std::uint64_t desc_bytes(const MemoryDesc& md) { return md.is_zero() ? 0 : md.get_size(); }

class OpEvents {
 public:
  OpEvents(Graph& g, Context& ctx, bool training) : g_(g), ctx_(ctx), training_(training) {}

  std::vector<Event> of(const OpNode& op) {
    events_.clear();
    slots_ = 0;
    switch (op.kind) {
      case OpKind::to_activation: {
        const Dims d = g_.tensor(op.inputs[0]).dims;
        output(op.outputs[0], ctx_.activation_desc(d));
        reorder(Tensor::plain(d), ctx_.activation_desc(d));
        break;
      }
      case OpKind::conv3d:
      case OpKind::conv_transpose3d: conv_forward(op); break;
      case OpKind::batch_norm3d: {
        const PrimitiveMemory m = describe_batch_norm3d(
            ctx_, dims(op.inputs[0]), bn_options(op),
            training_ ? PrimitivePass::forward_training : PrimitivePass::forward_inference);
        output(op.outputs[0], m.dst);
        if (training_) {
          output(op.outputs[1], m.mean);
          output(op.outputs[2], m.variance);
          if (op.outputs.size() > 3) output(op.outputs[3], m.workspace);
        }
        execute(m.scratchpad);
        break;
      }
      case OpKind::max_pool3d: {
        const PrimitiveMemory m = describe_max_pool3d(
            ctx_, dims(op.inputs[0]),
            training_ ? PrimitivePass::forward_training : PrimitivePass::forward_inference);
        output(op.outputs[0], m.dst);
        if (training_) output(op.outputs[1], m.workspace);
        execute(m.scratchpad);
        break;
      }
      case OpKind::activation: {
        const PrimitiveMemory m = describe_relu(
            ctx_, ctx_.activation_desc(dims(op.inputs[0])), op.attrs.negative_slope,
            training_ ? PrimitivePass::forward_training : PrimitivePass::forward_inference);
        output(op.outputs[0], m.dst);
        execute(m.scratchpad);
        break;
      }
      case OpKind::concat: {
        std::vector<Dims> srcs;
        for (TensorId t : op.inputs) srcs.push_back(dims(t));
        const PrimitiveMemory m = describe_concat(ctx_, srcs);
        output(op.outputs[0], m.dst);
        execute(m.scratchpad);
        break;
      }
      case OpKind::loss:  // the probabilities, channels-last like the logits
        for (TensorId t : op.outputs) output(t, Tensor::channels_last(dims(t)));
        break;
      case OpKind::loss_backward: {
        const MemoryDesc md = Tensor::channels_last(dims(op.outputs[0]));
        const bool ce = op.attrs.ce_weight > 0, dice = op.attrs.dice_weight > 0;
        if (ce) output(op.outputs[0], md);
        if (dice && ce) {  // the Dice gradient, added to the cross-entropy one
          const int s = temporary(desc_bytes(md));
          execute(describe_add(ctx_, md).scratchpad);
          release(s);
        } else if (dice) {
          output(op.outputs[0], md);
        }
        break;
      }
      case OpKind::conv3d_backward:
      case OpKind::conv_transpose3d_backward: conv_backward(op); break;
      case OpKind::max_pool3d_backward: {
        const OpNode& f = g_.op(op.forward_op);
        const PrimitiveMemory m =
            describe_max_pool3d(ctx_, dims(f.inputs[0]), PrimitivePass::backward);
        output(op.outputs[0], m.diff_src);
        execute(m.scratchpad);
        break;
      }
      case OpKind::batch_norm3d_backward: {
        const OpNode& f = g_.op(op.forward_op);
        const PrimitiveMemory m =
            describe_batch_norm3d(ctx_, dims(f.inputs[0]), bn_options(f), PrimitivePass::backward);
        output(op.outputs[0], m.diff_src);
        output(op.outputs[1], Tensor::plain(dims(op.outputs[1])));
        output(op.outputs[2], Tensor::plain(dims(op.outputs[2])));
        execute(m.scratchpad);
        break;
      }
      case OpKind::activation_backward: {
        const OpNode& f = g_.op(op.forward_op);
        const PrimitiveMemory m = describe_relu(ctx_, ctx_.activation_desc(dims(f.outputs[0])),
                                                f.attrs.negative_slope, PrimitivePass::backward);
        output(op.outputs[0], m.diff_src);
        execute(m.scratchpad);
        break;
      }
      case OpKind::concat_backward: concat_backward(op); break;
      case OpKind::accumulate: {
        const Dims d = dims(op.updates[0]);
        execute(describe_add(ctx_, d.size() == 5 ? ctx_.activation_desc(d) : Tensor::plain(d))
                    .scratchpad);
        break;
      }
      case OpKind::sgd_update:
      case OpKind::adam_update:
        // Sgd/Adam::step: zeros per parameter on the first call; the
        // gradient is already plain (no reorder).
        for (std::size_t i = 1; i < op.updates.size(); ++i) {
          if (op.kind == OpKind::sgd_update && !momentum_) continue;
          events_.push_back({Event::state, op.updates[i], g_.tensor(op.updates[i]).bytes, -1});
        }
        break;
    }
    return events_;
  }

  void set_momentum(bool on) { momentum_ = on; }

 private:
  Dims dims(TensorId t) const { return g_.tensor(t).dims; }

  static BatchNorm3dOptions bn_options(const OpNode& op) {
    return BatchNorm3dOptions{op.attrs.epsilon, op.attrs.momentum, op.attrs.fuse_relu};
  }

  // The schedule tensor `t`, allocated with `md`'s size (recorded in the graph).
  void output(TensorId t, const MemoryDesc& md) {
    graph::TensorInfo& info = g_.tensor(t);
    info.bytes = desc_bytes(md);
    info.bytes_measured = true;
    events_.push_back({Event::output, t, info.bytes, -1});
  }
  int temporary(std::uint64_t bytes) {
    events_.push_back({Event::temporary, graph::kNoTensor, bytes, slots_});
    return slots_++;
  }
  void release(int slot) { events_.push_back({Event::release, graph::kNoTensor, 0, slot}); }
  void execute(const MemoryDesc& scratchpad) {
    events_.push_back({Event::execute, graph::kNoTensor, desc_bytes(scratchpad), -1});
  }
  void reorder(const MemoryDesc& src, const MemoryDesc& dst) {
    execute(describe_reorder(ctx_, src, dst).scratchpad);
  }
  // Tensor::to(desc): a reordered copy when the layouts differ.
  int to(const MemoryDesc& from, const MemoryDesc& desc) {
    if (desc == from) return -1;
    const int s = temporary(desc_bytes(desc));
    reorder(from, desc);
    return s;
  }

  PrimitiveMemory describe_conv(const OpNode& f, PrimitivePass pass) {
    const Dims src = dims(f.inputs[0]), w = dims(f.inputs[1]);
    const bool bias = f.inputs.size() > 2;
    return f.kind == OpKind::conv3d
               ? describe_conv3d(ctx_, src, w, bias, {f.attrs.kernel, f.attrs.padding}, pass)
               : describe_conv_transpose3d(ctx_, src, w, bias, pass);
  }

  // ConvRunner::forward: src and weights in the primitive's layout, dst, run.
  void conv_forward(const OpNode& op) {
    const PrimitiveMemory m = describe_conv(
        op, training_ ? PrimitivePass::forward_training : PrimitivePass::forward_inference);
    const Dims src = dims(op.inputs[0]), w = dims(op.inputs[1]);
    to(ctx_.activation_desc(src), m.src);
    to(Tensor::plain(w), m.weights);
    output(op.outputs[0], m.dst);
    if (op.inputs.size() > 2) to(Tensor::plain(dims(op.inputs[2])), m.bias);
    execute(m.scratchpad);
  }

  // ConvRunner::backward: backward-data (weights reordered), then
  // backward-weights into the primitive's layout, reordered to plain.
  void conv_backward(const OpNode& op) {
    const OpNode& f = g_.op(op.forward_op);
    const Dims w = dims(f.inputs[1]);
    const MemoryDesc dst_md = ctx_.activation_desc(dims(op.inputs[0]));
    std::size_t k = 0;
    if (op.attrs.need_diff_src) {
      const PrimitiveMemory m = describe_conv(f, PrimitivePass::backward_data);
      to(dst_md, m.diff_dst);  // kept for backward-weights
      const int wr = to(Tensor::plain(w), m.weights);
      output(op.outputs[k++], m.diff_src);
      execute(m.scratchpad);
      if (wr >= 0) release(wr);
    }
    const PrimitiveMemory m = describe_conv(f, PrimitivePass::backward_weights);
    to(ctx_.activation_desc(dims(f.inputs[0])), m.src);
    to(dst_md, m.diff_dst);
    const TensorId diff_weights = op.outputs[k++];
    const bool plain = m.diff_weights == Tensor::plain(w);
    const int dw = plain ? -1 : temporary(desc_bytes(m.diff_weights));
    if (plain) output(diff_weights, m.diff_weights);
    if (k < op.outputs.size()) output(op.outputs[k], m.diff_bias);
    execute(m.scratchpad);
    if (!plain) {
      output(diff_weights, Tensor::plain(w));
      reorder(m.diff_weights, Tensor::plain(w));
      release(dw);
    }
  }

  // concat_backward: one reorder per part from a channel range of diff_dst;
  // parts that need no gradient live until the op ends.
  void concat_backward(const OpNode& op) {
    const OpNode& f = g_.op(op.forward_op);
    const MemoryDesc whole = ctx_.activation_desc(dims(op.inputs[0]));
    Dims offset = {0, 0, 0, 0, 0};
    std::size_t k = 0;
    for (TensorId src : f.inputs) {
      const Dims part = dims(src);
      const MemoryDesc part_md = ctx_.activation_desc(part);
      if (g_.tensor(src).requires_grad) {
        output(op.outputs[k++], part_md);
      } else {
        temporary(desc_bytes(part_md));
      }
      reorder(whole.submemory_desc(part, offset), part_md);
      offset[1] += part[1];
    }
  }

  Graph& g_;
  Context& ctx_;
  bool training_;
  bool momentum_ = true;
  std::vector<Event> events_;
  int slots_ = 0;
};

// The allocator's live bytes through a replay.
class Replay {
 public:
  explicit Replay(std::uint64_t granule) : granule_(granule) {}

  std::uint64_t block(std::uint64_t bytes) const {
    return round_up(std::max<std::uint64_t>(bytes, 1), granule_);
  }
  void allocate(std::uint64_t bytes) { add(block(bytes)); }
  void free(std::uint64_t bytes) { live_ -= block(bytes); }
  void add(std::uint64_t rounded) {
    live_ += rounded;
    peak_ = std::max(peak_, live_);
  }
  // Context::execute: a larger scratchpad replaces the old one (freed first).
  void execute(std::uint64_t need) {
    if (need <= scratchpad_) return;
    if (scratchpad_ > 0) free(scratchpad_);
    scratchpad_ = need;
    allocate(need);
  }
  std::uint64_t live() const { return live_; }
  std::uint64_t scratchpad() const { return scratchpad_ > 0 ? block(scratchpad_) : 0; }
  // Peak since the last reset_peak().
  std::uint64_t peak() const { return peak_; }
  void reset_peak() { peak_ = live_; }

 private:
  std::uint64_t granule_;
  std::uint64_t live_ = 0, peak_ = 0, scratchpad_ = 0;
};

}  // namespace

void set_runtime_sizes(Graph& graph, Context& ctx) {
  OpEvents events(graph, ctx, true);
  for (const OpNode& op : graph.ops()) events.of(op);
}

Footprint model_footprint(Graph& graph, Pass pass, Context& ctx, const FootprintOptions& options) {
  const bool training = pass == Pass::training;
  const std::uint64_t granule = std::max<std::uint64_t>(options.granule, 1);
  Footprint f;
  f.pass = pass;

  // The events of every op of the pass (this also records the ops' sizes).
  OpEvents builder(graph, ctx, training);
  builder.set_momentum(options.momentum);
  std::vector<OpId> steps;
  std::vector<std::vector<Event>> events;
  TensorId output = graph::kNoTensor;  // inference: the logits (the loss's input)
  for (const OpNode& op : graph.ops()) {
    if (!training && (op.phase != Phase::forward || op.kind == OpKind::loss)) {
      if (op.kind == OpKind::loss && output == graph::kNoTensor) output = op.inputs[0];
      continue;
    }
    steps.push_back(op.id);
    events.push_back(builder.of(op));
  }
  const Liveness l = compute_liveness(graph, pass, granule);
  f.naive_bytes = l.naive_bytes;
  f.reuse_bytes = l.lower_bound_bytes;

  // Releases: after the last use of each tensor defined in the pass.
  std::vector<std::vector<TensorId>> releases(steps.size());
  std::vector<int> step_of(graph.ops().size(), -1);
  for (std::size_t s = 0; s < steps.size(); ++s)
    step_of[static_cast<std::size_t>(steps[s])] = static_cast<int>(s);
  for (const graph::TensorInfo& t : graph.tensors()) {
    if (t.producer == graph::kNoOp || step_of[static_cast<std::size_t>(t.producer)] < 0) continue;
    const OpId last = graph.last_use(t.id, !training);
    if (last != graph::kNoOp && step_of[static_cast<std::size_t>(last)] >= 0)
      releases[static_cast<std::size_t>(step_of[static_cast<std::size_t>(last)])].push_back(t.id);
  }

  Replay r(granule);
  for (const graph::TensorInfo& t : graph.tensors()) {
    if (t.kind == TensorKind::input || t.kind == TensorKind::label) f.fed_bytes += r.block(t.bytes);
    if (t.kind == TensorKind::weight || t.kind == TensorKind::state)
      f.persistent_bytes += r.block(t.bytes);
  }
  r.add(f.persistent_bytes + f.fed_bytes);

  // Inference: `tensortier infer`'s reuse plan, one arena block.
  ReusePlan reuse;
  if (!training) {
    const Liveness la = compute_liveness(graph, Pass::inference, options.reuse_alignment);
    reuse = plan_reuse(la, &graph, {options.reuse_alignment, true});
    f.arena_bytes = r.block(reuse.arena_bytes);
    f.reuse_bytes = f.arena_bytes + f.persistent_bytes + round_up(reuse.input_bytes, granule);
    r.add(f.arena_bytes);
  }

  const int passes = training ? std::max(options.steps, 1) : 1;
  std::vector<std::uint64_t> held(graph.tensors().size(), 0);
  std::uint64_t tensors_live = 0;  // schedule tensors (not persistent, not fed) allocated
  std::uint64_t best = 0;
  for (int p = 0; p < passes; ++p) {
    f.step_peak_bytes.assign(steps.size(), 0);
    for (std::size_t s = 0; s < steps.size(); ++s) {
      r.reset_peak();
      std::vector<std::uint64_t> temps;
      std::uint64_t temps_live = 0, temps_at_peak = 0, tensors_at_peak = tensors_live;
      auto note = [&] {
        if (r.live() >= r.peak()) {
          temps_at_peak = temps_live;
          tensors_at_peak = tensors_live;
        }
      };
      for (const Event& e : events[s]) {
        switch (e.kind) {
          case Event::output:
            if (!training && reuse.find(e.tensor) != nullptr) break;  // in the arena
            held[static_cast<std::size_t>(e.tensor)] = r.block(e.bytes);
            tensors_live += r.block(e.bytes);
            r.allocate(e.bytes);
            break;
          case Event::temporary:
            temps.resize(std::max(temps.size(), static_cast<std::size_t>(e.slot) + 1), 0);
            temps[static_cast<std::size_t>(e.slot)] = r.block(e.bytes);
            temps_live += r.block(e.bytes);
            f.largest_temporary_bytes = std::max(f.largest_temporary_bytes, r.block(e.bytes));
            f.peak_temporaries_bytes = std::max(f.peak_temporaries_bytes, temps_live);
            r.allocate(e.bytes);
            break;
          case Event::release: {
            std::uint64_t& b = temps[static_cast<std::size_t>(e.slot)];
            temps_live -= b;
            r.free(b);
            b = 0;
            break;
          }
          case Event::execute: r.execute(e.bytes); break;
          case Event::state:
            if (p == 0) {
              r.allocate(e.bytes);
              f.persistent_bytes += r.block(e.bytes);
            }
            break;
        }
        note();
      }
      for (std::uint64_t b : temps)
        if (b > 0) r.free(b);
      if (!training && steps[s] == graph.tensor(output).producer) {
        r.allocate(graph.tensor(output).bytes);  // the returned copy of the logits
        note();
      }
      f.step_peak_bytes[s] = r.peak();
      if (r.peak() > best) {
        best = r.peak();
        f.peak_step = static_cast<int>(s);
        f.peak_pass = p;
        f.tensors_at_peak = tensors_at_peak;
        f.internals_at_peak = r.scratchpad() + temps_at_peak;
      }
      for (TensorId t : releases[s]) {
        std::uint64_t& b = held[static_cast<std::size_t>(t)];
        if (b == 0) continue;
        r.free(b);
        tensors_live -= b;
        b = 0;
      }
    }
  }
  f.runtime_peak_bytes = best;
  f.scratchpad_bytes = r.scratchpad();
  return f;
}

}  // namespace tensortier::runtime::plan
