// Elementwise sum through oneDNN binary add (dst may alias src0).
#include "tensortier/runtime/elementwise.hpp"

#include "op_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime {

namespace {

constexpr const char* kOp = "add";

struct Plan {
  dnnl::binary::primitive_desc pd;
  dnnl::binary primitive;
};

// The primitive descriptor every call builds (and describe_add reports).
dnnl::binary::primitive_desc add_pd(Context& ctx, const MemoryDesc& md) {
  dnnl::binary::desc d(dnnl::algorithm::binary_add, md, md, md);
  return dnnl::binary::primitive_desc(d, detail::user_scratchpad_attr(), ctx.engine());
}

void run(Context& ctx, const Tensor& a, const Tensor& b, const Tensor& dst) {
  detail::require(a.defined() && b.defined() && a.data_type() == DataType::f32 &&
                      b.data_type() == DataType::f32 && a.dims() == b.dims(),
                  kOp, "a " + describe(a.desc()) + " and b " + describe(b.desc()) +
                           " must be f32 with equal dims");
  const MemoryDesc& md = a.desc();
  const std::string k = std::string(kOp) + " " + detail::desc_key(md);
  Plan& p = ctx.cache().get<Plan>(k, [&] {
    const auto pd = add_pd(ctx, md);
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, dnnl::binary(pd)};
  });
  const Tensor bb = b.to(ctx, md);
  ctx.execute(p.primitive, p.pd.scratchpad_desc(),
              {{DNNL_ARG_SRC_0, a.memory(ctx.engine())},
               {DNNL_ARG_SRC_1, bb.memory(ctx.engine())},
               {DNNL_ARG_DST, dst.memory(ctx.engine())}});
}

}  // namespace

PrimitiveMemory describe_add(Context& ctx, const MemoryDesc& md) {
  PrimitiveMemory m;
  m.scratchpad = add_pd(ctx, md).scratchpad_desc();
  return m;
}

Tensor add(Context& ctx, const Tensor& a, const Tensor& b) {
  detail::require(a.defined(), kOp, "a is undefined");
  Tensor dst = ctx.empty(a.desc());
  run(ctx, a, b, dst);
  return dst;
}

void add_to(Context& ctx, const Tensor& acc, const Tensor& b) { run(ctx, acc, b, acc); }

}  // namespace tensortier::runtime
