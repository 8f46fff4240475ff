// Conv3d through oneDNN's convolution primitives (conv_common.hpp).
#include "tensortier/runtime/conv3d.hpp"

#include "conv_common.hpp"

namespace tensortier::runtime {

namespace {

using Runner = detail::ConvRunner<dnnl::convolution_forward, dnnl::convolution_backward_data,
                                  dnnl::convolution_backward_weights>;

constexpr const char* kOp = "conv3d";

detail::ConvGeometry geometry(const Dims& s, const Dims& w, bool has_bias, const Conv3dOptions& o) {
  constexpr const char* op = kOp;
  detail::require(s.size() == 5 && w.size() == 5, op, "src and weights must have 5 dimensions");
  detail::require(o.kernel >= 1 && o.padding >= 0 && o.padding < o.kernel, op,
                  "kernel " + std::to_string(o.kernel) + ", padding " +
                      std::to_string(o.padding) + ": need kernel >= 1, 0 <= padding < kernel");
  detail::require(w[1] == s[1] && w[2] == o.kernel && w[3] == o.kernel && w[4] == o.kernel, op,
                  "weights " + detail::dims_text(w) + " do not match src " +
                      detail::dims_text(s) + " and kernel " + std::to_string(o.kernel));
  Dims dst = {s[0], w[0], 0, 0, 0};
  for (int i = 2; i < 5; ++i) {
    dst[i] = s[i] + 2 * o.padding - o.kernel + 1;
    detail::require(dst[i] > 0, op, "src " + detail::dims_text(s) + " smaller than the kernel");
  }
  return {op, dnnl::algorithm::convolution_direct, s, w, dst, has_bias, {1, 1, 1},
          {o.padding, o.padding, o.padding}};
}

detail::ConvGeometry geometry(const Tensor& src, const Tensor& weights, bool has_bias,
                              const Conv3dOptions& o) {
  detail::require_f32(src, 5, kOp, "src");
  detail::require_f32(weights, 5, kOp, "weights");
  return geometry(src.dims(), weights.dims(), has_bias, o);
}

}  // namespace

PrimitiveMemory describe_conv3d(Context& ctx, const Dims& src, const Dims& weights, bool bias,
                                const Conv3dOptions& options, PrimitivePass pass) {
  return Runner::describe(ctx, geometry(src, weights, bias, options), pass);
}

Tensor conv3d_forward(Context& ctx, const Tensor& src, const Tensor& weights, const Tensor& bias,
                      const Conv3dOptions& options, Conv3dSaved* saved) {
  const detail::ConvGeometry g = geometry(src, weights, bias.defined(), options);
  Tensor used_src;
  Tensor dst = Runner::forward(ctx, g, src, weights, bias, saved != nullptr, &used_src);
  if (saved != nullptr) *saved = Conv3dSaved{used_src, weights, bias.defined(), options};
  return dst;
}

Conv3dGrads conv3d_backward(Context& ctx, const Tensor& diff_dst, const Conv3dSaved& saved,
                            bool need_diff_src) {
  const detail::ConvGeometry g = geometry(saved.src, saved.weights, saved.has_bias, saved.options);
  detail::ConvGrads r = Runner::backward(ctx, g, diff_dst, saved.src, saved.weights, need_diff_src);
  return {r.diff_src, r.diff_weights, r.diff_bias};
}

}  // namespace tensortier::runtime
