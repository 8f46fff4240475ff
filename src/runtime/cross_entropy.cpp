// Softmax cross-entropy in one parallel pass over the voxels (log-sum-exp per
// voxel, exact for any logit range), keeping the probabilities for backward.
#include "tensortier/runtime/cross_entropy.hpp"

#include "labels.hpp"
#include "voxel_softmax.hpp"

namespace tensortier::runtime {

namespace {
constexpr const char* kOp = "softmax_cross_entropy";
}

double softmax_cross_entropy_forward(Context& ctx, const Tensor& logits, const Tensor& labels,
                                     CrossEntropySaved* saved) {
  detail::require_f32(logits, 5, kOp, "logits");
  const Dims dims = logits.dims();
  const detail::Labels label(labels, dims, kOp);
  const Tensor z = logits.to(ctx, Tensor::channels_last(dims));
  Tensor probs = ctx.empty(z.desc());
  const float* zp = z.f32();
  float* pp = probs.f32();
  const std::int64_t classes = dims[1];
  const std::int64_t voxels = label.voxels();
  double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
  for (std::int64_t v = 0; v < voxels; ++v) {
    const float lse = detail::voxel_softmax(zp + v * classes, pp + v * classes, classes);
    sum += lse - zp[v * classes + label[v]];
  }
  if (saved != nullptr) *saved = CrossEntropySaved{probs, labels};
  return sum / static_cast<double>(voxels);
}

Tensor softmax_cross_entropy_backward(Context& ctx, const CrossEntropySaved& saved,
                                      float diff_loss) {
  detail::require(saved.probs.defined(), kOp, "nothing saved: forward ran without saved");
  const Dims dims = saved.probs.dims();
  const std::int64_t classes = dims[1];
  const std::int64_t voxels = saved.labels.elems();
  const bool u8 = saved.labels.data_type() == DataType::u8;
  const float scale = diff_loss / static_cast<float>(voxels);
  Tensor diff = ctx.empty(saved.probs.desc());
  const float* p = saved.probs.f32();
  float* d = diff.f32();
  const auto* l8 = saved.labels.data_as<std::uint8_t>();
  const auto* l32 = saved.labels.data_as<std::int32_t>();
#pragma omp parallel for schedule(static)
  for (std::int64_t v = 0; v < voxels; ++v) {
    const std::int64_t l = u8 ? l8[v] : l32[v];
    for (std::int64_t c = 0; c < classes; ++c) d[v * classes + c] = p[v * classes + c] * scale;
    d[v * classes + l] -= scale;
  }
  return diff;
}

}  // namespace tensortier::runtime
