// Forward ops with shape inference and FLOP counts.
#include "runtime/graph/builder.hpp"

#include <stdexcept>

namespace tensortier::runtime::graph {

namespace {

double voxels(const Dims& d) {
  return static_cast<double>(d[2]) * static_cast<double>(d[3]) * static_cast<double>(d[4]);
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("graph builder: " + what);
}


void require_5d(const Dims& d, const std::string& op) {
  require(d.size() == 5, op + ": src " + dims_text(d) + " is not N,C,D,H,W");
}

}  // namespace

TensorId Builder::activation_tensor(const std::string& name, const Dims& d,
                                    const std::vector<TensorId>& inputs) {
  const TensorId t = g_.add_tensor(name, TensorKind::activation, d);
  bool rg = false;
  for (TensorId i : inputs) rg = rg || g_.tensor(i).requires_grad;
  g_.tensor(t).requires_grad = rg;
  return t;
}

TensorId Builder::input(const std::string& name, const Dims& d) {
  require_5d(d, name);
  return g_.add_tensor(name, TensorKind::input, d);
}

TensorId Builder::labels(const std::string& name, const Dims& d) {
  require(d.size() == 4, name + ": labels " + dims_text(d) + " are not N,D,H,W");
  return g_.add_tensor(name, TensorKind::label, d, DataType::u8);
}

TensorId Builder::to_activation(TensorId src, const std::string& name) {
  require_5d(dims(src), name);
  const TensorId dst = activation_tensor(name, dims(src), {src});
  OpNode op;
  op.kind = OpKind::to_activation;
  op.name = name;
  op.inputs = {src};
  op.outputs = {dst};
  g_.add_op(std::move(op));
  return dst;
}

TensorId Builder::conv3d(TensorId src, std::int64_t out_channels, int kernel, bool bias,
                         const std::string& name) {
  const Dims s = dims(src);
  require_5d(s, name);
  require(kernel >= 1 && kernel % 2 == 1, name + ": kernel " + std::to_string(kernel) +
                                              " must be odd (padding kernel / 2 keeps the size)");
  require(out_channels >= 1, name + ": out channels must be positive");
  const TensorId w = g_.add_tensor(name + ".weight", TensorKind::weight,
                                   {out_channels, s[1], kernel, kernel, kernel});
  OpNode op;
  op.kind = OpKind::conv3d;
  op.name = name;
  op.attrs.kernel = kernel;
  op.attrs.padding = kernel / 2;
  op.inputs = {src, w};
  if (bias) op.inputs.push_back(g_.add_tensor(name + ".bias", TensorKind::weight, {out_channels}));
  const Dims d = {s[0], out_channels, s[2], s[3], s[4]};
  op.outputs = {activation_tensor(name, d, op.inputs)};
  op.flops = 2.0 * static_cast<double>(s[0]) * static_cast<double>(out_channels) *
             static_cast<double>(s[1]) * kernel * kernel * kernel * voxels(d);
  const TensorId dst = op.outputs[0];
  g_.add_op(std::move(op));
  return dst;
}

TensorId Builder::conv_transpose3d(TensorId src, std::int64_t out_channels, bool bias,
                                   const std::string& name) {
  const Dims s = dims(src);
  require_5d(s, name);
  const TensorId w =
      g_.add_tensor(name + ".weight", TensorKind::weight, {out_channels, s[1], 2, 2, 2});
  OpNode op;
  op.kind = OpKind::conv_transpose3d;
  op.name = name;
  op.inputs = {src, w};
  if (bias) op.inputs.push_back(g_.add_tensor(name + ".bias", TensorKind::weight, {out_channels}));
  const Dims d = {s[0], out_channels, 2 * s[2], 2 * s[3], 2 * s[4]};
  op.outputs = {activation_tensor(name, d, op.inputs)};
  // Every src voxel meets every weight once: N * IC * OC * 8 * src voxels MACs.
  op.flops = 2.0 * static_cast<double>(s[0]) * static_cast<double>(s[1]) *
             static_cast<double>(out_channels) * 8.0 * voxels(s);
  const TensorId dst = op.outputs[0];
  g_.add_op(std::move(op));
  return dst;
}

TensorId Builder::max_pool3d(TensorId src, const std::string& name) {
  const Dims s = dims(src);
  require_5d(s, name);
  require(s[2] % 2 == 0 && s[3] % 2 == 0 && s[4] % 2 == 0,
          name + ": src " + dims_text(s) + " must have even D, H, W");
  const Dims d = {s[0], s[1], s[2] / 2, s[3] / 2, s[4] / 2};
  OpNode op;
  op.kind = OpKind::max_pool3d;
  op.name = name;
  op.inputs = {src};
  // oneDNN's workspace: the window offset of each max, one byte per dst element.
  op.outputs = {activation_tensor(name, d, {src}),
                g_.add_tensor(name + ".argmax", TensorKind::saved, d, DataType::u8)};
  const TensorId dst = op.outputs[0];
  g_.add_op(std::move(op));
  return dst;
}

TensorId Builder::batch_norm3d(TensorId src, bool fuse_relu, const std::string& name,
                               float epsilon, float momentum) {
  const Dims s = dims(src);
  require_5d(s, name);
  const Dims c = {s[1]};
  OpNode op;
  op.kind = OpKind::batch_norm3d;
  op.name = name;
  op.attrs.fuse_relu = fuse_relu;
  op.attrs.epsilon = epsilon;
  op.attrs.momentum = momentum;
  op.inputs = {src, g_.add_tensor(name + ".scale", TensorKind::weight, c),
               g_.add_tensor(name + ".shift", TensorKind::weight, c)};
  op.updates = {g_.add_tensor(name + ".running_mean", TensorKind::state, c),
                g_.add_tensor(name + ".running_var", TensorKind::state, c)};
  op.outputs = {activation_tensor(name, s, op.inputs),
                g_.add_tensor(name + ".mean", TensorKind::saved, c),
                g_.add_tensor(name + ".variance", TensorKind::saved, c)};
  if (fuse_relu) {
    // At most a byte per element (oneDNN's jit kernels for 8+ channels keep a
    // bit); the executor records the allocated size on the first step.
    op.outputs.push_back(g_.add_tensor(name + ".relu_mask", TensorKind::saved, s, DataType::u8));
  }
  const TensorId dst = op.outputs[0];
  g_.add_op(std::move(op));
  return dst;
}

TensorId Builder::activation(TensorId src, float negative_slope, const std::string& name) {
  require_5d(dims(src), name);
  require(negative_slope >= 0.f, name + ": negative slope must be >= 0");
  OpNode op;
  op.kind = OpKind::activation;
  op.name = name;
  op.attrs.negative_slope = negative_slope;
  op.inputs = {src};
  op.outputs = {activation_tensor(name, dims(src), {src})};
  const TensorId dst = op.outputs[0];
  g_.add_op(std::move(op));
  return dst;
}

TensorId Builder::concat(const std::vector<TensorId>& srcs, const std::string& name) {
  require(!srcs.empty(), name + ": nothing to concatenate");
  Dims d = dims(srcs[0]);
  require_5d(d, name);
  d[1] = 0;
  for (TensorId t : srcs) {
    const Dims& s = dims(t);
    require(s.size() == 5 && s[0] == d[0] && s[2] == d[2] && s[3] == d[3] && s[4] == d[4],
            name + ": src " + dims_text(s) + " does not match " + dims_text(dims(srcs[0])));
    d[1] += s[1];
  }
  OpNode op;
  op.kind = OpKind::concat;
  op.name = name;
  op.inputs = srcs;
  op.outputs = {activation_tensor(name, d, srcs)};
  const TensorId dst = op.outputs[0];
  g_.add_op(std::move(op));
  return dst;
}

OpId Builder::loss(TensorId logits, TensorId labels, const LossSpec& spec,
                   const std::string& name) {
  const Dims& l = dims(logits);
  const Dims& y = dims(labels);
  require_5d(l, name);
  require(y.size() == 4 && y[0] == l[0] && y[1] == l[2] && y[2] == l[3] && y[3] == l[4],
          name + ": labels " + dims_text(y) + " do not match logits " + dims_text(l));
  require(spec.ce_weight > 0 || spec.dice_weight > 0, name + ": no loss term has a weight");
  OpNode op;
  op.kind = OpKind::loss;
  op.name = name;
  op.attrs.ce_weight = spec.ce_weight;
  op.attrs.dice_weight = spec.dice_weight;
  op.attrs.dice_background = spec.dice_background;
  op.inputs = {logits, labels};
  if (spec.ce_weight > 0)
    op.outputs.push_back(g_.add_tensor(name + ".ce_probs", TensorKind::saved, l));
  if (spec.dice_weight > 0)
    op.outputs.push_back(g_.add_tensor(name + ".dice_probs", TensorKind::saved, l));
  return g_.add_op(std::move(op));
}

}  // namespace tensortier::runtime::graph
