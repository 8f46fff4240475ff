// Execution context of the runtime: a CPU engine and stream, the primitive
// cache, the allocator every tensor and scratchpad comes from, and the layout
// activations are kept in. One context per thread of execution (the stream
// and the shared scratchpad are not thread-safe).
//
//   auto alloc = tensortier::Allocator::create(options);
//   tensortier::runtime::Context ctx(**alloc);
//   Tensor y = conv3d_forward(ctx, x, w, b, {.kernel = 3, .padding = 1}, &saved);
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>

#include <oneapi/dnnl/dnnl.hpp>

#include "tensortier/allocator.hpp"
#include "tensortier/runtime/primitive_cache.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

using Args = std::unordered_map<int, dnnl::memory>;

struct ContextOptions {
  // Layout of 5-D activations inside the runtime. ndhwc (channels-last) gets a
  // JIT or gemm kernel for every U-Net primitive on AVX2 and AVX-512, with no
  // reorder between a conv's forward and its backward-weights (docs/runtime.md).
  Tag activation_tag = Tag::ndhwc;
  // Placement hint for tensors the ops allocate.
  Hint hint = Hint::automatic;
};

class Context {
 public:
  explicit Context(Allocator& allocator, ContextOptions options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Allocator& allocator() const noexcept { return allocator_; }
  const dnnl::engine& engine() const noexcept { return engine_; }
  dnnl::stream& stream() noexcept { return stream_; }
  PrimitiveCache& cache() noexcept { return cache_; }
  const ContextOptions& options() const noexcept { return options_; }

  // `dims` (N,C,D,H,W) in the activation layout.
  MemoryDesc activation_desc(const Dims& dims) const;
  // `t` in the activation layout (itself when already there).
  Tensor to_activation(const Tensor& t);

  // Tensors from the allocator with the context's hint.
  Tensor empty(const MemoryDesc& desc) { return Tensor::empty(allocator_, desc, options_.hint); }
  Tensor zeros(const MemoryDesc& desc) { return Tensor::zeros(allocator_, desc, options_.hint); }

  // Runs `primitive` and waits. A non-empty `scratchpad` descriptor gets the
  // context's shared user scratchpad, grown from the allocator when too small.
  void execute(const dnnl::primitive& primitive, const MemoryDesc& scratchpad, Args args);

  // Copies src into dst across layouts (a reorder primitive cached by the two
  // descriptors; either may be a sub-memory, e.g. a channel range).
  void reorder(const dnnl::memory& src, const dnnl::memory& dst);
  void reorder(const Tensor& src, const Tensor& dst);

  // Bytes of the shared scratchpad (counted by the allocator like any block).
  std::size_t scratchpad_bytes() const noexcept;

 private:
  Allocator& allocator_;
  ContextOptions options_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  PrimitiveCache cache_;
  std::unique_ptr<Storage> scratchpad_;
};

}  // namespace tensortier::runtime
