// 3D U-Net (Çiçek et al. 2016; the Intel/Dell BraTS model is 5 levels, base
// 16 or 32 filters): `levels` resolution levels with base_filters * 2^l
// filters at level l; two conv-norm-activation blocks per level; 2x2x2 max
// pooling down, 2x2x2 stride-2 transposed convolution up; the skip of each
// encoder level concatenated before the decoder blocks (skip first, then the
// up-sampled tensor, as torch.cat([skip, up], 1)); a 1x1x1 conv head to the
// class logits. Built as forward ops of a Graph, with the loss.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "runtime/graph/builder.hpp"
#include "tensortier/status.hpp"

namespace tensortier::runtime::model {

enum class Activation : std::uint8_t { relu, leaky_relu };

struct UNet3dConfig {
  int levels = 5;        // resolution levels incl. the bottom one; D, H, W divisible by 2^(levels-1)
  int base_filters = 16;  // filters of level 0; doubled per level
  int in_channels = 4;    // MRI modalities
  int classes = 4;        // output classes (softmax)
  Activation activation = Activation::relu;  // ReLU is fused into the batch norm
  float negative_slope = 0.01f;              // LeakyReLU
  bool batch_norm = true;
  // Bias on the 3x3x3 convs; a following batch norm makes it redundant, so
  // the default is "only without batch norm". The transposed convs and the
  // head always have one.
  bool conv_bias = false;
};

// Checks the config against an input of `dims` (N, C, D, H, W); the message
// names the field and what is accepted.
Status validate(const UNet3dConfig& config, const Dims& input);

struct UNet3dGraph {
  graph::TensorId image = graph::kNoTensor;   // (N, in_channels, D, H, W) plain f32
  graph::TensorId labels = graph::kNoTensor;  // (N, D, H, W) u8
  graph::TensorId logits = graph::kNoTensor;  // (N, classes, D, H, W)
  graph::OpId loss = graph::kNoOp;
};

// Appends the forward ops of the network and the loss to `graph`. Throws
// std::invalid_argument when validate() fails.
UNet3dGraph build_unet3d(graph::Graph& graph, const UNet3dConfig& config, const Dims& input,
                         const graph::LossSpec& loss);

// The persistent tensors of a graph (weights and running statistics) with
// PyTorch's default initialisation: conv and transposed-conv weights and
// biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (fan_in as PyTorch computes it),
// batch-norm scale 1, shift 0, running mean 0, running variance 1. Each
// tensor draws from its own stream keyed by (seed, name), so the values of a
// layer do not depend on the rest of the network.
struct Parameters {
  std::vector<std::string> names;
  std::vector<Tensor> tensors;  // plain, from the allocator
  // The tensor called `name`; throws std::out_of_range if none.
  const Tensor& at(const std::string& name) const;
  std::uint64_t bytes() const;
  std::uint64_t count() const;  // elements of the trainable weights
};
Parameters init_parameters(const graph::Graph& graph, Allocator& allocator, std::uint64_t seed);

}  // namespace tensortier::runtime::model
