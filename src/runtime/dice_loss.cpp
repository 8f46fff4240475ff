// Soft Dice loss: softmax and the per-(sample, class) sums in one parallel
// pass (sums in double), and the gradient through the softmax Jacobian in
// another.
#include "tensortier/runtime/dice_loss.hpp"

#include "labels.hpp"
#include "voxel_softmax.hpp"

namespace tensortier::runtime {

namespace {
constexpr const char* kOp = "dice_loss";

// First class that counts.
std::int64_t first_class(const DiceLossOptions& o) { return o.include_background ? 0 : 1; }
}  // namespace

double dice_loss_forward(Context& ctx, const Tensor& logits, const Tensor& labels,
                         const DiceLossOptions& options, DiceLossSaved* saved) {
  detail::require_f32(logits, 5, kOp, "logits");
  const Dims dims = logits.dims();
  const std::int64_t n_count = dims[0], classes = dims[1];
  detail::require(classes > first_class(options), kOp,
                  "needs more than one class without the background");
  detail::require(options.smooth > 0, kOp, "smooth must be > 0");
  const detail::Labels label(labels, dims, kOp);
  const Tensor z = logits.to(ctx, Tensor::channels_last(dims));
  Tensor probs = ctx.empty(z.desc());
  const float* zp = z.f32();
  float* p = probs.f32();
  const std::int64_t per_sample = label.voxels() / n_count;

  // Per (n, c): intersection sum p*g, sum p, sum g.
  const std::size_t cells = static_cast<std::size_t>(n_count * classes);
  std::vector<double> inter(cells, 0), psum(cells, 0), gsum(cells, 0);
  for (std::int64_t n = 0; n < n_count; ++n) {
#pragma omp parallel
    {
      std::vector<double> in(classes, 0), ps(classes, 0), gs(classes, 0);
#pragma omp for schedule(static) nowait
      for (std::int64_t v = n * per_sample; v < (n + 1) * per_sample; ++v) {
        float* pv = p + v * classes;
        detail::voxel_softmax(zp + v * classes, pv, classes);
        for (std::int64_t c = 0; c < classes; ++c) ps[c] += pv[c];
        const std::int32_t l = label[v];
        in[l] += pv[l];
        gs[l] += 1;
      }
#pragma omp critical
      for (std::int64_t c = 0; c < classes; ++c) {
        inter[n * classes + c] += in[c];
        psum[n * classes + c] += ps[c];
        gsum[n * classes + c] += gs[c];
      }
    }
  }
  double dice_sum = 0;
  const std::int64_t c0 = first_class(options);
  for (std::int64_t n = 0; n < n_count; ++n)
    for (std::int64_t c = c0; c < classes; ++c) {
      const std::size_t i = static_cast<std::size_t>(n * classes + c);
      dice_sum += (2 * inter[i] + options.smooth) / (psum[i] + gsum[i] + options.smooth);
    }
  const double loss = 1 - dice_sum / static_cast<double>(n_count * (classes - c0));
  if (saved != nullptr)
    *saved = DiceLossSaved{probs, labels, std::move(inter), std::move(psum), std::move(gsum),
                           options};
  return loss;
}

Tensor dice_loss_backward(Context& ctx, const DiceLossSaved& saved, float diff_loss) {
  detail::require(saved.probs.defined(), kOp, "nothing saved: forward ran without saved");
  const Dims dims = saved.probs.dims();
  const std::int64_t n_count = dims[0], classes = dims[1];
  const std::int64_t voxels = saved.labels.elems();
  const std::int64_t per_sample = voxels / n_count;
  const bool u8 = saved.labels.data_type() == DataType::u8;
  const DiceLossOptions& o = saved.options;
  const std::int64_t c0 = first_class(o);
  const double scale = -static_cast<double>(diff_loss) / static_cast<double>(n_count * (classes - c0));

  // d dice_nc / d p_v = (2 g_v U - (2 I + s)) / U^2 with U = P + G + s: per
  // (n, c) this is a * g_v - b; precompute a and b (zero for skipped classes).
  std::vector<float> a(saved.intersection.size(), 0.f), b(saved.intersection.size(), 0.f);
  for (std::int64_t n = 0; n < n_count; ++n)
    for (std::int64_t c = c0; c < classes; ++c) {
      const std::size_t i = static_cast<std::size_t>(n * classes + c);
      const double u = saved.prob_sum[i] + saved.label_sum[i] + o.smooth;
      a[i] = static_cast<float>(scale * 2 / u);
      b[i] = static_cast<float>(scale * (2 * saved.intersection[i] + o.smooth) / (u * u));
    }

  Tensor diff = ctx.empty(saved.probs.desc());
  const float* p = saved.probs.f32();
  float* d = diff.f32();
  const auto* l8 = saved.labels.data_as<std::uint8_t>();
  const auto* l32 = saved.labels.data_as<std::int32_t>();
#pragma omp parallel
  {
    std::vector<float> grad_p(static_cast<std::size_t>(classes));
#pragma omp for schedule(static)
    for (std::int64_t v = 0; v < voxels; ++v) {
      const std::int64_t n = v / per_sample;
      const std::int64_t l = u8 ? l8[v] : l32[v];
      const float* pv = p + v * classes;
      const float* an = &a[n * classes];
      const float* bn = &b[n * classes];
      // dL/dz_c = p_c * (dL/dp_c - sum_k p_k dL/dp_k)
      float dot = 0;
      for (std::int64_t c = 0; c < classes; ++c) {
        grad_p[c] = (c == l ? an[c] : 0.f) - bn[c];
        dot += pv[c] * grad_p[c];
      }
      for (std::int64_t c = 0; c < classes; ++c) d[v * classes + c] = pv[c] * (grad_p[c] - dot);
    }
  }
  return diff;
}

}  // namespace tensortier::runtime
