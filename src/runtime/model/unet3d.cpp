// The 3D U-Net as graph ops, and its parameter initialisation.
#include "runtime/model/unet3d.hpp"

#include <cmath>
#include <stdexcept>

namespace tensortier::runtime::model {

using graph::Builder;
using graph::TensorId;

Status validate(const UNet3dConfig& c, const Dims& input) {
  auto bad = [](const std::string& what) {
    return Status(Errc::invalid_argument, "unet3d: " + what);
  };
  if (c.levels < 1 || c.levels > 8)
    return bad("levels = " + std::to_string(c.levels) + "; accepted: 1..8");
  if (c.base_filters < 1 || (static_cast<std::int64_t>(c.base_filters) << (c.levels - 1)) > 4096)
    return bad("base filters = " + std::to_string(c.base_filters) +
               "; accepted: 1.. with base * 2^(levels-1) <= 4096");
  if (c.in_channels < 1) return bad("in channels = " + std::to_string(c.in_channels) + "; accepted: >= 1");
  if (c.classes < 2) return bad("classes = " + std::to_string(c.classes) + "; accepted: >= 2");
  if (c.negative_slope < 0.f) return bad("negative slope must be >= 0");
  if (input.size() != 5 || input[0] < 1 || input[1] != c.in_channels)
    return bad("input must be N x " + std::to_string(c.in_channels) + " x D x H x W");
  const std::int64_t div = std::int64_t{1} << (c.levels - 1);
  for (int i = 2; i < 5; ++i)
    if (input[i] < div || input[i] % div != 0)
      return bad("input size " + std::to_string(input[i]) + " is not a multiple of 2^(levels-1) = " +
                 std::to_string(div) + " (" + std::to_string(c.levels) + " levels)");
  return Status::ok();
}

namespace {

// conv -> [batch norm] -> activation (ReLU fused into the norm when possible).
TensorId conv_block(Builder& b, const UNet3dConfig& c, TensorId x, std::int64_t filters,
                    const std::string& name) {
  const bool fuse = c.batch_norm && c.activation == Activation::relu;
  x = b.conv3d(x, filters, 3, c.conv_bias || !c.batch_norm, name + ".conv");
  if (c.batch_norm) x = b.batch_norm3d(x, fuse, name + ".bn");
  if (!fuse)
    x = b.activation(x, c.activation == Activation::relu ? 0.f : c.negative_slope, name + ".act");
  return x;
}

}  // namespace

UNet3dGraph build_unet3d(graph::Graph& g, const UNet3dConfig& c, const Dims& input,
                         const graph::LossSpec& loss) {
  if (Status s = validate(c, input); !s) throw std::invalid_argument(s.message());
  Builder b(g);
  UNet3dGraph out;
  out.image = b.input("image", input);
  out.labels = b.labels("labels", {input[0], input[2], input[3], input[4]});
  TensorId x = b.to_activation(out.image, "input");
  std::vector<TensorId> skips;
  for (int l = 0; l < c.levels; ++l) {
    const std::string level = l + 1 == c.levels ? "bottom" : "enc" + std::to_string(l);
    const std::int64_t f = static_cast<std::int64_t>(c.base_filters) << l;
    if (l > 0) x = b.max_pool3d(skips.back(), "pool" + std::to_string(l - 1));
    x = conv_block(b, c, x, f, level + ".block1");
    x = conv_block(b, c, x, f, level + ".block2");
    if (l + 1 < c.levels) skips.push_back(x);
  }
  for (int l = c.levels - 2; l >= 0; --l) {
    const std::string level = "dec" + std::to_string(l);
    const std::int64_t f = static_cast<std::int64_t>(c.base_filters) << l;
    x = b.conv_transpose3d(x, f, true, level + ".up");
    x = b.concat({skips[static_cast<std::size_t>(l)], x}, level + ".concat");
    x = conv_block(b, c, x, f, level + ".block1");
    x = conv_block(b, c, x, f, level + ".block2");
  }
  out.logits = b.conv3d(x, c.classes, 1, true, "head");
  out.loss = b.loss(out.logits, out.labels, loss, "loss");
  return out;
}

namespace {

std::uint64_t splitmix64(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t hash_name(std::uint64_t seed, const std::string& name) {
  std::uint64_t h = 1469598103934665603ULL ^ seed;  // FNV-1a over the name
  for (unsigned char ch : name) h = (h ^ ch) * 1099511628211ULL;
  return h;
}

void fill_uniform(Tensor& t, double bound, std::uint64_t stream) {
  float* p = t.f32();
  for (std::int64_t i = 0; i < t.elems(); ++i) {
    const double u = static_cast<double>(splitmix64(stream) >> 11) * 0x1.0p-53;  // [0, 1)
    p[i] = static_cast<float>((2.0 * u - 1.0) * bound);
  }
}

}  // namespace

const Tensor& Parameters::at(const std::string& name) const {
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return tensors[i];
  throw std::out_of_range("parameters: no tensor '" + name + "'");
}

std::uint64_t Parameters::bytes() const {
  std::uint64_t b = 0;
  for (const Tensor& t : tensors) b += t.bytes();
  return b;
}

Parameters init_parameters(const graph::Graph& g, Allocator& allocator, std::uint64_t seed) {
  Parameters p;
  std::vector<double> bound(g.tensors().size(), -1.0);  // < 0: constant init
  for (const graph::OpNode& op : g.ops()) {
    if (op.kind != graph::OpKind::conv3d && op.kind != graph::OpKind::conv_transpose3d) continue;
    const Dims& w = g.tensor(op.inputs[1]).dims;  // (OC, IC, k, k, k)
    const double k3 = static_cast<double>(w[2] * w[3] * w[4]);
    // PyTorch's fan_in is weight.size(1) * k^3; its ConvTranspose3d weight is (IC, OC, ...).
    const double fan_in = (op.kind == graph::OpKind::conv3d ? w[1] : w[0]) * k3;
    for (std::size_t i = 1; i < op.inputs.size(); ++i)
      bound[static_cast<std::size_t>(op.inputs[i])] = 1.0 / std::sqrt(fan_in);
  }
  for (const graph::TensorInfo& t : g.tensors()) {
    if (t.kind != graph::TensorKind::weight && t.kind != graph::TensorKind::state) continue;
    Tensor v = Tensor::empty(allocator, t.dims);
    const double b = bound[static_cast<std::size_t>(t.id)];
    if (b >= 0) {
      fill_uniform(v, b, hash_name(seed, t.name));
    } else {
      const bool one = t.name.ends_with(".scale") || t.name.ends_with(".running_var");
      v.fill(one ? 1.f : 0.f);
    }
    p.names.push_back(t.name);
    p.tensors.push_back(std::move(v));
  }
  return p;
}

std::uint64_t Parameters::count() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (!names[i].ends_with(".running_mean") && !names[i].ends_with(".running_var"))
      n += static_cast<std::uint64_t>(tensors[i].elems());
  return n;
}

}  // namespace tensortier::runtime::model
