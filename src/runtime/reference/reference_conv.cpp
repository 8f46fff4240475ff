// Reference 3D convolution (stride 1) and transposed convolution (kernel 2,
// stride 2): direct loops.
#include "reference.hpp"

namespace tensortier::runtime::reference {

namespace {
bool inside(std::int64_t i, std::int64_t n) { return i >= 0 && i < n; }
}  // namespace

RefTensor conv3d_forward(const RefTensor& src, const RefTensor& weights, const RefTensor* bias,
                         int k, int p) {
  const Dims& s = src.dims;
  const std::int64_t oc = weights.dims[0];
  RefTensor dst({s[0], oc, s[2] + 2 * p - k + 1, s[3] + 2 * p - k + 1, s[4] + 2 * p - k + 1});
  const Dims& d = dst.dims;
  for (std::int64_t n = 0; n < s[0]; ++n)
    for (std::int64_t o = 0; o < oc; ++o)
      for (std::int64_t z = 0; z < d[2]; ++z)
        for (std::int64_t y = 0; y < d[3]; ++y)
          for (std::int64_t x = 0; x < d[4]; ++x) {
            double acc = bias ? bias->v[o] : 0.0;
            for (std::int64_t i = 0; i < s[1]; ++i)
              for (int kd = 0; kd < k; ++kd)
                for (int kh = 0; kh < k; ++kh)
                  for (int kw = 0; kw < k; ++kw) {
                    const std::int64_t iz = z + kd - p, iy = y + kh - p, ix = x + kw - p;
                    if (!inside(iz, s[2]) || !inside(iy, s[3]) || !inside(ix, s[4])) continue;
                    acc += src.v[src.at(n, i, iz, iy, ix)] * weights.v[weights.at(o, i, kd, kh, kw)];
                  }
            dst.v[dst.at(n, o, z, y, x)] = acc;
          }
  return dst;
}

RefTensor conv3d_backward_data(const RefTensor& diff_dst, const RefTensor& weights,
                               const Dims& src_dims, int k, int p) {
  RefTensor diff_src(src_dims);
  const Dims& s = src_dims;
  const Dims& d = diff_dst.dims;
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t o = 0; o < d[1]; ++o)
      for (std::int64_t z = 0; z < d[2]; ++z)
        for (std::int64_t y = 0; y < d[3]; ++y)
          for (std::int64_t x = 0; x < d[4]; ++x) {
            const double g = diff_dst.v[diff_dst.at(n, o, z, y, x)];
            for (std::int64_t i = 0; i < s[1]; ++i)
              for (int kd = 0; kd < k; ++kd)
                for (int kh = 0; kh < k; ++kh)
                  for (int kw = 0; kw < k; ++kw) {
                    const std::int64_t iz = z + kd - p, iy = y + kh - p, ix = x + kw - p;
                    if (!inside(iz, s[2]) || !inside(iy, s[3]) || !inside(ix, s[4])) continue;
                    diff_src.v[diff_src.at(n, i, iz, iy, ix)] +=
                        g * weights.v[weights.at(o, i, kd, kh, kw)];
                  }
          }
  return diff_src;
}

void conv3d_backward_weights(const RefTensor& src, const RefTensor& diff_dst, int k, int p,
                             RefTensor& diff_weights, RefTensor* diff_bias) {
  const Dims& s = src.dims;
  const Dims& d = diff_dst.dims;
  diff_weights = RefTensor({d[1], s[1], k, k, k});
  if (diff_bias) *diff_bias = RefTensor({d[1]});
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t o = 0; o < d[1]; ++o)
      for (std::int64_t z = 0; z < d[2]; ++z)
        for (std::int64_t y = 0; y < d[3]; ++y)
          for (std::int64_t x = 0; x < d[4]; ++x) {
            const double g = diff_dst.v[diff_dst.at(n, o, z, y, x)];
            if (diff_bias) diff_bias->v[o] += g;
            for (std::int64_t i = 0; i < s[1]; ++i)
              for (int kd = 0; kd < k; ++kd)
                for (int kh = 0; kh < k; ++kh)
                  for (int kw = 0; kw < k; ++kw) {
                    const std::int64_t iz = z + kd - p, iy = y + kh - p, ix = x + kw - p;
                    if (!inside(iz, s[2]) || !inside(iy, s[3]) || !inside(ix, s[4])) continue;
                    diff_weights.v[diff_weights.at(o, i, kd, kh, kw)] +=
                        g * src.v[src.at(n, i, iz, iy, ix)];
                  }
          }
}

RefTensor conv_transpose3d_forward(const RefTensor& src, const RefTensor& weights,
                                   const RefTensor* bias) {
  const Dims& s = src.dims;
  const std::int64_t oc = weights.dims[0];
  RefTensor dst({s[0], oc, 2 * s[2], 2 * s[3], 2 * s[4]});
  for (std::int64_t n = 0; n < s[0]; ++n)
    for (std::int64_t o = 0; o < oc; ++o)
      for (std::int64_t z = 0; z < 2 * s[2]; ++z)
        for (std::int64_t y = 0; y < 2 * s[3]; ++y)
          for (std::int64_t x = 0; x < 2 * s[4]; ++x) {
            double acc = bias ? bias->v[o] : 0.0;
            for (std::int64_t i = 0; i < s[1]; ++i)
              acc += src.v[src.at(n, i, z / 2, y / 2, x / 2)] *
                     weights.v[weights.at(o, i, z % 2, y % 2, x % 2)];
            dst.v[dst.at(n, o, z, y, x)] = acc;
          }
  return dst;
}

RefTensor conv_transpose3d_backward_data(const RefTensor& diff_dst, const RefTensor& weights,
                                         const Dims& src_dims) {
  RefTensor diff_src(src_dims);
  const Dims& d = diff_dst.dims;
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t o = 0; o < d[1]; ++o)
      for (std::int64_t z = 0; z < d[2]; ++z)
        for (std::int64_t y = 0; y < d[3]; ++y)
          for (std::int64_t x = 0; x < d[4]; ++x) {
            const double g = diff_dst.v[diff_dst.at(n, o, z, y, x)];
            for (std::int64_t i = 0; i < src_dims[1]; ++i)
              diff_src.v[diff_src.at(n, i, z / 2, y / 2, x / 2)] +=
                  g * weights.v[weights.at(o, i, z % 2, y % 2, x % 2)];
          }
  return diff_src;
}

void conv_transpose3d_backward_weights(const RefTensor& src, const RefTensor& diff_dst,
                                       RefTensor& diff_weights, RefTensor* diff_bias) {
  const Dims& s = src.dims;
  const Dims& d = diff_dst.dims;
  diff_weights = RefTensor({d[1], s[1], 2, 2, 2});
  if (diff_bias) *diff_bias = RefTensor({d[1]});
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t o = 0; o < d[1]; ++o)
      for (std::int64_t z = 0; z < d[2]; ++z)
        for (std::int64_t y = 0; y < d[3]; ++y)
          for (std::int64_t x = 0; x < d[4]; ++x) {
            const double g = diff_dst.v[diff_dst.at(n, o, z, y, x)];
            if (diff_bias) diff_bias->v[o] += g;
            for (std::int64_t i = 0; i < s[1]; ++i)
              diff_weights.v[diff_weights.at(o, i, z % 2, y % 2, x % 2)] +=
                  g * src.v[src.at(n, i, z / 2, y / 2, x / 2)];
          }
}

}  // namespace tensortier::runtime::reference
