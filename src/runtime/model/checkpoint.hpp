// Checkpoints of the 3D U-Net: the model config and every parameter (weights,
// biases, batch-norm scale and shift and running statistics) by name.
//
//   if (Status s = save_parameters("unet.ttckpt", config, trainer.parameters()); !s) ...
//   Result<Checkpoint> c = load_parameters("unet.ttckpt", allocator);
//   if (!c) ... c.status().message() names the file and what is wrong
//   check_parameters(graph, c->parameters);   // every tensor the graph needs, same dims
//
// Format (little-endian, version 1):
//
//   bytes      field
//   8          magic "TTCKPT1\0"
//   4 x 4      u32 levels, base_filters, in_channels, classes
//   4          u32 activation (0 relu, 1 leaky_relu)
//   4          f32 negative_slope
//   4 + 4      u32 batch_norm, conv_bias (0 or 1)
//   4          u32 tensor count
//   per tensor:
//     4        u32 name length (1..1024), then the name (no NUL)
//     4        u32 ndims (1..6), then ndims x i64 dims (each >= 1)
//     4 x n    f32 values, row-major (n = product of dims)
//   8          u64 FNV-1a (64-bit) of every byte before it
//
// save_parameters() writes "<path>.tmp.<pid>", syncs it and renames it over
// `path`, so a crash leaves either the old file or the new one. A missing,
// truncated, corrupt or foreign file is a Status naming the file.
#pragma once

#include <string>

#include "runtime/model/unet3d.hpp"
#include "tensortier/status.hpp"

namespace tensortier::runtime::model {

struct Checkpoint {
  UNet3dConfig config;
  Parameters parameters;  // plain f32 tensors from the allocator, in file order
};

// Errc::invalid_argument when a tensor is not plain f32 or names are bad;
// Errc::io_error when the file cannot be written.
Status save_parameters(const std::string& path, const UNet3dConfig& config,
                       const Parameters& parameters);

// Errc::not_found for a missing file, Errc::invalid_argument for a file that
// is not a valid checkpoint (wrong magic, truncated, checksum mismatch, bad
// fields), Errc::no_space when the allocator cannot hold the tensors.
Result<Checkpoint> load_parameters(const std::string& path, Allocator& allocator);

// Every weight and state tensor of `graph` has a parameter of the same name
// and dims; the message names the first one missing or different.
Status check_parameters(const graph::Graph& graph, const Parameters& parameters);

}  // namespace tensortier::runtime::model
