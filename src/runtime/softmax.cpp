// Channel softmax / log-softmax through oneDNN, output in ndhwc.
#include "tensortier/runtime/softmax.hpp"

#include "op_support.hpp"

namespace tensortier::runtime {

namespace {

struct SoftmaxPlan {
  dnnl::softmax_forward::primitive_desc pd;
  dnnl::softmax_forward primitive;
};
struct LogSoftmaxPlan {
  dnnl::logsoftmax_forward::primitive_desc pd;
  dnnl::logsoftmax_forward primitive;
};

template <typename Prim, typename Plan>
Tensor run(Context& ctx, const Tensor& logits, const char* op) {
  detail::require_f32(logits, 5, op, "logits");
  const MemoryDesc md = Tensor::channels_last(logits.dims());
  const std::string k = std::string(op) + " " + detail::desc_key(md);
  Plan& p = ctx.cache().get<Plan>(k, [&] {
    typename Prim::desc d(dnnl::prop_kind::forward_inference, md, 1);
    typename Prim::primitive_desc pd(d, detail::user_scratchpad_attr(), ctx.engine());
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, Prim(pd)};
  });
  Tensor x = logits.to(ctx, md);
  Tensor dst = ctx.empty(md);
  ctx.execute(p.primitive, p.pd.scratchpad_desc(),
              {{DNNL_ARG_SRC, x.memory(ctx.engine())}, {DNNL_ARG_DST, dst.memory(ctx.engine())}});
  return dst;
}

}  // namespace

Tensor softmax_channels(Context& ctx, const Tensor& logits) {
  return run<dnnl::softmax_forward, SoftmaxPlan>(ctx, logits, "softmax");
}

Tensor log_softmax_channels(Context& ctx, const Tensor& logits) {
  return run<dnnl::logsoftmax_forward, LogSoftmaxPlan>(ctx, logits, "log_softmax");
}

}  // namespace tensortier::runtime
