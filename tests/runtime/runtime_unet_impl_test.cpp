// Builds every primitive a 3D U-Net uses (3 levels, 4 -> 16 -> 32 -> 64
// channels, 32^3 down to 8^3, BN with and without fused ReLU, LeakyReLU,
// max-pool, transposed conv, skip concat, gradient sums, 1x1 head, CE + Dice,
// Adam, softmax for inference), runs
// two training steps and an inference pass, and checks that oneDNN picked a
// JIT or gemm implementation for every one — no "ref" kernel — and that the
// second step reused every primitive. CTest runs this binary twice: on the
// machine's ISA and with DNNL_MAX_CPU_ISA=AVX2.
#include <iostream>
#include <set>

#include "runtime_test_support.hpp"

namespace tensortier::runtime::test {
namespace {

// conv -> batch norm -> ReLU (fused into the norm) or LeakyReLU (eltwise).
struct ConvBlock {
  Tensor w, b, scale, shift, running_mean, running_var;
  bool fused;
  int kernel;
  Conv3dSaved conv_saved;
  BatchNorm3dSaved bn_saved;
  ActivationSaved act_saved;

  ConvBlock(std::int64_t in, std::int64_t out, bool fuse, unsigned seed, int k = 3)
      : w(to_tensor(random_ref({out, in, k, k, k}, seed, -0.1, 0.1))),
        b(to_tensor(RefTensor({out}, 0.0))),
        scale(to_tensor(RefTensor({out}, 1.0))),
        shift(to_tensor(RefTensor({out}, 0.0))),
        running_mean(to_tensor(RefTensor({out}, 0.0))),
        running_var(to_tensor(RefTensor({out}, 1.0))),
        fused(fuse),
        kernel(k) {}

  Tensor forward(Context& ctx, const Tensor& x, bool train) {
    const Conv3dOptions o{kernel, kernel / 2};
    const BatchNorm3dOptions bo{1e-5f, 0.1f, fused};
    if (!train) {
      Tensor y = conv3d_forward(ctx, x, w, b, o);
      y = batch_norm3d_forward_inference(ctx, y, scale, shift, running_mean, running_var, bo);
      return fused ? y : relu_forward(ctx, y, {0.01f, true});
    }
    Tensor y = conv3d_forward(ctx, x, w, b, o, &conv_saved);
    y = batch_norm3d_forward_training(ctx, y, scale, shift, running_mean, running_var, bo, &bn_saved);
    return fused ? y : relu_forward(ctx, y, {0.01f, false}, &act_saved);
  }

  Tensor backward(Context& ctx, Tensor dy, std::vector<Tensor>& grads, bool need_dx = true) {
    if (!fused) dy = relu_backward(ctx, dy, act_saved);
    BatchNorm3dGrads g = batch_norm3d_backward(ctx, dy, bn_saved);
    Conv3dGrads c = conv3d_backward(ctx, g.diff_src, conv_saved, need_dx);
    grads.insert(grads.end(), {c.diff_weights, c.diff_bias, g.diff_scale, g.diff_shift});
    return c.diff_src;
  }
  void params(std::vector<Tensor>& out) const { out.insert(out.end(), {w, b, scale, shift}); }
};

struct Up {
  Tensor w, b;
  ConvTranspose3dSaved saved;
  Up(std::int64_t in, std::int64_t out, unsigned seed)
      : w(to_tensor(random_ref({out, in, 2, 2, 2}, seed, -0.1, 0.1))),
        b(to_tensor(RefTensor({out}, 0.0))) {}
};

struct MiniUNet {
  std::vector<ConvBlock> enc0, enc1, bottom, dec1, dec0;
  Up up1{64, 32, 50}, up0{32, 16, 51};
  ConvBlock head{16, 3, true, 60, 1};
  MaxPool3dSaved pool0, pool1;
  ConcatSaved cat1, cat0;
  Conv3dSaved head_saved;

  MiniUNet() {
    enc0 = {ConvBlock(4, 16, true, 1), ConvBlock(16, 16, false, 2)};
    enc1 = {ConvBlock(16, 32, true, 3), ConvBlock(32, 32, false, 4)};
    bottom = {ConvBlock(32, 64, true, 5), ConvBlock(64, 64, false, 6)};
    dec1 = {ConvBlock(64, 32, true, 7), ConvBlock(32, 32, false, 8)};
    dec0 = {ConvBlock(32, 16, true, 9), ConvBlock(16, 16, false, 10)};
  }

  static Tensor run(Context& ctx, std::vector<ConvBlock>& blocks, Tensor x, bool train) {
    for (auto& b : blocks) x = b.forward(ctx, x, train);
    return x;
  }
  static Tensor back(Context& ctx, std::vector<ConvBlock>& blocks, Tensor dy,
                     std::vector<Tensor>& grads, bool first_layer = false) {
    for (std::size_t i = blocks.size(); i-- > 0;)
      dy = blocks[i].backward(ctx, dy, grads, !(first_layer && i == 0));
    return dy;
  }

