// Plain-loop reference kernels of every runtime op, forward and backward, in
// double on row-major (NCDHW) arrays. For tests only (the runtime computes
// through oneDNN): op results are checked against these, and these (and the
// ops) against finite differences.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime::reference {

// A dense row-major array of doubles.
struct RefTensor {
  Dims dims;
  std::vector<double> v;

  RefTensor() = default;
  explicit RefTensor(Dims d, double fill = 0.0);
  std::size_t size() const noexcept { return v.size(); }
  // Row-major index of (n, c, d, h, w) for 5-D arrays.
  std::size_t at(std::int64_t n, std::int64_t c, std::int64_t z, std::int64_t y,
                 std::int64_t x) const noexcept {
    return static_cast<std::size_t>((((n * dims[1] + c) * dims[2] + z) * dims[3] + y) * dims[4] + x);
  }
};

// Tensor (any layout) -> RefTensor, and RefTensor -> plain f32 Tensor.
RefTensor from_tensor(Context& ctx, const Tensor& t);
Tensor to_tensor(Allocator& allocator, const RefTensor& r);

// ---- convolutions (weights OIDHW) ------------------------------------------
RefTensor conv3d_forward(const RefTensor& src, const RefTensor& weights, const RefTensor* bias,
                         int kernel, int padding);
RefTensor conv3d_backward_data(const RefTensor& diff_dst, const RefTensor& weights,
                               const Dims& src_dims, int kernel, int padding);
void conv3d_backward_weights(const RefTensor& src, const RefTensor& diff_dst, int kernel,
                             int padding, RefTensor& diff_weights, RefTensor* diff_bias);

// Transposed convolution, kernel 2, stride 2; weights (OC, IC, 2, 2, 2).
RefTensor conv_transpose3d_forward(const RefTensor& src, const RefTensor& weights,
                                   const RefTensor* bias);
RefTensor conv_transpose3d_backward_data(const RefTensor& diff_dst, const RefTensor& weights,
                                         const Dims& src_dims);
void conv_transpose3d_backward_weights(const RefTensor& src, const RefTensor& diff_dst,
                                       RefTensor& diff_weights, RefTensor* diff_bias);

// ---- layers ----------------------------------------------------------------
RefTensor max_pool3d_forward(const RefTensor& src);
RefTensor max_pool3d_backward(const RefTensor& src, const RefTensor& diff_dst);

RefTensor relu_forward(const RefTensor& src, double negative_slope);
RefTensor relu_backward(const RefTensor& src, const RefTensor& diff_dst, double negative_slope);

struct BatchNormStats {
  RefTensor mean, variance;  // biased variance
};
RefTensor batch_norm_forward_training(const RefTensor& src, const RefTensor& scale,
                                      const RefTensor& shift, double epsilon, bool fuse_relu,
                                      BatchNormStats* stats);
RefTensor batch_norm_forward_inference(const RefTensor& src, const RefTensor& scale,
                                       const RefTensor& shift, const RefTensor& mean,
                                       const RefTensor& variance, double epsilon);
RefTensor batch_norm_backward(const RefTensor& src, const RefTensor& diff_dst,
                              const RefTensor& scale, const RefTensor& shift, double epsilon,
                              bool fuse_relu, RefTensor& diff_scale, RefTensor& diff_shift);

RefTensor concat_channels(std::span<const RefTensor> srcs);
std::vector<RefTensor> split_channels(const RefTensor& diff_dst,
                                      std::span<const std::int64_t> channels);

// ---- softmax over channels, and losses (labels: one class per voxel, NDHW) ---
RefTensor softmax_channels(const RefTensor& logits);
double cross_entropy(const RefTensor& logits, std::span<const int> labels);
RefTensor cross_entropy_backward(const RefTensor& logits, std::span<const int> labels);
double dice_loss(const RefTensor& logits, std::span<const int> labels, double smooth,
                 bool include_background);
RefTensor dice_loss_backward(const RefTensor& logits, std::span<const int> labels, double smooth,
                             bool include_background);

// ---- optimizers (one parameter, in place) -----------------------------------
void sgd_step(RefTensor& param, const RefTensor& grad, RefTensor& momentum, bool first_step,
              double lr, double mu, double dampening, double weight_decay, bool nesterov);
void adam_step(RefTensor& param, const RefTensor& grad, RefTensor& m, RefTensor& v,
               std::int64_t step, double lr, double beta1, double beta2, double epsilon,
               double weight_decay, bool decoupled);

}  // namespace tensortier::runtime::reference
