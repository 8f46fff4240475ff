// BatchNorm3d through oneDNN's batch normalization primitives, with the
// running-statistics update PyTorch does (a loop over C).
#include "tensortier/runtime/batch_norm3d.hpp"

#include <optional>

#include "op_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime {

namespace {

constexpr const char* kOp = "batch_norm3d";
using Flags = dnnl::normalization_flags;

struct Plan {
  dnnl::batch_normalization_forward::primitive_desc fwd_pd;
  dnnl::batch_normalization_forward fwd;
  std::optional<dnnl::batch_normalization_backward::primitive_desc> bwd_pd;
  dnnl::batch_normalization_backward bwd;
};

Flags flags(bool training, bool fuse_relu) {
  Flags f = Flags::use_scale | Flags::use_shift;
  if (!training) f = f | Flags::use_global_stats;
  if (fuse_relu) f = f | Flags::fuse_norm_relu;
  return f;
}

std::string key(Context& ctx, const Dims& src, bool training, const BatchNorm3dOptions& o) {
  return std::string(kOp) + (training ? " train " : " infer ") +
         detail::desc_key(ctx.activation_desc(src)) + " eps " + std::to_string(o.epsilon) +
         (o.fuse_relu ? " relu" : "");
}

// The primitive descriptors every call builds (and describe_batch_norm3d reports).
dnnl::batch_normalization_forward::primitive_desc fwd_pd(Context& ctx, const Dims& src,
                                                         bool training,
                                                         const BatchNorm3dOptions& o) {
  dnnl::batch_normalization_forward::desc d(
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      ctx.activation_desc(src), o.epsilon, flags(training, o.fuse_relu));
  return dnnl::batch_normalization_forward::primitive_desc(d, detail::user_scratchpad_attr(),
                                                           ctx.engine());
}

dnnl::batch_normalization_backward::primitive_desc bwd_pd(
    Context& ctx, const Dims& src, const BatchNorm3dOptions& o,
    const dnnl::batch_normalization_forward::primitive_desc& hint) {
  const MemoryDesc md = ctx.activation_desc(src);
  dnnl::batch_normalization_backward::desc d(dnnl::prop_kind::backward, md, md, o.epsilon,
                                             flags(true, o.fuse_relu));
  return dnnl::batch_normalization_backward::primitive_desc(d, detail::user_scratchpad_attr(),
                                                            ctx.engine(), hint);
}

Plan& plan(Context& ctx, const Dims& src, bool training, const BatchNorm3dOptions& o) {
  const std::string k = key(ctx, src, training, o);
  return ctx.cache().get<Plan>(k, [&] {
    const auto pd = fwd_pd(ctx, src, training, o);
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, dnnl::batch_normalization_forward(pd), std::nullopt, {}};
  });
}

void check_channel_vector(const Tensor& t, std::int64_t channels, const char* name) {
  detail::require_f32(t, 1, kOp, name);
  detail::require(t.dim(0) == channels && t.is_plain(), kOp,
                  std::string(name) + " is " + describe(t.desc()) + "; expected " +
                      std::to_string(channels) + " plain f32");
}

}  // namespace

PrimitiveMemory describe_batch_norm3d(Context& ctx, const Dims& src,
                                      const BatchNorm3dOptions& options, PrimitivePass pass) {
  detail::require(src.size() == 5, kOp, "src must have 5 dimensions");
  PrimitiveMemory m;
  if (pass == PrimitivePass::forward_training || pass == PrimitivePass::forward_inference) {
    const auto pd = fwd_pd(ctx, src, pass == PrimitivePass::forward_training, options);
    m.src = pd.src_desc();
    m.dst = pd.dst_desc();
    if (pass == PrimitivePass::forward_training) {
      m.mean = pd.mean_desc();
      m.variance = pd.variance_desc();
      if (options.fuse_relu) m.workspace = pd.workspace_desc();
    }
    m.scratchpad = pd.scratchpad_desc();
  } else if (pass == PrimitivePass::backward) {
    const auto pd = bwd_pd(ctx, src, options, fwd_pd(ctx, src, true, options));
    m.src = pd.src_desc();
    m.diff_dst = pd.diff_dst_desc();
    m.diff_src = pd.diff_src_desc();
    m.scratchpad = pd.scratchpad_desc();
  } else {
    detail::require(false, kOp, "no such pass to describe");
  }
  return m;
}

