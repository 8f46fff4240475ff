// RefTensor and conversions to/from runtime tensors.
#include "reference.hpp"

namespace tensortier::runtime::reference {

RefTensor::RefTensor(Dims d, double fill) : dims(std::move(d)) {
  std::size_t n = 1;
  for (auto x : dims) n *= static_cast<std::size_t>(x);
  v.assign(n, fill);
}

RefTensor from_tensor(Context& ctx, const Tensor& t) {
  const std::vector<float> values = t.to_vector(ctx);
  RefTensor r;
  r.dims = t.dims();
  r.v.assign(values.begin(), values.end());
  return r;
}

Tensor to_tensor(Allocator& allocator, const RefTensor& r) {
  std::vector<float> values(r.v.begin(), r.v.end());
  return Tensor::from_plain(allocator, r.dims, values);
}

}  // namespace tensortier::runtime::reference
