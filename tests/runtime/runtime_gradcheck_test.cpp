// Backward passes against central finite differences of the forward pass:
// for each op, L = sum(op(x) * R) accumulated in double, compared at sampled
// elements of every input with d L / d x from the op's backward (diff_dst = R).
// The runtime ops (f32 forward, h ~ 1e-2) and the reference kernels (double,
// h = 1e-5, tight tolerances) are both checked.
#include "runtime_test_support.hpp"

namespace tensortier::runtime::test {
namespace {

namespace ref = reference;

// f32 forward: rounding of ~1e-7 relative in L over 2h.
constexpr double kH = 1e-2, kAtol = 2e-3, kRtol = 1e-2;
// double reference.
constexpr double kRefH = 1e-5, kRefAtol = 1e-7, kRefRtol = 1e-5;

class GradCheck : public RuntimeTest {
 protected:
  // L(y) for the runtime op output y.
  double loss(const Tensor& y, const RefTensor& r) { return weighted_sum(ref_of(ctx, y), r); }
};

TEST_F(GradCheck, Conv3d) {
  for (int kernel : {3, 1}) {
    const int pad = kernel / 2;
    const Dims src_dims = {2, 3, 5, 6, 4};
    const RefTensor x = random_ref(src_dims, 1), w = random_ref({4, 3, kernel, kernel, kernel}, 2),
                    b = random_ref({4}, 3);
    const RefTensor r = random_ref({2, 4, 5, 6, 4}, 4);
    const Conv3dOptions o{kernel, pad};
    Conv3dSaved saved;
    conv3d_forward(ctx, to_tensor(x), to_tensor(w), to_tensor(b), o, &saved);
    const Conv3dGrads g = conv3d_backward(ctx, to_tensor(r), saved);
    auto f = [&](const RefTensor& xx, const RefTensor& ww, const RefTensor& bb) {
      return loss(conv3d_forward(ctx, to_tensor(xx), to_tensor(ww), to_tensor(bb), o), r);
    };
    check_finite_differences("conv3d d/dsrc", x, ref_of(ctx, g.diff_src),
                             [&](const RefTensor& v) { return f(v, w, b); }, kH, kAtol, kRtol);
    check_finite_differences("conv3d d/dweights", w, ref_of(ctx, g.diff_weights),
                             [&](const RefTensor& v) { return f(x, v, b); }, kH, kAtol, kRtol);
    check_finite_differences("conv3d d/dbias", b, ref_of(ctx, g.diff_bias),
                             [&](const RefTensor& v) { return f(x, w, v); }, kH, kAtol, kRtol);

    auto rf = [&](const RefTensor& xx, const RefTensor& ww, const RefTensor& bb) {
      return weighted_sum(ref::conv3d_forward(xx, ww, &bb, kernel, pad), r);
    };
    RefTensor dw, db;
    ref::conv3d_backward_weights(x, r, kernel, pad, dw, &db);
    check_finite_differences("ref conv3d d/dsrc", x,
                             ref::conv3d_backward_data(r, w, src_dims, kernel, pad),
                             [&](const RefTensor& v) { return rf(v, w, b); }, kRefH, kRefAtol,
                             kRefRtol);
    check_finite_differences("ref conv3d d/dweights", w, dw,
                             [&](const RefTensor& v) { return rf(x, v, b); }, kRefH, kRefAtol,
                             kRefRtol);
    check_finite_differences("ref conv3d d/dbias", b, db,
                             [&](const RefTensor& v) { return rf(x, w, v); }, kRefH, kRefAtol,
                             kRefRtol);
  }
}

TEST_F(GradCheck, ConvTranspose3d) {
  const Dims src_dims = {2, 3, 2, 3, 4};
  const RefTensor x = random_ref(src_dims, 11), w = random_ref({4, 3, 2, 2, 2}, 12),
                  b = random_ref({4}, 13);
  const RefTensor r = random_ref({2, 4, 4, 6, 8}, 14);
  ConvTranspose3dSaved saved;
  conv_transpose3d_forward(ctx, to_tensor(x), to_tensor(w), to_tensor(b), &saved);
  const ConvTranspose3dGrads g = conv_transpose3d_backward(ctx, to_tensor(r), saved);
  auto f = [&](const RefTensor& xx, const RefTensor& ww, const RefTensor& bb) {
    return loss(conv_transpose3d_forward(ctx, to_tensor(xx), to_tensor(ww), to_tensor(bb)), r);
  };
  check_finite_differences("deconv d/dsrc", x, ref_of(ctx, g.diff_src),
                           [&](const RefTensor& v) { return f(v, w, b); }, kH, kAtol, kRtol);
  check_finite_differences("deconv d/dweights", w, ref_of(ctx, g.diff_weights),
                           [&](const RefTensor& v) { return f(x, v, b); }, kH, kAtol, kRtol);
  check_finite_differences("deconv d/dbias", b, ref_of(ctx, g.diff_bias),
                           [&](const RefTensor& v) { return f(x, w, v); }, kH, kAtol, kRtol);

  auto rf = [&](const RefTensor& xx, const RefTensor& ww) {
    return weighted_sum(ref::conv_transpose3d_forward(xx, ww, &b), r);
  };
  RefTensor dw, db;
  ref::conv_transpose3d_backward_weights(x, r, dw, &db);
  check_finite_differences("ref deconv d/dsrc", x,
                           ref::conv_transpose3d_backward_data(r, w, src_dims),
                           [&](const RefTensor& v) { return rf(v, w); }, kRefH, kRefAtol, kRefRtol);
  check_finite_differences("ref deconv d/dweights", w, dw,
                           [&](const RefTensor& v) { return rf(x, v); }, kRefH, kRefAtol, kRefRtol);
}

TEST_F(GradCheck, MaxPool3d) {
  // Distinct values 1e-2 apart: a step of 1e-3 never changes a window's argmax.
  const RefTensor x = random_distinct({2, 3, 4, 6, 4}, 21, 1e-2);
  const RefTensor r = random_ref({2, 3, 2, 3, 2}, 22);
  MaxPool3dSaved saved;
  max_pool3d_forward(ctx, to_tensor(x), &saved);
  const Tensor g = max_pool3d_backward(ctx, to_tensor(r), saved);
  check_finite_differences("maxpool d/dsrc", x, ref_of(ctx, g),
                           [&](const RefTensor& v) { return loss(max_pool3d_forward(ctx, to_tensor(v)), r); },
                           1e-3, kAtol, kRtol, 48);
  check_finite_differences("ref maxpool d/dsrc", x, ref::max_pool3d_backward(x, r),
                           [&](const RefTensor& v) { return weighted_sum(ref::max_pool3d_forward(v), r); },
                           kRefH, kRefAtol, kRefRtol, 48);
}

TEST_F(GradCheck, ReluAndLeakyRelu) {
  for (float slope : {0.f, 0.2f}) {
    // |x| >= 0.05: a step of 1e-2 never crosses the kink.
    const RefTensor x = random_away_from_zero({2, 3, 3, 4, 5}, 31, 0.05);
    const RefTensor r = random_ref(x.dims, 32);
    ActivationSaved saved;
    relu_forward(ctx, to_tensor(x), {slope, false}, &saved);
    const Tensor g = relu_backward(ctx, to_tensor(r), saved);
    check_finite_differences("relu d/dsrc", x, ref_of(ctx, g),
                             [&](const RefTensor& v) { return loss(relu_forward(ctx, to_tensor(v), {slope, false}), r); },
                             kH, kAtol, kRtol, 48);
    check_finite_differences("ref relu d/dsrc", x, ref::relu_backward(x, r, slope),
                             [&](const RefTensor& v) { return weighted_sum(ref::relu_forward(v, slope), r); },
                             kRefH, kRefAtol, kRefRtol, 48);
  }
}

TEST_F(GradCheck, BatchNorm3d) {
  for (bool fuse_relu : {false, true}) {
    const Dims dims = {2, 3, 3, 4, 5};
    const RefTensor x = random_ref(dims, 41, -1.0, 2.0);
    const RefTensor scale = random_ref({3}, 42, 0.5, 1.5), shift = random_ref({3}, 43, 0.2, 0.6);
    const RefTensor r = random_ref(dims, 44);
    const BatchNorm3dOptions o{1e-5f, 0.1f, fuse_relu};
    auto run = [&](const RefTensor& xx, const RefTensor& ss, const RefTensor& hh,
                   BatchNorm3dSaved* saved) {
      return batch_norm3d_forward_training(ctx, to_tensor(xx), to_tensor(ss), to_tensor(hh),
                                           Tensor(), Tensor(), o, saved);
    };
    BatchNorm3dSaved saved;
    run(x, scale, shift, &saved);
    const BatchNorm3dGrads g = batch_norm3d_backward(ctx, to_tensor(r), saved);
    // The normalised output is O(1) and changes by O(h) per element: a smaller
    // step keeps the second-order term below the tolerance.
    const double h = 2e-3;
    check_finite_differences("bnorm d/dsrc", x, ref_of(ctx, g.diff_src),
                             [&](const RefTensor& v) { return loss(run(v, scale, shift, nullptr), r); },
                             h, kAtol, kRtol);
    check_finite_differences("bnorm d/dscale", scale, ref_of(ctx, g.diff_scale),
                             [&](const RefTensor& v) { return loss(run(x, v, shift, nullptr), r); },
                             h, kAtol, kRtol);
    check_finite_differences("bnorm d/dshift", shift, ref_of(ctx, g.diff_shift),
                             [&](const RefTensor& v) { return loss(run(x, scale, v, nullptr), r); },
                             h, kAtol, kRtol);

    RefTensor dscale, dshift;
    const RefTensor dx = ref::batch_norm_backward(x, r, scale, shift, 1e-5, fuse_relu, dscale, dshift);
    auto rf = [&](const RefTensor& xx, const RefTensor& ss, const RefTensor& hh) {
      return weighted_sum(ref::batch_norm_forward_training(xx, ss, hh, 1e-5, fuse_relu, nullptr), r);
    };
    check_finite_differences("ref bnorm d/dsrc", x, dx,
                             [&](const RefTensor& v) { return rf(v, scale, shift); }, kRefH,
                             kRefAtol, kRefRtol);
    check_finite_differences("ref bnorm d/dscale", scale, dscale,
                             [&](const RefTensor& v) { return rf(x, v, shift); }, kRefH, kRefAtol,
                             kRefRtol);
    check_finite_differences("ref bnorm d/dshift", shift, dshift,
                             [&](const RefTensor& v) { return rf(x, scale, v); }, kRefH, kRefAtol,
                             kRefRtol);
  }
}

TEST_F(GradCheck, Concat) {
  const RefTensor a = random_ref({2, 2, 3, 2, 4}, 51), b = random_ref({2, 3, 3, 2, 4}, 52);
  const RefTensor r = random_ref({2, 5, 3, 2, 4}, 53);
  ConcatSaved saved;
  concat_forward(ctx, std::vector<Tensor>{to_tensor(a), to_tensor(b)}, &saved);
  const std::vector<Tensor> g = concat_backward(ctx, to_tensor(r), saved);
  auto f = [&](const RefTensor& aa, const RefTensor& bb) {
    return loss(concat_forward(ctx, std::vector<Tensor>{to_tensor(aa), to_tensor(bb)}), r);
  };
  check_finite_differences("concat d/da", a, ref_of(ctx, g[0]),
                           [&](const RefTensor& v) { return f(v, b); }, kH, kAtol, kRtol);
  check_finite_differences("concat d/db", b, ref_of(ctx, g[1]),
                           [&](const RefTensor& v) { return f(a, v); }, kH, kAtol, kRtol);
  const std::vector<std::int64_t> channels = {2, 3};
  const std::vector<RefTensor> parts = ref::split_channels(r, channels);
  check_finite_differences("ref concat d/da", a, parts[0],
                           [&](const RefTensor& v) {
                             return weighted_sum(ref::concat_channels(std::vector<RefTensor>{v, b}), r);
                           },
                           kRefH, kRefAtol, kRefRtol);
}

TEST_F(GradCheck, SoftmaxCrossEntropy) {
  const Dims dims = {2, 3, 3, 4, 2};
  const RefTensor x = random_ref(dims, 61, -2.0, 2.0);
  const std::vector<int> labels = random_labels(dims, 62);
  const Tensor label_t = label_tensor(alloc, dims, labels, DataType::u8);
  CrossEntropySaved saved;
  softmax_cross_entropy_forward(ctx, to_tensor(x), label_t, &saved);
  const float scale = 0.5f;  // d(total)/d(this loss)
  const Tensor g = softmax_cross_entropy_backward(ctx, saved, scale);
  check_finite_differences("cross-entropy d/dlogits", x, ref_of(ctx, g),
                           [&](const RefTensor& v) {
                             return scale * softmax_cross_entropy_forward(ctx, to_tensor(v), label_t);
                           },
                           kH, 1e-4, kRtol);
  check_finite_differences("ref cross-entropy d/dlogits", x, ref::cross_entropy_backward(x, labels),
                           [&](const RefTensor& v) { return ref::cross_entropy(v, labels); }, kRefH,
                           kRefAtol, kRefRtol);
}

TEST_F(GradCheck, DiceLoss) {
  for (bool background : {true, false}) {
    const Dims dims = {2, 3, 3, 4, 2};
    const RefTensor x = random_ref(dims, 71, -2.0, 2.0);
    const std::vector<int> labels = random_labels(dims, 72);
    const Tensor label_t = label_tensor(alloc, dims, labels, DataType::s32);
    const DiceLossOptions o{1e-5, background};
    DiceLossSaved saved;
    dice_loss_forward(ctx, to_tensor(x), label_t, o, &saved);
    const Tensor g = dice_loss_backward(ctx, saved);
    check_finite_differences("dice d/dlogits", x, ref_of(ctx, g),
                             [&](const RefTensor& v) { return dice_loss_forward(ctx, to_tensor(v), label_t, o); },
                             kH, 1e-4, kRtol);
    check_finite_differences("ref dice d/dlogits", x,
                             ref::dice_loss_backward(x, labels, 1e-5, background),
                             [&](const RefTensor& v) { return ref::dice_loss(v, labels, 1e-5, background); },
                             kRefH, kRefAtol, kRefRtol);
  }
}

}  // namespace
}  // namespace tensortier::runtime::test
