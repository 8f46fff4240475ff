// Optimizers, PyTorch semantics, updating parameter tensors in place. Each
// keeps one state tensor per parameter (allocated from the tensortier
// allocator, same layout as the parameter), so step() must get the same
// parameters in the same order every time. A gradient in another layout than
// its parameter is reordered first.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "tensortier/runtime/context.hpp"
#include "tensortier/runtime/tensor.hpp"

namespace tensortier::runtime {

struct SgdOptions {
  float lr = 0.01f;
  float momentum = 0.9f;
  float dampening = 0.f;
  float weight_decay = 0.f;  // L2: g += weight_decay * p
  bool nesterov = false;
};

// SGD with momentum (torch.optim.SGD): b = momentum * b + (1 - dampening) * g
// (b = g on the first step); p -= lr * (nesterov ? g + momentum * b : b).
class Sgd {
 public:
  explicit Sgd(SgdOptions options = {}) : options_(options) {}
  void step(Context& ctx, std::span<const Tensor> params, std::span<const Tensor> grads);
  SgdOptions& options() noexcept { return options_; }
  std::int64_t steps() const noexcept { return steps_; }

 private:
  SgdOptions options_;
  std::vector<Tensor> momentum_;
  std::int64_t steps_ = 0;
};

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.f;
  bool decoupled_weight_decay = false;  // AdamW: p -= lr * weight_decay * p instead of L2
};

// Adam (torch.optim.Adam / AdamW): m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
class Adam {
 public:
  explicit Adam(AdamOptions options = {}) : options_(options) {}
  void step(Context& ctx, std::span<const Tensor> params, std::span<const Tensor> grads);
  AdamOptions& options() noexcept { return options_; }
  std::int64_t steps() const noexcept { return steps_; }

 private:
  AdamOptions options_;
  std::vector<Tensor> m_, v_;
  std::int64_t steps_ = 0;
};

}  // namespace tensortier::runtime
