// ReLU / LeakyReLU through oneDNN eltwise (relu, backward from dst).
#include "tensortier/runtime/activation.hpp"

#include <optional>

#include "op_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime {

namespace {

constexpr const char* kOp = "relu";
constexpr auto kAlg = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;

struct Plan {
  dnnl::eltwise_forward::primitive_desc fwd_pd;
  dnnl::eltwise_forward fwd;
  std::optional<dnnl::eltwise_backward::primitive_desc> bwd_pd;
  dnnl::eltwise_backward bwd;
};

std::string key(const MemoryDesc& md, float slope, bool training) {
  return std::string(kOp) + (training ? " train " : " infer ") + detail::desc_key(md) +
         " slope " + std::to_string(slope);
}

// The primitive descriptors every call builds (and describe_relu reports).
dnnl::eltwise_forward::primitive_desc fwd_pd(Context& ctx, const MemoryDesc& md, float slope,
                                             bool training) {
  dnnl::eltwise_forward::desc d(
      training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference, kAlg,
      md, slope, 0.f);
  return dnnl::eltwise_forward::primitive_desc(d, detail::user_scratchpad_attr(), ctx.engine());
}

dnnl::eltwise_backward::primitive_desc bwd_pd(Context& ctx, const MemoryDesc& md, float slope,
                                              const dnnl::eltwise_forward::primitive_desc& hint) {
  dnnl::eltwise_backward::desc d(kAlg, md, md, slope, 0.f);
  return dnnl::eltwise_backward::primitive_desc(d, detail::user_scratchpad_attr(), ctx.engine(),
                                                hint);
}

Plan& plan(Context& ctx, const MemoryDesc& md, float slope, bool training) {
  const std::string k = key(md, slope, training);
  return ctx.cache().get<Plan>(k, [&] {
    const auto pd = fwd_pd(ctx, md, slope, training);
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, dnnl::eltwise_forward(pd), std::nullopt, {}};
  });
}

}  // namespace

PrimitiveMemory describe_relu(Context& ctx, const MemoryDesc& src, float negative_slope,
                              PrimitivePass pass) {
  PrimitiveMemory m;
  if (pass == PrimitivePass::forward_training || pass == PrimitivePass::forward_inference) {
    const auto pd = fwd_pd(ctx, src, negative_slope, pass == PrimitivePass::forward_training);
    m.src = pd.src_desc();
    m.dst = pd.dst_desc();
    m.scratchpad = pd.scratchpad_desc();
  } else if (pass == PrimitivePass::backward) {
    const auto pd = bwd_pd(ctx, src, negative_slope, fwd_pd(ctx, src, negative_slope, true));
    m.diff_dst = pd.diff_dst_desc();
    m.diff_src = pd.diff_src_desc();
    m.scratchpad = pd.scratchpad_desc();
  } else {
    detail::require(false, kOp, "no such pass to describe");
  }
  return m;
}

Tensor relu_forward(Context& ctx, const Tensor& src, const ActivationOptions& options,
                    ActivationSaved* saved) {
  detail::require(src.defined() && src.data_type() == DataType::f32, kOp,
                  "src must be a defined f32 tensor");
  detail::require(options.negative_slope >= 0.f, kOp,
                  "negative_slope " + std::to_string(options.negative_slope) + " must be >= 0");
  Plan& p = plan(ctx, src.desc(), options.negative_slope, saved != nullptr);
  Tensor dst = options.in_place ? src : ctx.empty(src.desc());
  ctx.execute(p.fwd, p.fwd_pd.scratchpad_desc(),
              {{DNNL_ARG_SRC, src.memory(ctx.engine())}, {DNNL_ARG_DST, dst.memory(ctx.engine())}});
  if (saved != nullptr) *saved = ActivationSaved{dst, options.negative_slope};
  return dst;
}

Tensor relu_backward(Context& ctx, const Tensor& diff_dst, const ActivationSaved& saved) {
  detail::require(saved.dst.defined(), kOp, "no saved dst: forward ran without saved");
  detail::require(diff_dst.defined() && diff_dst.dims() == saved.dst.dims(), kOp,
                  "diff_dst " + describe(diff_dst.desc()) + " does not match dst " +
                      describe(saved.dst.desc()));
  const MemoryDesc& md = saved.dst.desc();
  Plan& p = plan(ctx, md, saved.negative_slope, true);
  if (!p.bwd_pd) {
    p.bwd_pd.emplace(bwd_pd(ctx, md, saved.negative_slope, p.fwd_pd));
    detail::noted(ctx, key(md, saved.negative_slope, true), "bwd", *p.bwd_pd);
    p.bwd = dnnl::eltwise_backward(*p.bwd_pd);
  }
  Tensor dd = diff_dst.to(ctx, md);
  Tensor diff_src = ctx.empty(md);
  ctx.execute(p.bwd, p.bwd_pd->scratchpad_desc(),
              {{DNNL_ARG_DST, saved.dst.memory(ctx.engine())},
               {DNNL_ARG_DIFF_DST, dd.memory(ctx.engine())},
               {DNNL_ARG_DIFF_SRC, diff_src.memory(ctx.engine())}});
  return diff_src;
}

}  // namespace tensortier::runtime
