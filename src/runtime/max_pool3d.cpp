// MaxPool3d (2x2x2, stride 2) through oneDNN's pooling primitives.
#include "tensortier/runtime/max_pool3d.hpp"

#include <optional>

#include "op_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime {

namespace {

constexpr const char* kOp = "max_pool3d";
const Dims kWindow = {2, 2, 2};
const Dims kNoPad = {0, 0, 0};

struct Plan {
  dnnl::pooling_forward::primitive_desc fwd_pd;
  dnnl::pooling_forward fwd;
  std::optional<dnnl::pooling_backward::primitive_desc> bwd_pd;
  dnnl::pooling_backward bwd;
};

Dims pooled(const Dims& s) {
  detail::require(s[2] % 2 == 0 && s[3] % 2 == 0 && s[4] % 2 == 0 && s[2] > 0 && s[3] > 0 &&
                      s[4] > 0,
                  kOp, "src " + detail::dims_text(s) + ": D, H, W must be even");
  return {s[0], s[1], s[2] / 2, s[3] / 2, s[4] / 2};
}

std::string key(Context& ctx, const Dims& src, bool training) {
  return std::string(kOp) + (training ? " train " : " infer ") +
         detail::desc_key(ctx.activation_desc(src));
}

// The primitive descriptors every call builds (and describe_max_pool3d reports).
dnnl::pooling_forward::primitive_desc fwd_pd(Context& ctx, const Dims& src, bool training) {
  dnnl::pooling_forward::desc d(
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
      dnnl::algorithm::pooling_max, ctx.activation_desc(src), ctx.activation_desc(pooled(src)),
      kWindow, kWindow, kNoPad, kNoPad);
  return dnnl::pooling_forward::primitive_desc(d, detail::user_scratchpad_attr(), ctx.engine());
}

dnnl::pooling_backward::primitive_desc bwd_pd(Context& ctx, const Dims& src,
                                              const dnnl::pooling_forward::primitive_desc& hint) {
  dnnl::pooling_backward::desc d(dnnl::algorithm::pooling_max, ctx.activation_desc(src),
                                 ctx.activation_desc(pooled(src)), kWindow, kWindow, kNoPad,
                                 kNoPad);
  return dnnl::pooling_backward::primitive_desc(d, detail::user_scratchpad_attr(), ctx.engine(),
                                                hint);
}

Plan& plan(Context& ctx, const Dims& src, bool training) {
  const std::string k = key(ctx, src, training);
  return ctx.cache().get<Plan>(k, [&] {
    const auto pd = fwd_pd(ctx, src, training);
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, dnnl::pooling_forward(pd), std::nullopt, {}};
  });
}

}  // namespace

PrimitiveMemory describe_max_pool3d(Context& ctx, const Dims& src, PrimitivePass pass) {
  detail::require(src.size() == 5, kOp, "src must have 5 dimensions");
  PrimitiveMemory m;
  if (pass == PrimitivePass::forward_training || pass == PrimitivePass::forward_inference) {
    const auto pd = fwd_pd(ctx, src, pass == PrimitivePass::forward_training);
    m.src = pd.src_desc();
    m.dst = pd.dst_desc();
    if (pass == PrimitivePass::forward_training) m.workspace = pd.workspace_desc();
    m.scratchpad = pd.scratchpad_desc();
  } else if (pass == PrimitivePass::backward) {
    const auto pd = bwd_pd(ctx, src, fwd_pd(ctx, src, true));
    m.diff_dst = pd.diff_dst_desc();
    m.diff_src = pd.diff_src_desc();
    m.workspace = pd.workspace_desc();
    m.scratchpad = pd.scratchpad_desc();
  } else {
    detail::require(false, kOp, "no such pass to describe");
  }
  return m;
}

Tensor max_pool3d_forward(Context& ctx, const Tensor& src, MaxPool3dSaved* saved) {
  detail::require_f32(src, 5, kOp, "src");
  const Dims s = src.dims();
  Plan& p = plan(ctx, s, saved != nullptr);
  Tensor x = src.to(ctx, p.fwd_pd.src_desc());
  Tensor dst = ctx.empty(p.fwd_pd.dst_desc());
  Args args{{DNNL_ARG_SRC, x.memory(ctx.engine())}, {DNNL_ARG_DST, dst.memory(ctx.engine())}};
  if (saved != nullptr) {
    saved->src_dims = s;
    saved->workspace = ctx.empty(p.fwd_pd.workspace_desc());
    args[DNNL_ARG_WORKSPACE] = saved->workspace.memory(ctx.engine());
  }
  ctx.execute(p.fwd, p.fwd_pd.scratchpad_desc(), std::move(args));
  return dst;
}

Tensor max_pool3d_backward(Context& ctx, const Tensor& diff_dst, const MaxPool3dSaved& saved) {
  detail::require_f32(diff_dst, 5, kOp, "diff_dst");
  detail::require(saved.workspace.defined(), kOp, "no workspace: forward ran without saved");
  detail::require(diff_dst.dims() == pooled(saved.src_dims), kOp,
                  "diff_dst " + detail::dims_text(diff_dst.dims()) + " does not match src " +
                      detail::dims_text(saved.src_dims));
  Plan& p = plan(ctx, saved.src_dims, true);
  if (!p.bwd_pd) {
    p.bwd_pd.emplace(bwd_pd(ctx, saved.src_dims, p.fwd_pd));
    detail::noted(ctx, key(ctx, saved.src_dims, true), "bwd", *p.bwd_pd);
    p.bwd = dnnl::pooling_backward(*p.bwd_pd);
  }
  Tensor dd = diff_dst.to(ctx, p.bwd_pd->diff_dst_desc());
  Tensor diff_src = ctx.empty(p.bwd_pd->diff_src_desc());
  ctx.execute(p.bwd, p.bwd_pd->scratchpad_desc(),
              {{DNNL_ARG_DIFF_DST, dd.memory(ctx.engine())},
               {DNNL_ARG_WORKSPACE, saved.workspace.memory(ctx.engine())},
               {DNNL_ARG_DIFF_SRC, diff_src.memory(ctx.engine())}});
  return diff_src;
}

}  // namespace tensortier::runtime
