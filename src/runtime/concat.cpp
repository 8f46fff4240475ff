// Channel concatenation through oneDNN's concat primitive; its backward (the
// split) is one cached reorder per part from a channel sub-memory of diff_dst.
#include "tensortier/runtime/concat.hpp"

#include "op_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime {

namespace {

constexpr const char* kOp = "concat";

struct Plan {
  dnnl::concat::primitive_desc pd;
  dnnl::concat primitive;
};

// The primitive descriptor every call builds (and describe_concat reports).
dnnl::concat::primitive_desc concat_pd(Context& ctx, const MemoryDesc& dst,
                                       const std::vector<MemoryDesc>& srcs) {
  return dnnl::concat::primitive_desc(dst, 1, srcs, ctx.engine(), detail::user_scratchpad_attr());
}

}  // namespace

PrimitiveMemory describe_concat(Context& ctx, const std::vector<Dims>& srcs) {
  detail::require(!srcs.empty() && srcs[0].size() == 5, kOp, "needs 5-D srcs");
  std::vector<MemoryDesc> mds;
  Dims dst_dims = srcs[0];
  dst_dims[1] = 0;
  for (const Dims& d : srcs) {
    mds.push_back(ctx.activation_desc(d));
    dst_dims[1] += d[1];
  }
  const auto pd = concat_pd(ctx, ctx.activation_desc(dst_dims), mds);
  PrimitiveMemory m;
  m.dst = pd.dst_desc();
  m.scratchpad = pd.scratchpad_desc();
  return m;
}

Tensor concat_forward(Context& ctx, std::span<const Tensor> srcs, ConcatSaved* saved) {
  detail::require(!srcs.empty(), kOp, "no srcs");
  std::vector<Tensor> parts;
  std::vector<MemoryDesc> mds;
  ConcatSaved shape;
  Dims dst_dims;
  for (const Tensor& src : srcs) {
    detail::require_f32(src, 5, kOp, "src");
    const Dims d = src.dims();
    if (dst_dims.empty()) {
      dst_dims = d;
    } else {
      detail::require(d[0] == dst_dims[0] && d[2] == dst_dims[2] && d[3] == dst_dims[3] &&
                          d[4] == dst_dims[4],
                      kOp, "src " + detail::dims_text(d) + " does not match " +
                               detail::dims_text(srcs[0].dims()) + " outside the channels");
      dst_dims[1] += d[1];
    }
    shape.channels.push_back(d[1]);
    parts.push_back(ctx.to_activation(src));
    mds.push_back(parts.back().desc());
  }
  shape.dst_dims = dst_dims;
  const MemoryDesc dst_md = ctx.activation_desc(dst_dims);
  std::string k = std::string(kOp) + " " + detail::desc_key(dst_md) + " parts";
  for (auto c : shape.channels) k += " " + std::to_string(c);
  Plan& p = ctx.cache().get<Plan>(k, [&] {
    auto pd = concat_pd(ctx, dst_md, mds);
    detail::noted(ctx, k, "fwd", pd);
    return Plan{pd, dnnl::concat(pd)};
  });
  Tensor dst = ctx.empty(dst_md);
  Args args{{DNNL_ARG_DST, dst.memory(ctx.engine())}};
  for (std::size_t i = 0; i < parts.size(); ++i)
    args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(i)] = parts[i].memory(ctx.engine());
  ctx.execute(p.primitive, p.pd.scratchpad_desc(), std::move(args));
  if (saved != nullptr) *saved = std::move(shape);
  return dst;
}

std::vector<Tensor> concat_backward(Context& ctx, const Tensor& diff_dst, const ConcatSaved& saved) {
  detail::require_f32(diff_dst, 5, kOp, "diff_dst");
  detail::require(diff_dst.dims() == saved.dst_dims, kOp,
                  "diff_dst " + detail::dims_text(diff_dst.dims()) + ", expected " +
                      detail::dims_text(saved.dst_dims));
  Tensor dd = ctx.to_activation(diff_dst);
  const MemoryDesc& whole = dd.desc();
  std::vector<Tensor> out;
  std::int64_t offset = 0;
  for (std::int64_t c : saved.channels) {
    Dims part = saved.dst_dims;
    part[1] = c;
    const MemoryDesc sub = whole.submemory_desc(part, {0, offset, 0, 0, 0});
    Tensor diff_src = ctx.empty(ctx.activation_desc(part));
    ctx.reorder(dnnl::memory(sub, ctx.engine(), dd.data()), diff_src.memory(ctx.engine()));
    out.push_back(diff_src);
    offset += c;
  }
  return out;
}

}  // namespace tensortier::runtime
