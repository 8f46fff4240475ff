// Tensor storage from the tensortier allocator, and layout conversions.
#include "tensortier/runtime/tensor.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "op_support.hpp"
#include "tensortier/runtime/context.hpp"

namespace tensortier::runtime {

namespace {

// oneDNN's JIT kernels want 64-byte alignment; the allocator gives pages anyway.
constexpr std::size_t kTensorAlignment = 64;

Tag plain_tag(int ndims) {
  switch (ndims) {
    case 1: return Tag::a;
    case 2: return Tag::ab;
    case 3: return Tag::abc;
    case 4: return Tag::abcd;
    case 5: return Tag::abcde;
    case 6: return Tag::abcdef;
    default: throw std::invalid_argument("tensor: " + std::to_string(ndims) +
                                         " dimensions; 1 to 6 are supported");
  }
}

}  // namespace

Storage::Storage(Allocator& allocator, std::size_t bytes, Hint hint)
    : allocator_(&allocator),
      data_(allocator.allocate(std::max<std::size_t>(bytes, 1), kTensorAlignment, hint)),
      bytes_(bytes) {}

Storage::Storage(std::shared_ptr<Storage> parent, std::size_t offset, std::size_t bytes)
    : allocator_(parent ? &parent->allocator() : nullptr), data_(nullptr), bytes_(bytes) {
  if (!parent || offset > parent->bytes() || bytes > parent->bytes() - offset)
    throw std::invalid_argument("storage: view of " + std::to_string(bytes) + " bytes at offset " +
                                std::to_string(offset) + " does not fit in " +
                                (parent ? std::to_string(parent->bytes()) + " bytes" : "nothing"));
  data_ = static_cast<char*>(parent->data()) + offset;
  parent_ = std::move(parent);
}

Storage::~Storage() {
  if (!parent_) allocator_->deallocate(data_);
}

Tensor Tensor::empty(Allocator& allocator, const MemoryDesc& desc, Hint hint) {
  if (desc.data.ndims == 0) throw std::invalid_argument("tensor: empty memory descriptor");
  return Tensor(std::make_shared<Storage>(allocator, desc.get_size(), hint), desc);
}

Tensor Tensor::empty(Allocator& allocator, const Dims& dims, DataType type, Hint hint) {
  return empty(allocator, plain(dims, type), hint);
}

Tensor Tensor::over(std::shared_ptr<Storage> storage, const MemoryDesc& desc) {
  if (desc.data.ndims == 0) throw std::invalid_argument("tensor: empty memory descriptor");
  if (!storage || desc.get_size() > storage->bytes())
    throw std::invalid_argument("tensor: " + describe(desc) + " does not fit in " +
                                (storage ? std::to_string(storage->bytes()) + " bytes" : "nothing"));
  return Tensor(std::move(storage), desc);
}

Tensor Tensor::zeros(Allocator& allocator, const MemoryDesc& desc, Hint hint) {
  Tensor t = empty(allocator, desc, hint);
  t.zero();
  return t;
}

Tensor Tensor::from_plain(Allocator& allocator, const Dims& dims, std::span<const float> values,
                          Hint hint) {
  Tensor t = empty(allocator, plain(dims), hint);
  if (static_cast<std::int64_t>(values.size()) != t.elems())
    throw std::invalid_argument("tensor: " + std::to_string(values.size()) + " values for " +
                                describe(t.desc()));
  std::memcpy(t.data(), values.data(), values.size_bytes());
  return t;
}

MemoryDesc Tensor::plain(const Dims& dims, DataType type) {
  return MemoryDesc(dims, type, plain_tag(static_cast<int>(dims.size())));
}

MemoryDesc Tensor::channels_last(const Dims& dims) {
  if (dims.size() != 5) throw std::invalid_argument("tensor: channels_last needs N,C,D,H,W dims");
  return MemoryDesc(dims, DataType::f32, Tag::ndhwc);
}

std::int64_t Tensor::elems() const noexcept {
  if (desc_.data.ndims == 0) return 0;
  std::int64_t n = 1;
  for (int i = 0; i < desc_.data.ndims; ++i) n *= desc_.data.dims[i];
  return n;
}

bool Tensor::is_channels_last() const {
  return ndims() == 5 && data_type() == DataType::f32 && desc_ == channels_last(dims());
}

float* Tensor::f32() const {
  if (data_type() != DataType::f32)
    throw std::logic_error("tensor: f32() on a " + describe(desc_) + " tensor");
  return static_cast<float*>(data());
}

dnnl::memory Tensor::memory(const dnnl::engine& engine) const {
  return dnnl::memory(desc_, engine, data());
}

Tensor Tensor::view(const MemoryDesc& desc) const {
  if (!defined() || desc.get_size() > storage_->bytes())
    throw std::invalid_argument("tensor: view " + describe(desc) + " does not fit in " +
                                describe(desc_));
  return Tensor(storage_, desc);
}

Tensor Tensor::to(Context& ctx, const MemoryDesc& desc) const {
  if (desc == desc_) return *this;
  if (desc.dims() != dims())
    throw std::invalid_argument("tensor: cannot reorder " + describe(desc_) + " to " +
                                describe(desc));
  Tensor out = ctx.empty(desc);
  ctx.reorder(*this, out);
  return out;
}

std::vector<float> Tensor::to_vector(Context& ctx) const {
  std::vector<float> values(static_cast<std::size_t>(elems()));
  MemoryDesc flat = plain(dims(), DataType::f32);
  ctx.reorder(memory(ctx.engine()), dnnl::memory(flat, ctx.engine(), values.data()));
  return values;
}

void Tensor::copy_from(Context& ctx, std::span<const float> values) {
  if (static_cast<std::int64_t>(values.size()) != elems())
    throw std::invalid_argument("tensor: " + std::to_string(values.size()) + " values for " +
                                describe(desc_));
  MemoryDesc flat = plain(dims(), DataType::f32);
  ctx.reorder(dnnl::memory(flat, ctx.engine(), const_cast<float*>(values.data())),
              memory(ctx.engine()));
}

Tensor Tensor::clone(Allocator& allocator) const {
  Tensor out = empty(allocator, desc_);
  std::memcpy(out.data(), data(), bytes());
  return out;
}

void Tensor::fill(float value) {
  float* p = f32();
  const std::size_t n = bytes() / sizeof(float);
  // A padded blocked layout must keep zeros in its padding.
  if (static_cast<std::int64_t>(n) != elems())
    throw std::logic_error("tensor: fill() on padded layout " + describe(desc_) +
                           "; fill a plain tensor and reorder it");
  std::fill(p, p + n, value);
}

void Tensor::zero() { std::memset(data(), 0, bytes()); }

std::string describe(const MemoryDesc& desc) {
  if (desc.data.ndims == 0) return "(undefined)";
  std::string text = detail::dims_text(desc.dims());
  switch (desc.data_type()) {
    case DataType::f32: text += " f32"; break;
    case DataType::s32: text += " s32"; break;
    case DataType::u8: text += " u8"; break;
    case DataType::s8: text += " s8"; break;
    default: text += " other"; break;
  }
  const Dims dims = desc.dims();
  if (dims.size() == 5 && desc == MemoryDesc(dims, desc.data_type(), Tag::ndhwc)) return text + " ndhwc";
  if (desc == MemoryDesc(dims, desc.data_type(), plain_tag(static_cast<int>(dims.size()))))
    return text + " plain";
  return text + " " + detail::desc_key(desc);
}

}  // namespace tensortier::runtime
