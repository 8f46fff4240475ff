// Softmax cross-entropy: oneDNN log-softmax, then one pass over the voxels.
#include "tensortier/runtime/cross_entropy.hpp"

#include <cmath>

#include "labels.hpp"
#include "tensortier/runtime/softmax.hpp"

namespace tensortier::runtime {

namespace {
constexpr const char* kOp = "softmax_cross_entropy";
}

double softmax_cross_entropy_forward(Context& ctx, const Tensor& logits, const Tensor& labels,
                                     CrossEntropySaved* saved) {
  detail::require_f32(logits, 5, kOp, "logits");
  const Dims dims = logits.dims();
  const detail::Labels label(labels, dims, kOp);
  Tensor log_probs = log_softmax_channels(ctx, logits);
  const float* lp = log_probs.f32();
  const std::int64_t classes = dims[1];
  double sum = 0;
  for (std::int64_t v = 0; v < label.voxels(); ++v) sum -= lp[v * classes + label[v]];
  if (saved != nullptr) *saved = CrossEntropySaved{log_probs, labels};
  return sum / static_cast<double>(label.voxels());
}

Tensor softmax_cross_entropy_backward(Context& ctx, const CrossEntropySaved& saved,
                                      float diff_loss) {
  detail::require(saved.log_probs.defined(), kOp, "nothing saved: forward ran without saved");
  const Dims dims = saved.log_probs.dims();
  const std::int64_t classes = dims[1];
  const std::int64_t voxels = saved.labels.elems();
  const bool u8 = saved.labels.data_type() == DataType::u8;
  const float scale = diff_loss / static_cast<float>(voxels);
  Tensor diff = ctx.empty(saved.log_probs.desc());
  const float* lp = saved.log_probs.f32();
  float* d = diff.f32();
  for (std::int64_t v = 0; v < voxels; ++v) {
    const std::int32_t l = u8 ? saved.labels.data_as<std::uint8_t>()[v]
                              : saved.labels.data_as<std::int32_t>()[v];
    for (std::int64_t c = 0; c < classes; ++c)
      d[v * classes + c] = std::exp(lp[v * classes + c]) * scale;
    d[v * classes + l] -= scale;
  }
  return diff;
}

}  // namespace tensortier::runtime
