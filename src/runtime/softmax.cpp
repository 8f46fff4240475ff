// Channel softmax through oneDNN, output in ndhwc.
#include "tensortier/runtime/softmax.hpp"

#include "op_support.hpp"

namespace tensortier::runtime {

namespace {

constexpr const char* kOp = "softmax";

struct Plan {
  dnnl::softmax_forward::primitive_desc pd;
  dnnl::softmax_forward primitive;
};

}  // namespace

Tensor softmax_channels(Context& ctx, const Tensor& logits) {
  detail::require_f32(logits, 5, kOp, "logits");
  // ndhwc: the class axis is innermost and dense, which oneDNN's JIT softmax
  // needs (on ncdhw it falls back to ref:any).
  const MemoryDesc md = Tensor::channels_last(logits.dims());
  const std::string k = std::string(kOp) + " " + detail::desc_key(md);
  Plan& p = ctx.cache().get<Plan>(k, [&] {
    dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, md, 1);
    dnnl::softmax_forward::primitive_desc pd(d, detail::user_scratchpad_attr(), ctx.engine());
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, dnnl::softmax_forward(pd)};
  });
  Tensor x = logits.to(ctx, md);
  Tensor dst = ctx.empty(md);
  ctx.execute(p.primitive, p.pd.scratchpad_desc(),
              {{DNNL_ARG_SRC, x.memory(ctx.engine())}, {DNNL_ARG_DST, dst.memory(ctx.engine())}});
  return dst;
}

}  // namespace tensortier::runtime
