// Cache keys and argument checks shared by the ops.
#include "op_support.hpp"

namespace tensortier::runtime::detail {

std::string dims_text(const Dims& dims) {
  std::string text;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) text += 'x';
    text += std::to_string(dims[i]);
  }
  return text;
}

std::string desc_key(const MemoryDesc& desc) {
  const dnnl_memory_desc_t& d = desc.data;
  std::string key = dims_text(desc.dims()) + ":t" + std::to_string(static_cast<int>(d.data_type));
  if (d.format_kind != dnnl_blocked) return key + ":k" + std::to_string(d.format_kind);
  const dnnl_blocking_desc_t& b = d.format_desc.blocking;
  key += ":s";
  for (int i = 0; i < d.ndims; ++i) key += std::to_string(b.strides[i]) + ",";
  for (int i = 0; i < b.inner_nblks; ++i)
    key += "b" + std::to_string(b.inner_idxs[i]) + "." + std::to_string(b.inner_blks[i]);
  if (d.offset0 != 0) key += ":o" + std::to_string(d.offset0);
  return key;
}

void require_f32(const Tensor& t, int ndims, const char* op, const char* name) {
  require(t.defined(), op, std::string(name) + " is undefined");
  require(t.data_type() == DataType::f32 && t.ndims() == ndims, op,
          std::string(name) + " is " + describe(t.desc()) + "; expected " +
              std::to_string(ndims) + "-D f32");
}

}  // namespace tensortier::runtime::detail