Tensor batch_norm3d_forward_training(Context& ctx, const Tensor& src, const Tensor& scale,
                                     const Tensor& shift, const Tensor& running_mean,
                                     const Tensor& running_var, const BatchNorm3dOptions& options,
                                     BatchNorm3dSaved* saved) {
  detail::require_f32(src, 5, kOp, "src");
  const Dims s = src.dims();
  check_channel_vector(scale, s[1], "scale");
  check_channel_vector(shift, s[1], "shift");
  const bool track = running_mean.defined() || running_var.defined();
  if (track) {
    check_channel_vector(running_mean, s[1], "running_mean");
    check_channel_vector(running_var, s[1], "running_var");
  }
  Plan& p = plan(ctx, s, true, options);
  Tensor x = src.to(ctx, p.fwd_pd.src_desc());
  Tensor dst = ctx.empty(p.fwd_pd.dst_desc());
  Tensor mean = ctx.empty(p.fwd_pd.mean_desc());
  Tensor variance = ctx.empty(p.fwd_pd.variance_desc());
  Args args{{DNNL_ARG_SRC, x.memory(ctx.engine())},
            {DNNL_ARG_DST, dst.memory(ctx.engine())},
            {DNNL_ARG_SCALE, scale.memory(ctx.engine())},
            {DNNL_ARG_SHIFT, shift.memory(ctx.engine())},
            {DNNL_ARG_MEAN, mean.memory(ctx.engine())},
            {DNNL_ARG_VARIANCE, variance.memory(ctx.engine())}};
  Tensor workspace;
  if (options.fuse_relu) {
    workspace = ctx.empty(p.fwd_pd.workspace_desc());
    args[DNNL_ARG_WORKSPACE] = workspace.memory(ctx.engine());
  }
  ctx.execute(p.fwd, p.fwd_pd.scratchpad_desc(), std::move(args));

  if (track) {
    const double count = static_cast<double>(s[0]) * s[2] * s[3] * s[4];
    const double unbias = count > 1 ? count / (count - 1) : 1.0;
    const float m = options.momentum;
    float* rm = running_mean.f32();
    float* rv = running_var.f32();
    const float* bm = mean.f32();
    const float* bv = variance.f32();
    for (std::int64_t c = 0; c < s[1]; ++c) {
      rm[c] = (1 - m) * rm[c] + m * bm[c];
      rv[c] = (1 - m) * rv[c] + m * static_cast<float>(bv[c] * unbias);
    }
  }
  if (saved != nullptr) *saved = BatchNorm3dSaved{x, mean, variance, scale, shift, workspace, options};
  return dst;
}

Tensor batch_norm3d_forward_inference(Context& ctx, const Tensor& src, const Tensor& scale,
                                      const Tensor& shift, const Tensor& running_mean,
                                      const Tensor& running_var,
                                      const BatchNorm3dOptions& options) {
  detail::require_f32(src, 5, kOp, "src");
  const Dims s = src.dims();
  check_channel_vector(scale, s[1], "scale");
  check_channel_vector(shift, s[1], "shift");
  check_channel_vector(running_mean, s[1], "running_mean");
  check_channel_vector(running_var, s[1], "running_var");
  Plan& p = plan(ctx, s, false, options);
  Tensor x = src.to(ctx, p.fwd_pd.src_desc());
  Tensor dst = ctx.empty(p.fwd_pd.dst_desc());
  ctx.execute(p.fwd, p.fwd_pd.scratchpad_desc(),
              {{DNNL_ARG_SRC, x.memory(ctx.engine())},
               {DNNL_ARG_DST, dst.memory(ctx.engine())},
               {DNNL_ARG_SCALE, scale.memory(ctx.engine())},
               {DNNL_ARG_SHIFT, shift.memory(ctx.engine())},
               {DNNL_ARG_MEAN, running_mean.memory(ctx.engine())},
               {DNNL_ARG_VARIANCE, running_var.memory(ctx.engine())}});
  return dst;
}

BatchNorm3dGrads batch_norm3d_backward(Context& ctx, const Tensor& diff_dst,
                                       const BatchNorm3dSaved& saved) {
  detail::require(saved.src.defined(), kOp, "nothing saved: forward ran without saved");
  detail::require_f32(diff_dst, 5, kOp, "diff_dst");
  const Dims s = saved.src.dims();
  detail::require(diff_dst.dims() == s, kOp,
                  "diff_dst " + detail::dims_text(diff_dst.dims()) + " does not match src " +
                      detail::dims_text(s));
  Plan& p = plan(ctx, s, true, saved.options);
  if (!p.bwd_pd) {
    p.bwd_pd.emplace(bwd_pd(ctx, s, saved.options, p.fwd_pd));
    detail::noted(ctx, key(ctx, s, true, saved.options), "bwd", *p.bwd_pd);
    p.bwd = dnnl::batch_normalization_backward(*p.bwd_pd);
  }
  const auto& pd = *p.bwd_pd;
  Tensor dd = diff_dst.to(ctx, pd.diff_dst_desc());
  Tensor x = saved.src.to(ctx, pd.src_desc());
  BatchNorm3dGrads grads{ctx.empty(pd.diff_src_desc()), ctx.empty(Tensor::plain({s[1]})),
                         ctx.empty(Tensor::plain({s[1]}))};
  Args args{{DNNL_ARG_SRC, x.memory(ctx.engine())},
            {DNNL_ARG_DIFF_DST, dd.memory(ctx.engine())},
            {DNNL_ARG_MEAN, saved.mean.memory(ctx.engine())},
            {DNNL_ARG_VARIANCE, saved.variance.memory(ctx.engine())},
            {DNNL_ARG_SCALE, saved.scale.memory(ctx.engine())},
            {DNNL_ARG_SHIFT, saved.shift.memory(ctx.engine())},
            {DNNL_ARG_DIFF_SRC, grads.diff_src.memory(ctx.engine())},
            {DNNL_ARG_DIFF_SCALE, grads.diff_scale.memory(ctx.engine())},
            {DNNL_ARG_DIFF_SHIFT, grads.diff_shift.memory(ctx.engine())}};
  if (saved.options.fuse_relu) args[DNNL_ARG_WORKSPACE] = saved.workspace.memory(ctx.engine());
  ctx.execute(p.bwd, pd.scratchpad_desc(), std::move(args));
  return grads;
}

}  // namespace tensortier::runtime
