// Reference max-pool (2x2x2, stride 2), ReLU/LeakyReLU, batch norm (with the
// optional fused ReLU) and channel concat/split.
#include <cmath>

#include "reference.hpp"

namespace tensortier::runtime::reference {

namespace {

// Calls f(n, c, z, y, x, index) over a 5-D array.
template <typename F>
void for_each5(const Dims& d, F&& f) {
  std::size_t i = 0;
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t c = 0; c < d[1]; ++c)
      for (std::int64_t z = 0; z < d[2]; ++z)
        for (std::int64_t y = 0; y < d[3]; ++y)
          for (std::int64_t x = 0; x < d[4]; ++x) f(n, c, z, y, x, i++);
}

// Index in src of the (first) maximum of the window of pooled voxel (n,c,z,y,x).
std::size_t argmax(const RefTensor& src, std::int64_t n, std::int64_t c, std::int64_t z,
                   std::int64_t y, std::int64_t x) {
  std::size_t best = src.at(n, c, 2 * z, 2 * y, 2 * x);
  for (int kd = 0; kd < 2; ++kd)
    for (int kh = 0; kh < 2; ++kh)
      for (int kw = 0; kw < 2; ++kw) {
        const std::size_t i = src.at(n, c, 2 * z + kd, 2 * y + kh, 2 * x + kw);
        if (src.v[i] > src.v[best]) best = i;
      }
  return best;
}

}  // namespace

RefTensor max_pool3d_forward(const RefTensor& src) {
  const Dims& s = src.dims;
  RefTensor dst({s[0], s[1], s[2] / 2, s[3] / 2, s[4] / 2});
  for_each5(dst.dims, [&](auto n, auto c, auto z, auto y, auto x, std::size_t i) {
    dst.v[i] = src.v[argmax(src, n, c, z, y, x)];
  });
  return dst;
}

RefTensor max_pool3d_backward(const RefTensor& src, const RefTensor& diff_dst) {
  RefTensor diff_src(src.dims);
  for_each5(diff_dst.dims, [&](auto n, auto c, auto z, auto y, auto x, std::size_t i) {
    diff_src.v[argmax(src, n, c, z, y, x)] += diff_dst.v[i];
  });
  return diff_src;
}

RefTensor relu_forward(const RefTensor& src, double slope) {
  RefTensor dst(src.dims);
  for (std::size_t i = 0; i < src.size(); ++i)
    dst.v[i] = src.v[i] > 0 ? src.v[i] : slope * src.v[i];
  return dst;
}

RefTensor relu_backward(const RefTensor& src, const RefTensor& diff_dst, double slope) {
  RefTensor diff_src(src.dims);
  for (std::size_t i = 0; i < src.size(); ++i)
    diff_src.v[i] = src.v[i] > 0 ? diff_dst.v[i] : slope * diff_dst.v[i];
  return diff_src;
}

namespace {

BatchNormStats batch_stats(const RefTensor& src) {
  const Dims& d = src.dims;
  BatchNormStats st{RefTensor({d[1]}), RefTensor({d[1]})};
  const double count = static_cast<double>(d[0] * d[2] * d[3] * d[4]);
  for_each5(d, [&](auto, auto c, auto, auto, auto, std::size_t i) { st.mean.v[c] += src.v[i]; });
  for (auto& m : st.mean.v) m /= count;
  for_each5(d, [&](auto, auto c, auto, auto, auto, std::size_t i) {
    const double t = src.v[i] - st.mean.v[c];
    st.variance.v[c] += t * t;
  });
  for (auto& v : st.variance.v) v /= count;
  return st;
}

RefTensor normalise(const RefTensor& src, const RefTensor& scale, const RefTensor& shift,
                    const RefTensor& mean, const RefTensor& variance, double eps, bool relu) {
  RefTensor dst(src.dims);
  for_each5(src.dims, [&](auto, auto c, auto, auto, auto, std::size_t i) {
    const double y = scale.v[c] * (src.v[i] - mean.v[c]) / std::sqrt(variance.v[c] + eps) +
                     shift.v[c];
    dst.v[i] = relu && y < 0 ? 0.0 : y;
  });
  return dst;
}

}  // namespace

RefTensor batch_norm_forward_training(const RefTensor& src, const RefTensor& scale,
                                      const RefTensor& shift, double eps, bool fuse_relu,
                                      BatchNormStats* stats) {
  BatchNormStats st = batch_stats(src);
  RefTensor dst = normalise(src, scale, shift, st.mean, st.variance, eps, fuse_relu);
  if (stats) *stats = std::move(st);
  return dst;
}

RefTensor batch_norm_forward_inference(const RefTensor& src, const RefTensor& scale,
                                       const RefTensor& shift, const RefTensor& mean,
                                       const RefTensor& variance, double eps) {
  return normalise(src, scale, shift, mean, variance, eps, false);
}

RefTensor batch_norm_backward(const RefTensor& src, const RefTensor& diff_dst,
                              const RefTensor& scale, const RefTensor& shift, double eps,
                              bool fuse_relu, RefTensor& diff_scale, RefTensor& diff_shift) {
  const Dims& d = src.dims;
  const BatchNormStats st = batch_stats(src);
  const double count = static_cast<double>(d[0] * d[2] * d[3] * d[4]);
  RefTensor dy = diff_dst;
  if (fuse_relu) {
    const RefTensor y = normalise(src, scale, shift, st.mean, st.variance, eps, false);
    for (std::size_t i = 0; i < dy.size(); ++i)
      if (y.v[i] <= 0) dy.v[i] = 0;
  }
  diff_scale = RefTensor({d[1]});
  diff_shift = RefTensor({d[1]});
  auto xhat = [&](std::int64_t c, std::size_t i) {
    return (src.v[i] - st.mean.v[c]) / std::sqrt(st.variance.v[c] + eps);
  };
  for_each5(d, [&](auto, auto c, auto, auto, auto, std::size_t i) {
    diff_shift.v[c] += dy.v[i];
    diff_scale.v[c] += dy.v[i] * xhat(c, i);
  });
  RefTensor diff_src(d);
  for_each5(d, [&](auto, auto c, auto, auto, auto, std::size_t i) {
    diff_src.v[i] = scale.v[c] / std::sqrt(st.variance.v[c] + eps) *
                    (dy.v[i] - diff_shift.v[c] / count - xhat(c, i) * diff_scale.v[c] / count);
  });
  return diff_src;
}

RefTensor concat_channels(std::span<const RefTensor> srcs) {
  Dims d = srcs[0].dims;
  d[1] = 0;
  for (const auto& s : srcs) d[1] += s.dims[1];
  RefTensor dst(d);
  std::int64_t offset = 0;
  for (const auto& s : srcs) {
    for_each5(s.dims, [&](auto n, auto c, auto z, auto y, auto x, std::size_t i) {
      dst.v[dst.at(n, c + offset, z, y, x)] = s.v[i];
    });
    offset += s.dims[1];
  }
  return dst;
}

std::vector<RefTensor> split_channels(const RefTensor& diff_dst,
                                      std::span<const std::int64_t> channels) {
  std::vector<RefTensor> out;
  std::int64_t offset = 0;
  for (std::int64_t ch : channels) {
    Dims d = diff_dst.dims;
    d[1] = ch;
    RefTensor part(d);
    for_each5(d, [&](auto n, auto c, auto z, auto y, auto x, std::size_t i) {
      part.v[i] = diff_dst.v[diff_dst.at(n, c + offset, z, y, x)];
    });
    out.push_back(std::move(part));
    offset += ch;
  }
  return out;
}

}  // namespace tensortier::runtime::reference
