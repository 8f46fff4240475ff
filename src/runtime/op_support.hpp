// Helpers shared by the op files (not public): cache keys from descriptors,
// argument checks, the primitive attributes every op uses.
#pragma once

#include <stdexcept>
#include <string>

#include <oneapi/dnnl/dnnl.hpp>

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime::detail {

// A string that identifies a memory descriptor (dims, type, strides, blocks).
std::string desc_key(const MemoryDesc& desc);
std::string dims_text(const Dims& dims);

// Throws std::invalid_argument("<op>: <what>") unless `ok`.
inline void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}
// Checks that `t` is defined, f32 and has `ndims` dimensions.
void require_f32(const Tensor& t, int ndims, const char* op, const char* name);

// Attributes for every primitive: user-managed scratchpad, so the scratchpad
// comes from the tensortier allocator.
inline dnnl::primitive_attr user_scratchpad_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// Records pd's implementation name under `key`/`role` and returns pd.
template <typename PD>
const PD& noted(Context& ctx, const std::string& key, const char* role, const PD& pd) {
  ctx.cache().note_impl(key, role, pd.impl_info_str());
  return pd;
}

// `t` in layout `desc` (a cached reorder when it differs).
inline Tensor as_layout(Context& ctx, const Tensor& t, const MemoryDesc& desc) {
  return t.to(ctx, desc);
}

}  // namespace tensortier::runtime::detail
