// SGD with momentum and Adam: one vectorisable loop per parameter.
#include "tensortier/runtime/optimizers.hpp"

#include <cmath>

#include "op_support.hpp"

namespace tensortier::runtime {

namespace {

// Checks the lists and returns each gradient in its parameter's layout.
std::vector<Tensor> matched_grads(Context& ctx, std::span<const Tensor> params,
                                  std::span<const Tensor> grads, std::size_t known,
                                  const char* op) {
  detail::require(params.size() == grads.size(), op,
                  std::to_string(params.size()) + " params but " + std::to_string(grads.size()) +
                      " grads");
  detail::require(known == 0 || known == params.size(), op,
                  "step with " + std::to_string(params.size()) + " params after " +
                      std::to_string(known) + " before");
  std::vector<Tensor> out;
  out.reserve(grads.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    detail::require(params[i].defined() && params[i].data_type() == DataType::f32, op,
                    "param " + std::to_string(i) + " is not a defined f32 tensor");
    detail::require(grads[i].defined() && grads[i].dims() == params[i].dims(), op,
                    "grad " + std::to_string(i) + " does not match param " +
                        describe(params[i].desc()));
    out.push_back(grads[i].to(ctx, params[i].desc()));
  }
  return out;
}

std::size_t floats(const Tensor& t) { return t.bytes() / sizeof(float); }

}  // namespace

void Sgd::step(Context& ctx, std::span<const Tensor> params, std::span<const Tensor> grads) {
  const std::vector<Tensor> g = matched_grads(ctx, params, grads, momentum_.size(), "sgd");
  const bool first = momentum_.empty();
  const SgdOptions o = options_;
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (first && o.momentum != 0.f) momentum_.push_back(ctx.zeros(params[i].desc()));
    float* __restrict p = params[i].f32();
    const float* __restrict gi = g[i].f32();
    const std::size_t n = floats(params[i]);
    if (o.momentum == 0.f) {
      for (std::size_t j = 0; j < n; ++j) p[j] -= o.lr * (gi[j] + o.weight_decay * p[j]);
      continue;
    }
    float* __restrict b = momentum_[i].f32();
    const float keep = steps_ == 0 ? 0.f : o.momentum;
    const float take = steps_ == 0 ? 1.f : 1.f - o.dampening;
    for (std::size_t j = 0; j < n; ++j) {
      const float grad = gi[j] + o.weight_decay * p[j];
      b[j] = keep * b[j] + take * grad;
      p[j] -= o.lr * (o.nesterov ? grad + o.momentum * b[j] : b[j]);
    }
  }
  steps_ += 1;
}

void Adam::step(Context& ctx, std::span<const Tensor> params, std::span<const Tensor> grads) {
  const std::vector<Tensor> g = matched_grads(ctx, params, grads, m_.size(), "adam");
  if (m_.empty()) {
    for (const Tensor& p : params) {
      m_.push_back(ctx.zeros(p.desc()));
      v_.push_back(ctx.zeros(p.desc()));
    }
  }
  steps_ += 1;
  const AdamOptions o = options_;
  const float c1 = 1.f - static_cast<float>(std::pow(o.beta1, steps_));
  const float c2 = 1.f - static_cast<float>(std::pow(o.beta2, steps_));
  const float step_size = o.lr / c1;
  const float inv_sqrt_c2 = 1.f / std::sqrt(c2);
  const float l2 = o.decoupled_weight_decay ? 0.f : o.weight_decay;
  const float decay = o.decoupled_weight_decay ? 1.f - o.lr * o.weight_decay : 1.f;
  for (std::size_t i = 0; i < params.size(); ++i) {
    float* __restrict p = params[i].f32();
    const float* __restrict gi = g[i].f32();
    float* __restrict m = m_[i].f32();
    float* __restrict v = v_[i].f32();
    const std::size_t n = floats(params[i]);
    for (std::size_t j = 0; j < n; ++j) {
      const float grad = gi[j] + l2 * p[j];
      m[j] = o.beta1 * m[j] + (1.f - o.beta1) * grad;
      v[j] = o.beta2 * v[j] + (1.f - o.beta2) * grad * grad;
      p[j] = decay * p[j] - step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_c2 + o.epsilon);
    }
  }
}

}  // namespace tensortier::runtime
