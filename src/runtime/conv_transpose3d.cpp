// ConvTranspose3d (kernel 2, stride 2) through oneDNN's deconvolution
// primitives (conv_common.hpp).
#include "tensortier/runtime/conv_transpose3d.hpp"

#include "conv_common.hpp"

namespace tensortier::runtime {

namespace {

using Runner = detail::ConvRunner<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
                                  dnnl::deconvolution_backward_weights>;

constexpr const char* kOp = "conv_transpose3d";

detail::ConvGeometry geometry(const Dims& s, const Dims& w, bool has_bias) {
  constexpr const char* op = kOp;
  detail::require(s.size() == 5 && w.size() == 5, op, "src and weights must have 5 dimensions");
  detail::require(w[1] == s[1] && w[2] == 2 && w[3] == 2 && w[4] == 2, op,
                  "weights " + detail::dims_text(w) + " do not match src " +
                      detail::dims_text(s) + " (expected OC x " + std::to_string(s[1]) +
                      " x 2 x 2 x 2)");
  return {op, dnnl::algorithm::deconvolution_direct, s, w,
          Dims{s[0], w[0], 2 * s[2], 2 * s[3], 2 * s[4]}, has_bias, {2, 2, 2}, {0, 0, 0}};
}

detail::ConvGeometry geometry(const Tensor& src, const Tensor& weights, bool has_bias) {
  detail::require_f32(src, 5, kOp, "src");
  detail::require_f32(weights, 5, kOp, "weights");
  return geometry(src.dims(), weights.dims(), has_bias);
}

}  // namespace

PrimitiveMemory describe_conv_transpose3d(Context& ctx, const Dims& src, const Dims& weights,
                                          bool bias, PrimitivePass pass) {
  return Runner::describe(ctx, geometry(src, weights, bias), pass);
}

Tensor conv_transpose3d_forward(Context& ctx, const Tensor& src, const Tensor& weights,
                                const Tensor& bias, ConvTranspose3dSaved* saved) {
  const detail::ConvGeometry g = geometry(src, weights, bias.defined());
  Tensor used_src;
  Tensor dst = Runner::forward(ctx, g, src, weights, bias, saved != nullptr, &used_src);
  if (saved != nullptr) *saved = ConvTranspose3dSaved{used_src, weights, bias.defined()};
  return dst;
}

ConvTranspose3dGrads conv_transpose3d_backward(Context& ctx, const Tensor& diff_dst,
                                               const ConvTranspose3dSaved& saved,
                                               bool need_diff_src) {
  const detail::ConvGeometry g = geometry(saved.src, saved.weights, saved.has_bias);
  detail::ConvGrads r = Runner::backward(ctx, g, diff_dst, saved.src, saved.weights, need_diff_src);
  return {r.diff_src, r.diff_weights, r.diff_bias};
}

}  // namespace tensortier::runtime
