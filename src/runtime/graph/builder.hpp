// Appends forward ops to a Graph with shape inference: each call creates the
// op's parameters (named "<name>.weight", ".bias", ".scale", ...), its output
// activation and the tensors it keeps for the backward pass, and returns the
// output. Shapes follow the runtime ops (docs/runtime.md).
#pragma once

#include <string>
#include <vector>

#include "runtime/graph/graph.hpp"

namespace tensortier::runtime::graph {

struct LossSpec {
  double ce_weight = 1.0;     // softmax cross-entropy, mean over voxels
  double dice_weight = 1.0;   // soft Dice (1 - mean Dice over (sample, class))
  bool dice_background = false;
};

class Builder {
 public:
  explicit Builder(Graph& graph) : g_(graph) {}
  Graph& graph() noexcept { return g_; }

  // Fed each step: the image (N, C, D, H, W) plain f32 and labels (N, D, H, W) u8.
  TensorId input(const std::string& name, const Dims& dims);
  TensorId labels(const std::string& name, const Dims& dims);

  // The plain input in the activation layout (ndhwc).
  TensorId to_activation(TensorId src, const std::string& name);
  // Cubic kernel, stride 1, padding kernel / 2 ("same").
  TensorId conv3d(TensorId src, std::int64_t out_channels, int kernel, bool bias,
                  const std::string& name);
  // Kernel 2, stride 2: doubles D, H, W.
  TensorId conv_transpose3d(TensorId src, std::int64_t out_channels, bool bias,
                            const std::string& name);
  TensorId max_pool3d(TensorId src, const std::string& name);
  TensorId batch_norm3d(TensorId src, bool fuse_relu, const std::string& name,
                        float epsilon = 1e-5f, float momentum = 0.1f);
  TensorId activation(TensorId src, float negative_slope, const std::string& name);
  TensorId concat(const std::vector<TensorId>& srcs, const std::string& name);
  // Softmax + CE and/or soft Dice of logits (N, K, D, H, W) against labels.
  OpId loss(TensorId logits, TensorId labels, const LossSpec& spec, const std::string& name);

 private:
  TensorId activation_tensor(const std::string& name, const Dims& dims,
                             const std::vector<TensorId>& inputs);
  const Dims& dims(TensorId t) const { return g_.tensor(t).dims; }
  Graph& g_;
};

}  // namespace tensortier::runtime::graph
