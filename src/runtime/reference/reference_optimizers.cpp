// Reference SGD-with-momentum and Adam steps (torch.optim semantics).
#include <cmath>

#include "reference.hpp"

namespace tensortier::runtime::reference {

void sgd_step(RefTensor& param, const RefTensor& grad, RefTensor& momentum, bool first_step,
              double lr, double mu, double dampening, double weight_decay, bool nesterov) {
  if (momentum.size() != param.size()) momentum = RefTensor(param.dims);
  for (std::size_t i = 0; i < param.size(); ++i) {
    double g = grad.v[i] + weight_decay * param.v[i];
    if (mu != 0) {
      momentum.v[i] = first_step ? g : mu * momentum.v[i] + (1 - dampening) * g;
      g = nesterov ? g + mu * momentum.v[i] : momentum.v[i];
    }
    param.v[i] -= lr * g;
  }
}

void adam_step(RefTensor& param, const RefTensor& grad, RefTensor& m, RefTensor& v,
               std::int64_t step, double lr, double beta1, double beta2, double epsilon,
               double weight_decay, bool decoupled) {
  if (m.size() != param.size()) m = RefTensor(param.dims);
  if (v.size() != param.size()) v = RefTensor(param.dims);
  const double c1 = 1 - std::pow(beta1, static_cast<double>(step));
  const double c2 = 1 - std::pow(beta2, static_cast<double>(step));
  for (std::size_t i = 0; i < param.size(); ++i) {
    double g = grad.v[i];
    if (decoupled) {
      param.v[i] *= 1 - lr * weight_decay;
    } else {
      g += weight_decay * param.v[i];
    }
    m.v[i] = beta1 * m.v[i] + (1 - beta1) * g;
    v.v[i] = beta2 * v.v[i] + (1 - beta2) * g * g;
    param.v[i] -= lr * (m.v[i] / c1) / (std::sqrt(v.v[i] / c2) + epsilon);
  }
}

}  // namespace tensortier::runtime::reference