  Tensor forward(Context& ctx, const Tensor& x, bool train) {
    Tensor s0 = run(ctx, enc0, x, train);
    Tensor s1 = run(ctx, enc1, max_pool3d_forward(ctx, s0, train ? &pool0 : nullptr), train);
    Tensor y = run(ctx, bottom, max_pool3d_forward(ctx, s1, train ? &pool1 : nullptr), train);
    y = conv_transpose3d_forward(ctx, y, up1.w, up1.b, train ? &up1.saved : nullptr);
    y = run(ctx, dec1, concat_forward(ctx, std::vector<Tensor>{s1, y}, train ? &cat1 : nullptr), train);
    y = conv_transpose3d_forward(ctx, y, up0.w, up0.b, train ? &up0.saved : nullptr);
    y = run(ctx, dec0, concat_forward(ctx, std::vector<Tensor>{s0, y}, train ? &cat0 : nullptr), train);
    return conv3d_forward(ctx, y, head.w, head.b, {1, 0}, train ? &head_saved : nullptr);
  }

  std::vector<Tensor> backward(Context& ctx, const Tensor& diff_logits) {
    std::vector<Tensor> grads;
    Conv3dGrads h = conv3d_backward(ctx, diff_logits, head_saved);
    grads.insert(grads.end(), {h.diff_weights, h.diff_bias});
    Tensor dy = back(ctx, dec0, h.diff_src, grads);
    std::vector<Tensor> d0 = concat_backward(ctx, dy, cat0);
    ConvTranspose3dGrads u0 = conv_transpose3d_backward(ctx, d0[1], up0.saved);
    grads.insert(grads.end(), {u0.diff_weights, u0.diff_bias});
    dy = back(ctx, dec1, u0.diff_src, grads);
    std::vector<Tensor> d1 = concat_backward(ctx, dy, cat1);
    ConvTranspose3dGrads u1 = conv_transpose3d_backward(ctx, d1[1], up1.saved);
    grads.insert(grads.end(), {u1.diff_weights, u1.diff_bias});
    dy = back(ctx, bottom, u1.diff_src, grads);
    dy = max_pool3d_backward(ctx, dy, pool1);
    // Skip connection: the gradient of s1 is the sum of both paths.
    add_to(ctx, dy, d1[0]);
    dy = back(ctx, enc1, dy, grads);
    dy = max_pool3d_backward(ctx, dy, pool0);
    add_to(ctx, dy, d0[0]);
    back(ctx, enc0, dy, grads, true);
    return grads;
  }

  // In the order backward() returns the gradients.
  std::vector<Tensor> params() const {
    std::vector<Tensor> p = {head.w, head.b};
    auto blocks = [&](const std::vector<ConvBlock>& group) {
      for (auto it = group.rbegin(); it != group.rend(); ++it) it->params(p);
    };
    blocks(dec0);
    p.insert(p.end(), {up0.w, up0.b});
    blocks(dec1);
    p.insert(p.end(), {up1.w, up1.b});
    blocks(bottom);
    blocks(enc1);
    blocks(enc0);
    return p;
  }
};

TEST(UNetPrimitives, NoReferenceImplementationAndEveryPrimitiveReused) {
  Allocator& alloc = test_allocator();
  Context ctx(alloc);
  const Dims in = {1, 4, 32, 32, 32};
  const Dims logits_dims = {1, 3, 32, 32, 32};
  const Tensor x = to_tensor(random_ref(in, 1));
  const Tensor labels = label_tensor(alloc, logits_dims, random_labels(logits_dims, 2), DataType::u8);
  MiniUNet net;
  Adam adam({1e-3f});
  std::size_t misses_after_first = 0;
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 3; ++step) {
    Tensor logits = net.forward(ctx, x, true);
    CrossEntropySaved ce;
    DiceLossSaved dice;
    const double loss = softmax_cross_entropy_forward(ctx, logits, labels, &ce) +
                        dice_loss_forward(ctx, logits, labels, {}, &dice);
    Tensor d = add(ctx, softmax_cross_entropy_backward(ctx, ce), dice_loss_backward(ctx, dice));
    std::vector<Tensor> grads = net.backward(ctx, d);
    std::vector<Tensor> params = net.params();
    ASSERT_EQ(params.size(), grads.size());
    adam.step(ctx, params, grads);
    if (step == 0) {
      misses_after_first = ctx.cache().misses();
      first_loss = loss;
    }
    last_loss = loss;
  }
  EXPECT_EQ(ctx.cache().misses(), misses_after_first) << "a later step built a new primitive";
  EXPECT_LT(last_loss, first_loss) << "three Adam steps on one batch should lower the loss";
  softmax_channels(ctx, net.forward(ctx, x, false));  // inference primitives

  std::set<std::string> roles;
  for (const ImplRecord& r : ctx.cache().impls()) {
    std::cout << "  " << r.impl << "  [" << r.role << "] " << r.key << "\n";
    EXPECT_NE(r.impl.rfind("ref", 0), 0u) << r.key << " " << r.role << " uses " << r.impl;
    roles.insert(r.key.substr(0, r.key.find(' ')) + "/" + r.role);
  }
  for (const char* expected :
       {"conv3d/fwd", "conv3d/bwd_data", "conv3d/bwd_weights", "conv_transpose3d/fwd",
        "conv_transpose3d/bwd_data", "conv_transpose3d/bwd_weights", "max_pool3d/fwd",
        "max_pool3d/bwd", "batch_norm3d/fwd", "batch_norm3d/bwd", "relu/fwd", "relu/bwd",
        "concat/fwd", "reorder/reorder", "add/fwd", "softmax/fwd"})
    EXPECT_TRUE(roles.count(expected)) << "no " << expected << " primitive was built";
}

}  // namespace
}  // namespace tensortier::runtime::test
