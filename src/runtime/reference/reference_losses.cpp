// Reference softmax cross-entropy and soft Dice loss on NCDHW logits.
#include <cmath>

#include "reference.hpp"

namespace tensortier::runtime::reference {

// Softmax over channels, NCDHW.
RefTensor softmax_channels(const RefTensor& logits) {
  const Dims& d = logits.dims;
  const std::int64_t voxels = d[2] * d[3] * d[4];
  RefTensor p(d);
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t v = 0; v < voxels; ++v) {
      auto idx = [&](std::int64_t c) { return static_cast<std::size_t>((n * d[1] + c) * voxels + v); };
      double mx = logits.v[idx(0)];
      for (std::int64_t c = 1; c < d[1]; ++c) mx = std::max(mx, logits.v[idx(c)]);
      double sum = 0;
      for (std::int64_t c = 0; c < d[1]; ++c) sum += std::exp(logits.v[idx(c)] - mx);
      for (std::int64_t c = 0; c < d[1]; ++c) p.v[idx(c)] = std::exp(logits.v[idx(c)] - mx) / sum;
    }
  return p;
}

namespace {

RefTensor softmax(const RefTensor& logits) { return softmax_channels(logits); }

std::size_t index(const Dims& d, std::int64_t n, std::int64_t c, std::int64_t v) {
  return static_cast<std::size_t>((n * d[1] + c) * d[2] * d[3] * d[4] + v);
}

}  // namespace

double cross_entropy(const RefTensor& logits, std::span<const int> labels) {
  const Dims& d = logits.dims;
  const std::int64_t voxels = d[2] * d[3] * d[4];
  const RefTensor p = softmax(logits);
  double sum = 0;
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t v = 0; v < voxels; ++v)
      sum -= std::log(p.v[index(d, n, labels[n * voxels + v], v)]);
  return sum / static_cast<double>(d[0] * voxels);
}

RefTensor cross_entropy_backward(const RefTensor& logits, std::span<const int> labels) {
  const Dims& d = logits.dims;
  const std::int64_t voxels = d[2] * d[3] * d[4];
  RefTensor g = softmax(logits);
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t v = 0; v < voxels; ++v) g.v[index(d, n, labels[n * voxels + v], v)] -= 1;
  for (auto& x : g.v) x /= static_cast<double>(d[0] * voxels);
  return g;
}

double dice_loss(const RefTensor& logits, std::span<const int> labels, double smooth,
                 bool include_background) {
  const Dims& d = logits.dims;
  const std::int64_t voxels = d[2] * d[3] * d[4];
  const RefTensor p = softmax(logits);
  const std::int64_t c0 = include_background ? 0 : 1;
  double dice = 0;
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t c = c0; c < d[1]; ++c) {
      double inter = 0, ps = 0, gs = 0;
      for (std::int64_t v = 0; v < voxels; ++v) {
        const double g = labels[n * voxels + v] == c ? 1.0 : 0.0;
        const double pv = p.v[index(d, n, c, v)];
        inter += pv * g;
        ps += pv;
        gs += g;
      }
      dice += (2 * inter + smooth) / (ps + gs + smooth);
    }
  return 1 - dice / static_cast<double>(d[0] * (d[1] - c0));
}

RefTensor dice_loss_backward(const RefTensor& logits, std::span<const int> labels, double smooth,
                             bool include_background) {
  const Dims& d = logits.dims;
  const std::int64_t voxels = d[2] * d[3] * d[4];
  const RefTensor p = softmax(logits);
  const std::int64_t c0 = include_background ? 0 : 1;
  const double scale = -1.0 / static_cast<double>(d[0] * (d[1] - c0));
  // dL/dp, then through the softmax Jacobian per voxel.
  RefTensor dp(d);
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t c = c0; c < d[1]; ++c) {
      double inter = 0, ps = 0, gs = 0;
      for (std::int64_t v = 0; v < voxels; ++v) {
        const double g = labels[n * voxels + v] == c ? 1.0 : 0.0;
        inter += p.v[index(d, n, c, v)] * g;
        ps += p.v[index(d, n, c, v)];
        gs += g;
      }
      const double u = ps + gs + smooth;
      for (std::int64_t v = 0; v < voxels; ++v) {
        const double g = labels[n * voxels + v] == c ? 1.0 : 0.0;
        dp.v[index(d, n, c, v)] = scale * (2 * g * u - (2 * inter + smooth)) / (u * u);
      }
    }
  RefTensor dz(d);
  for (std::int64_t n = 0; n < d[0]; ++n)
    for (std::int64_t v = 0; v < voxels; ++v) {
      double dot = 0;
      for (std::int64_t c = 0; c < d[1]; ++c) dot += p.v[index(d, n, c, v)] * dp.v[index(d, n, c, v)];
      for (std::int64_t c = 0; c < d[1]; ++c)
        dz.v[index(d, n, c, v)] = p.v[index(d, n, c, v)] * (dp.v[index(d, n, c, v)] - dot);
    }
  return dz;
}

}  // namespace tensortier::runtime::reference
