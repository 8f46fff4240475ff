// Tensor: an f32 (or integer label) array whose storage is one block of the
// tensortier allocator, so every byte is counted per tier. The layout is a
// oneDNN memory descriptor: plain NCDHW at the API, channels-last (ndhwc) or a
// blocked layout inside the runtime (docs/runtime.md). Tensors are cheap
// handles: copies share storage, clone() copies the data.
//
//   tensortier::runtime::Tensor x = Tensor::empty(alloc, {2, 4, 32, 32, 32});  // NCDHW f32
//   x.fill(0.f);
//   Tensor y = x.to(ctx, Tensor::channels_last(x.dims()));                     // reorder
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "tensortier/allocator.hpp"

namespace tensortier::runtime {

using Dims = dnnl::memory::dims;
using Tag = dnnl::memory::format_tag;
using DataType = dnnl::memory::data_type;
using MemoryDesc = dnnl::memory::desc;

class Context;

// Owns one allocator block; frees it when the last Tensor sharing it goes.
// Or, made from a parent Storage, views `bytes` at `offset` inside it (an
// arena of a memory plan) and keeps the parent alive; a view frees nothing.
class Storage {
 public:
  Storage(Allocator& allocator, std::size_t bytes, Hint hint);
  // Throws std::invalid_argument when [offset, offset + bytes) is not inside parent.
  Storage(std::shared_ptr<Storage> parent, std::size_t offset, std::size_t bytes);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const noexcept { return data_; }
  std::size_t bytes() const noexcept { return bytes_; }
  Allocator& allocator() const noexcept { return *allocator_; }
  // The storage this one views (nullptr for an allocator block).
  const std::shared_ptr<Storage>& parent() const noexcept { return parent_; }

 private:
  Allocator* allocator_;
  void* data_;
  std::size_t bytes_;
  std::shared_ptr<Storage> parent_;
};

class Tensor {
 public:
  Tensor() = default;

  // Uninitialised storage for `desc` (any layout oneDNN can describe).
  static Tensor empty(Allocator& allocator, const MemoryDesc& desc, Hint hint = Hint::automatic);
  // Plain row-major (NCDHW for 5-D, OIDHW for weights, x for 1-D) storage.
  static Tensor empty(Allocator& allocator, const Dims& dims, DataType type = DataType::f32,
                      Hint hint = Hint::automatic);
  static Tensor zeros(Allocator& allocator, const MemoryDesc& desc, Hint hint = Hint::automatic);
  // A tensor over existing storage (e.g. a view into an arena); throws
  // std::invalid_argument when `desc` needs more bytes than it has.
  static Tensor over(std::shared_ptr<Storage> storage, const MemoryDesc& desc);
  // A plain tensor holding a copy of `values` (row-major, NCDHW for 5-D).
  static Tensor from_plain(Allocator& allocator, const Dims& dims, std::span<const float> values,
                           Hint hint = Hint::automatic);

  // Descriptors for the layouts the runtime uses.
  static MemoryDesc plain(const Dims& dims, DataType type = DataType::f32);  // abcde...
  static MemoryDesc channels_last(const Dims& dims);                           // ndhwc, f32

  bool defined() const noexcept { return storage_ != nullptr; }
  const MemoryDesc& desc() const noexcept { return desc_; }
  Dims dims() const { return desc_.dims(); }
  int ndims() const noexcept { return desc_.data.ndims; }
  std::int64_t dim(int i) const noexcept { return desc_.data.dims[i]; }
  DataType data_type() const noexcept { return desc_.data_type(); }
  std::int64_t elems() const noexcept;
  std::size_t bytes() const noexcept { return desc_.get_size(); }  // incl. layout padding
  bool is_plain() const { return desc_ == plain(dims(), data_type()); }
  bool is_channels_last() const;
  bool same_layout(const Tensor& other) const { return desc_ == other.desc_; }

  void* data() const noexcept { return storage_ ? storage_->data() : nullptr; }
  float* f32() const;  // throws std::logic_error unless data_type() is f32
  template <typename T>
  T* data_as() const noexcept { return static_cast<T*>(data()); }
  const std::shared_ptr<Storage>& storage() const noexcept { return storage_; }

  // A oneDNN memory object over this tensor's storage (no copy).
  dnnl::memory memory(const dnnl::engine& engine) const;
  // The same storage seen through another descriptor of no larger size
  // (e.g. a reshape); throws std::invalid_argument if it does not fit.
  Tensor view(const MemoryDesc& desc) const;

  // This tensor in layout `desc`: itself when already there, else a reordered
  // copy (cached reorder primitive).
  Tensor to(Context& ctx, const MemoryDesc& desc) const;
  Tensor to_plain(Context& ctx) const { return to(ctx, plain(dims(), data_type())); }
  // A row-major (NCDHW) copy of the values, whatever the layout.
  std::vector<float> to_vector(Context& ctx) const;
  // Sets the values from a row-major (NCDHW) array, whatever the layout.
  void copy_from(Context& ctx, std::span<const float> values);
  Tensor clone(Allocator& allocator) const;

  // Every element to `value` (f32 layouts without padding; throws
  // std::logic_error on a padded blocked layout), or every stored byte to 0.
  void fill(float value);
  void zero();

 private:
  Tensor(std::shared_ptr<Storage> storage, MemoryDesc desc)
      : storage_(std::move(storage)), desc_(std::move(desc)) {}

  std::shared_ptr<Storage> storage_;
  MemoryDesc desc_;
};

// "2x4x32x32x32 f32 ndhwc" for messages.
std::string describe(const MemoryDesc& desc);

}  // namespace tensortier::runtime
