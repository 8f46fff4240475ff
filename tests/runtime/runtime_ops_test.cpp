// Every runtime op (oneDNN) against its plain-loop reference, forward and
// backward, on small odd shapes, with per-op tolerances.
#include "runtime_test_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime::test {
namespace {

namespace ref = reference;

// f32 accumulation over up to a few hundred products of values in [-1, 1].
constexpr double kConvAtol = 2e-4, kConvRtol = 1e-4;
constexpr double kNormAtol = 1e-4, kNormRtol = 1e-4;
constexpr double kExactAtol = 0, kExactRtol = 0;  // data movement: bit exact
constexpr double kEltwiseAtol = 1e-6, kEltwiseRtol = 1e-6;
constexpr double kLossAtol = 1e-6, kLossRtol = 1e-5;

struct ConvCase {
  int kernel, padding;
  bool bias;
  bool channels_last_input;
};

class Conv3dVsReference : public RuntimeTest, public ::testing::WithParamInterface<ConvCase> {};

TEST_P(Conv3dVsReference, ForwardAndBackward) {
  const ConvCase c = GetParam();
  const Dims src_dims = {2, 3, 6, 7, 8};
  const RefTensor src = random_ref(src_dims, 1);
  const RefTensor w = random_ref({5, 3, c.kernel, c.kernel, c.kernel}, 2);
  const RefTensor b = random_ref({5}, 3);
  Tensor src_t = to_tensor(src);
  if (c.channels_last_input) src_t = src_t.to(ctx, Tensor::channels_last(src_dims));
  Conv3dSaved saved;
  Tensor dst = conv3d_forward(ctx, src_t, to_tensor(w), c.bias ? to_tensor(b) : Tensor(),
                              {c.kernel, c.padding}, &saved);
  EXPECT_TRUE(dst.is_channels_last());
  const RefTensor expected = ref::conv3d_forward(src, w, c.bias ? &b : nullptr, c.kernel, c.padding);
  expect_close(expected, ref_of(ctx, dst), kConvAtol, kConvRtol, "conv3d fwd");

  const RefTensor diff_dst = random_ref(expected.dims, 4);
  Conv3dGrads grads = conv3d_backward(ctx, to_tensor(diff_dst), saved);
  expect_close(ref::conv3d_backward_data(diff_dst, w, src_dims, c.kernel, c.padding),
               ref_of(ctx, grads.diff_src), kConvAtol, kConvRtol, "conv3d bwd data");
  RefTensor dw, db;
  ref::conv3d_backward_weights(src, diff_dst, c.kernel, c.padding, dw, &db);
  EXPECT_TRUE(grads.diff_weights.is_plain());
  expect_close(dw, ref_of(ctx, grads.diff_weights), kConvAtol, kConvRtol, "conv3d bwd weights");
  if (c.bias) {
    expect_close(db, ref_of(ctx, grads.diff_bias), kConvAtol, kConvRtol, "conv3d bwd bias");
  } else {
    EXPECT_FALSE(grads.diff_bias.defined());
  }
  // Without diff_src the weights gradient is unchanged.
  Conv3dGrads only_w = conv3d_backward(ctx, to_tensor(diff_dst), saved, false);
  EXPECT_FALSE(only_w.diff_src.defined());
  expect_close(dw, ref_of(ctx, only_w.diff_weights), kConvAtol, kConvRtol, "conv3d bwd weights");
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv3dVsReference,
                         ::testing::Values(ConvCase{3, 1, true, false}, ConvCase{3, 1, false, true},
                                           ConvCase{1, 0, true, true}, ConvCase{3, 0, true, false}));

TEST_F(RuntimeTest, ConvTranspose3dVsReference) {
  const Dims src_dims = {2, 4, 3, 4, 5};
  const RefTensor src = random_ref(src_dims, 11);
  const RefTensor w = random_ref({3, 4, 2, 2, 2}, 12);
  const RefTensor b = random_ref({3}, 13);
  ConvTranspose3dSaved saved;
  Tensor dst = conv_transpose3d_forward(ctx, to_tensor(src), to_tensor(w), to_tensor(b), &saved);
  const RefTensor expected = ref::conv_transpose3d_forward(src, w, &b);
  ASSERT_EQ(dst.dims(), (Dims{2, 3, 6, 8, 10}));
  expect_close(expected, ref_of(ctx, dst), kConvAtol, kConvRtol, "deconv fwd");

  const RefTensor diff_dst = random_ref(expected.dims, 14);
  ConvTranspose3dGrads grads = conv_transpose3d_backward(ctx, to_tensor(diff_dst), saved);
  expect_close(ref::conv_transpose3d_backward_data(diff_dst, w, src_dims),
               ref_of(ctx, grads.diff_src), kConvAtol, kConvRtol, "deconv bwd data");
  RefTensor dw, db;
  ref::conv_transpose3d_backward_weights(src, diff_dst, dw, &db);
  expect_close(dw, ref_of(ctx, grads.diff_weights), kConvAtol, kConvRtol, "deconv bwd weights");
  expect_close(db, ref_of(ctx, grads.diff_bias), kConvAtol, kConvRtol, "deconv bwd bias");
}

// oneDNN 2.x's deconvolution, given a bias, computes into an f32 scratchpad
// the size of dst; the runtime adds the bias itself, so the scratchpad every
// op shares (and the tier plan's reserve) stays small. The values are
// checked against the reference above.
TEST_F(RuntimeTest, ConvTranspose3dWithBiasNeedsNoDstSizedScratchpad) {
  const Dims src_dims = {2, 32, 8, 8, 8};
  const RefTensor src = random_ref(src_dims, 31);
  const RefTensor w = random_ref({16, 32, 2, 2, 2}, 32);
  const RefTensor b = random_ref({16}, 33);
  Tensor dst = conv_transpose3d_forward(ctx, to_tensor(src), to_tensor(w), to_tensor(b), nullptr);
  expect_close(ref::conv_transpose3d_forward(src, w, &b), ref_of(ctx, dst), kConvAtol, kConvRtol,
               "deconv fwd");
  // Below dst's size: the convolution under the deconvolution may still want
  // some (half of dst with AVX2 only), but not the dst-sized f32 buffer.
  EXPECT_LT(ctx.scratchpad_bytes(), dst.bytes())
      << "dst " << dst.bytes() << " bytes, scratchpad " << ctx.scratchpad_bytes();
  const PrimitiveMemory m = describe_conv_transpose3d(ctx, src_dims, {16, 32, 2, 2, 2}, true,
                                                      PrimitivePass::forward_training);
  EXPECT_EQ(m.scratchpad.get_size(), ctx.scratchpad_bytes()) << "describe() says what the op uses";
}

TEST_F(RuntimeTest, MaxPool3dVsReference) {
  const RefTensor src = random_distinct({2, 3, 6, 8, 10}, 21, 1e-3);
  MaxPool3dSaved saved;
  Tensor dst = max_pool3d_forward(ctx, to_tensor(src), &saved);
  const RefTensor expected = ref::max_pool3d_forward(src);
  expect_close(expected, ref_of(ctx, dst), kExactAtol, kExactRtol, "maxpool fwd");
  const RefTensor diff_dst = random_ref(expected.dims, 22);
  Tensor diff_src = max_pool3d_backward(ctx, to_tensor(diff_dst), saved);
  expect_close(ref::max_pool3d_backward(src, diff_dst), ref_of(ctx, diff_src), kExactAtol,
               kExactRtol, "maxpool bwd");
  // Inference forward (no workspace) gives the same values.
  expect_close(expected, ref_of(ctx, max_pool3d_forward(ctx, to_tensor(src))), kExactAtol,
               kExactRtol, "maxpool inference");
}

TEST_F(RuntimeTest, ReluAndLeakyReluVsReference) {
  for (float slope : {0.f, 0.1f}) {
    const RefTensor src = random_ref({2, 3, 5, 6, 7}, 31);
    const Tensor src_t = ctx.to_activation(to_tensor(src));
    ActivationSaved saved;
    Tensor dst = relu_forward(ctx, src_t, {slope, false}, &saved);
    EXPECT_TRUE(dst.same_layout(src_t));
    expect_close(ref::relu_forward(src, slope), ref_of(ctx, dst), kEltwiseAtol, kEltwiseRtol,
                 "relu fwd");
    const RefTensor diff_dst = random_ref(src.dims, 32);
    expect_close(ref::relu_backward(src, diff_dst, slope),
                 ref_of(ctx, relu_backward(ctx, to_tensor(diff_dst), saved)), kEltwiseAtol,
                 kEltwiseRtol, "relu bwd");
  }
  // In place: dst shares src's storage.
  Tensor x = ctx.to_activation(to_tensor(random_ref({1, 2, 2, 2, 2}, 33)));
  Tensor y = relu_forward(ctx, x, {0.f, true});
  EXPECT_EQ(x.data(), y.data());
}

class BatchNormVsReference : public RuntimeTest, public ::testing::WithParamInterface<bool> {};

TEST_P(BatchNormVsReference, TrainingForwardBackwardAndRunningStats) {
  const bool fuse_relu = GetParam();
  const Dims dims = {2, 4, 5, 6, 7};
  const RefTensor src = random_ref(dims, 41, -2.0, 3.0);
  const RefTensor scale = random_ref({4}, 42, 0.5, 1.5);
  const RefTensor shift = random_ref({4}, 43);
  Tensor running_mean = to_tensor(RefTensor({4}, 0.5));
  Tensor running_var = to_tensor(RefTensor({4}, 2.0));
  BatchNorm3dOptions options{1e-5f, 0.1f, fuse_relu};
  BatchNorm3dSaved saved;
  Tensor dst = batch_norm3d_forward_training(ctx, to_tensor(src), to_tensor(scale),
                                             to_tensor(shift), running_mean, running_var, options,
                                             &saved);
  ref::BatchNormStats stats;
  expect_close(ref::batch_norm_forward_training(src, scale, shift, 1e-5, fuse_relu, &stats),
               ref_of(ctx, dst), kNormAtol, kNormRtol, "bnorm fwd");
  expect_close(stats.mean, ref_of(ctx, saved.mean), kNormAtol, kNormRtol, "bnorm mean");
  expect_close(stats.variance, ref_of(ctx, saved.variance), kNormAtol, kNormRtol, "bnorm var");
  const double m = 2.0 * 5 * 6 * 7;
  RefTensor rm({4}), rv({4});
  for (int c = 0; c < 4; ++c) {
    rm.v[c] = 0.9 * 0.5 + 0.1 * stats.mean.v[c];
    rv.v[c] = 0.9 * 2.0 + 0.1 * stats.variance.v[c] * m / (m - 1);
  }
  expect_close(rm, ref_of(ctx, running_mean), kNormAtol, kNormRtol, "running mean");
  expect_close(rv, ref_of(ctx, running_var), kNormAtol, kNormRtol, "running var");

  const RefTensor diff_dst = random_ref(dims, 44);
  BatchNorm3dGrads grads = batch_norm3d_backward(ctx, to_tensor(diff_dst), saved);
  RefTensor dscale, dshift;
  const RefTensor dsrc =
      ref::batch_norm_backward(src, diff_dst, scale, shift, 1e-5, fuse_relu, dscale, dshift);
  expect_close(dsrc, ref_of(ctx, grads.diff_src), kNormAtol, kNormRtol, "bnorm bwd data");
  expect_close(dscale, ref_of(ctx, grads.diff_scale), kNormAtol, kNormRtol, "bnorm bwd scale");
  expect_close(dshift, ref_of(ctx, grads.diff_shift), kNormAtol, kNormRtol, "bnorm bwd shift");
}

INSTANTIATE_TEST_SUITE_P(FusedRelu, BatchNormVsReference, ::testing::Bool());

TEST_F(RuntimeTest, BatchNormInferenceUsesRunningStats) {
  const Dims dims = {2, 3, 4, 5, 6};
  const RefTensor src = random_ref(dims, 51);
  const RefTensor scale = random_ref({3}, 52), shift = random_ref({3}, 53);
  const RefTensor mean = random_ref({3}, 54), var = random_ref({3}, 55, 0.5, 2.0);
  Tensor dst = batch_norm3d_forward_inference(ctx, to_tensor(src), to_tensor(scale),
                                              to_tensor(shift), to_tensor(mean), to_tensor(var));
  expect_close(ref::batch_norm_forward_inference(src, scale, shift, mean, var, 1e-5),
               ref_of(ctx, dst), kNormAtol, kNormRtol, "bnorm inference");
}

TEST_F(RuntimeTest, ConcatAndSplitVsReference) {
  const std::vector<RefTensor> parts = {random_ref({2, 3, 4, 5, 6}, 61),
                                        random_ref({2, 5, 4, 5, 6}, 62),
                                        random_ref({2, 1, 4, 5, 6}, 63)};
  std::vector<Tensor> tensors;
  for (const auto& p : parts) tensors.push_back(to_tensor(p));
  tensors[1] = ctx.to_activation(tensors[1]);  // mixed input layouts
  ConcatSaved saved;
  Tensor dst = concat_forward(ctx, tensors, &saved);
  expect_close(ref::concat_channels(parts), ref_of(ctx, dst), kExactAtol, kExactRtol, "concat");
  const RefTensor diff_dst = random_ref(dst.dims(), 64);
  std::vector<Tensor> diffs = concat_backward(ctx, to_tensor(diff_dst), saved);
  const std::vector<std::int64_t> channels = {3, 5, 1};
  const std::vector<RefTensor> expected = ref::split_channels(diff_dst, channels);
  ASSERT_EQ(diffs.size(), 3u);
  for (int i = 0; i < 3; ++i)
    expect_close(expected[i], ref_of(ctx, diffs[i]), kExactAtol, kExactRtol, "split");
}

TEST_F(RuntimeTest, CrossEntropyVsReference) {
  for (DataType type : {DataType::u8, DataType::s32}) {
    const Dims dims = {2, 3, 4, 5, 6};
    const RefTensor logits = random_ref(dims, 71, -3.0, 3.0);
    const std::vector<int> labels = random_labels(dims, 72);
    CrossEntropySaved saved;
    const double loss = softmax_cross_entropy_forward(ctx, to_tensor(logits),
                                                      label_tensor(alloc, dims, labels, type), &saved);
    EXPECT_NEAR(loss, ref::cross_entropy(logits, labels), 1e-6);
    expect_close(ref::cross_entropy_backward(logits, labels),
                 ref_of(ctx, softmax_cross_entropy_backward(ctx, saved)), kLossAtol, kLossRtol,
                 "cross-entropy bwd");
  }
}

TEST_F(RuntimeTest, DiceLossVsReference) {
  for (bool background : {true, false}) {
    const Dims dims = {2, 3, 4, 5, 6};
    const RefTensor logits = random_ref(dims, 81, -3.0, 3.0);
    const std::vector<int> labels = random_labels(dims, 82);
    DiceLossSaved saved;
    const DiceLossOptions options{1e-5, background};
    const double loss = dice_loss_forward(ctx, to_tensor(logits),
                                          label_tensor(alloc, dims, labels, DataType::u8), options,
                                          &saved);
    EXPECT_NEAR(loss, ref::dice_loss(logits, labels, 1e-5, background), 1e-6);
    expect_close(ref::dice_loss_backward(logits, labels, 1e-5, background),
                 ref_of(ctx, dice_loss_backward(ctx, saved)), kLossAtol, kLossRtol, "dice bwd");
  }
}

TEST_F(RuntimeTest, SoftmaxChannelsVsReference) {
  const RefTensor logits = random_ref({2, 3, 4, 5, 6}, 85, -4.0, 4.0);
  const Tensor p = softmax_channels(ctx, to_tensor(logits));
  EXPECT_TRUE(p.is_channels_last());
  expect_close(ref::softmax_channels(logits), ref_of(ctx, p), kLossAtol, kLossRtol, "softmax");
}

TEST_F(RuntimeTest, AddAndAddToVsReference) {
  const RefTensor a = random_ref({2, 3, 4, 5, 6}, 86), b = random_ref({2, 3, 4, 5, 6}, 87);
  RefTensor sum(a.dims);
  for (std::size_t i = 0; i < a.size(); ++i) sum.v[i] = static_cast<float>(a.v[i] + b.v[i]);
  const Tensor at = ctx.to_activation(to_tensor(a));
  const Tensor c = add(ctx, at, to_tensor(b));  // b plain: reordered to a's layout
  EXPECT_TRUE(c.same_layout(at));
  expect_close(sum, ref_of(ctx, c), kExactAtol, kExactRtol, "add");
  add_to(ctx, at, to_tensor(b));
  expect_close(sum, ref_of(ctx, at), kExactAtol, kExactRtol, "add_to");
}

TEST_F(RuntimeTest, LossesRejectBadLabels) {
  const Dims dims = {1, 3, 2, 2, 2};
  std::vector<int> labels(8, 1);
  labels[5] = 3;
  const Tensor logits = to_tensor(random_ref(dims, 91));
  const Tensor bad = label_tensor(alloc, dims, labels, DataType::s32);
  EXPECT_THROW(softmax_cross_entropy_forward(ctx, logits, bad), std::invalid_argument);
  EXPECT_THROW(dice_loss_forward(ctx, logits, bad), std::invalid_argument);
  const Tensor wrong_shape = Tensor::empty(alloc, {1, 2, 2, 3}, DataType::u8);
  EXPECT_THROW(softmax_cross_entropy_forward(ctx, logits, wrong_shape), std::invalid_argument);
}

TEST_F(RuntimeTest, SgdMatchesReference) {
  for (bool nesterov : {false, true}) {
    RefTensor w = random_ref({4, 3, 3, 3, 3}, 101), b = random_ref({4}, 102);
    std::vector<Tensor> params = {to_tensor(w), to_tensor(b)};
    Sgd sgd({0.05f, 0.9f, 0.f, 1e-3f, nesterov});
    RefTensor mw, mb;
    for (int step = 0; step < 3; ++step) {
      const RefTensor gw = random_ref(w.dims, 103 + step), gb = random_ref(b.dims, 203 + step);
      std::vector<Tensor> grads = {to_tensor(gw), to_tensor(gb)};
      sgd.step(ctx, params, grads);
      ref::sgd_step(w, gw, mw, step == 0, 0.05, 0.9, 0, 1e-3, nesterov);
      ref::sgd_step(b, gb, mb, step == 0, 0.05, 0.9, 0, 1e-3, nesterov);
    }
    expect_close(w, ref_of(ctx, params[0]), 1e-6, 1e-5, "sgd weights");
    expect_close(b, ref_of(ctx, params[1]), 1e-6, 1e-5, "sgd bias");
  }
}

TEST_F(RuntimeTest, AdamMatchesReference) {
  for (bool decoupled : {false, true}) {
    RefTensor w = random_ref({4, 3, 2, 2, 2}, 111), b = random_ref({4}, 112);
    std::vector<Tensor> params = {to_tensor(w), to_tensor(b)};
    Adam adam({1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled});
    RefTensor mw, vw, mb, vb;
    for (int step = 1; step <= 3; ++step) {
      const RefTensor gw = random_ref(w.dims, 113 + step), gb = random_ref(b.dims, 213 + step);
      // A gradient in another layout than its parameter is reordered first.
      std::vector<Tensor> grads = {to_tensor(gw).to(ctx, Tensor::channels_last(gw.dims)),
                                   to_tensor(gb)};
      adam.step(ctx, params, grads);
      ref::adam_step(w, gw, mw, vw, step, 1e-2, 0.9, 0.999, 1e-8, 1e-2, decoupled);
      ref::adam_step(b, gb, mb, vb, step, 1e-2, 0.9, 0.999, 1e-8, 1e-2, decoupled);
    }
    expect_close(w, ref_of(ctx, params[0]), 1e-6, 1e-5, "adam weights");
    expect_close(b, ref_of(ctx, params[1]), 1e-6, 1e-5, "adam bias");
    EXPECT_EQ(adam.steps(), 3);
  }
}

TEST_F(RuntimeTest, OptimizerRejectsChangedParameterList) {
  std::vector<Tensor> params = {to_tensor(random_ref({3}, 1))};
  std::vector<Tensor> grads = {to_tensor(random_ref({3}, 2))};
  Sgd sgd;
  sgd.step(ctx, params, grads);
  params.push_back(params[0]);
  grads.push_back(grads[0]);
  EXPECT_THROW(sgd.step(ctx, params, grads), std::invalid_argument);
}

}  // namespace
}  // namespace tensortier::runtime::test
