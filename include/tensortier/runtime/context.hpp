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
#include <vector>

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

  // Tensors from the allocator with the context's hint, or from an armed
  // placement (below) that matches.
  Tensor empty(const MemoryDesc& desc);
  Tensor zeros(const MemoryDesc& desc);

  // Placements: storage for tensors an op is about to create (a memory
  // plan's arena, armed by the executor around one op). empty() and zeros()
  // give the first unused placement whose dims and data type match the
  // descriptor and whose storage is large enough; other requests (an op's
  // internal temporaries) come from the allocator as usual. Each placement
  // is used at most once; the caller checks where the outputs landed.
  struct Placement {
    Dims dims;
    DataType type = DataType::f32;
    std::shared_ptr<Storage> storage;
  };
  void arm_placements(std::vector<Placement> placements);
  // Disarms them; returns how many were not used.
  std::size_t clear_placements() noexcept;

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
  std::vector<Placement> placements_;  // armed, not yet used (storage reset once used)
};

}  // namespace tensortier::runtime
