// Engine, stream, shared user scratchpad and cached reorders.
#include "tensortier/runtime/context.hpp"

#include "op_support.hpp"
#include "tensortier/runtime/describe.hpp"

namespace tensortier::runtime {

Context::Context(Allocator& allocator, ContextOptions options)
    : allocator_(allocator),
      options_(options),
      engine_(dnnl::engine::kind::cpu, 0),
      stream_(engine_) {}

Context::~Context() = default;

MemoryDesc Context::activation_desc(const Dims& dims) const {
  if (dims.size() != 5)
    throw std::invalid_argument("activation: dims " + detail::dims_text(dims) +
                                " are not N,C,D,H,W");
  return MemoryDesc(dims, DataType::f32, options_.activation_tag);
}

Tensor Context::to_activation(const Tensor& t) { return t.to(*this, activation_desc(t.dims())); }

Tensor Context::empty(const MemoryDesc& desc) {
  if (!placements_.empty()) {
    const Dims dims = desc.dims();
    for (Placement& p : placements_) {
      if (!p.storage || p.dims != dims || p.type != desc.data_type() ||
          desc.get_size() > p.storage->bytes())
        continue;
      Tensor t = Tensor::over(std::move(p.storage), desc);
      p.storage.reset();
      return t;
    }
  }
  return Tensor::empty(allocator_, desc, options_.hint);
}

Tensor Context::zeros(const MemoryDesc& desc) {
  Tensor t = empty(desc);
  t.zero();
  return t;
}

void Context::arm_placements(std::vector<Placement> placements) {
  placements_ = std::move(placements);
}

std::size_t Context::clear_placements() noexcept {
  std::size_t unused = 0;
  for (const Placement& p : placements_)
    if (p.storage) unused += 1;
  placements_.clear();
  return unused;
}

void Context::execute(const dnnl::primitive& primitive, const MemoryDesc& scratchpad, Args args) {
  const std::size_t need = scratchpad.is_zero() ? 0 : scratchpad.get_size();
  if (need > 0) {
    if (!scratchpad_ || scratchpad_->bytes() < need) {
      scratchpad_.reset();  // free first: the old one is never needed again
      scratchpad_ = std::make_unique<Storage>(allocator_, need, Hint::hot);
    }
    args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratchpad, engine_, scratchpad_->data());
  }
  primitive.execute(stream_, args);
  stream_.wait();
}

namespace {
struct ReorderPlan {
  dnnl::reorder primitive;
  MemoryDesc scratchpad;
};

// The primitive descriptor every reorder builds (and describe_reorder reports).
dnnl::reorder::primitive_desc reorder_pd(const dnnl::engine& engine, const MemoryDesc& src,
                                         const MemoryDesc& dst) {
  return dnnl::reorder::primitive_desc(engine, src, engine, dst, detail::user_scratchpad_attr());
}
}  // namespace

PrimitiveMemory describe_reorder(Context& ctx, const MemoryDesc& src, const MemoryDesc& dst) {
  PrimitiveMemory m;
  m.scratchpad = reorder_pd(ctx.engine(), src, dst).scratchpad_desc();
  return m;
}

void Context::reorder(const dnnl::memory& src, const dnnl::memory& dst) {
  const MemoryDesc src_md = src.get_desc();
  const MemoryDesc dst_md = dst.get_desc();
  const std::string key = "reorder " + detail::desc_key(src_md) + " -> " + detail::desc_key(dst_md);
  ReorderPlan& plan = cache_.get<ReorderPlan>(key, [&] {
    const dnnl::reorder::primitive_desc pd = reorder_pd(engine_, src_md, dst_md);
    cache_.note_impl(key, "reorder", pd.impl_info_str());
    return ReorderPlan{dnnl::reorder(pd), pd.scratchpad_desc()};
  });
  execute(plan.primitive, plan.scratchpad, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
}

void Context::reorder(const Tensor& src, const Tensor& dst) {
  if (src.dims() != dst.dims())
    throw std::invalid_argument("reorder: " + describe(src.desc()) + " to " + describe(dst.desc()));
  reorder(src.memory(engine_), dst.memory(engine_));
}

std::size_t Context::scratchpad_bytes() const noexcept {
  return scratchpad_ ? scratchpad_->bytes() : 0;
}

}  // namespace tensortier::runtime
