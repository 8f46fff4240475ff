// Softmax of one voxel's C logits (contiguous in ndhwc), for the loss loops
// (not public). With the few classes of a segmentation head, a per-voxel loop
// beats oneDNN's softmax, whose kernel vectorises along the (tiny) class axis.
#pragma once

#include <cmath>
#include <cstdint>

namespace tensortier::runtime::detail {

// p[c] = softmax(z)[c]; returns log(sum_c exp(z_c)), so log p[c] = z[c] - lse.
inline float voxel_softmax(const float* z, float* p, std::int64_t classes) {
  float m = z[0];
  for (std::int64_t c = 1; c < classes; ++c) m = z[c] > m ? z[c] : m;
  float s = 0.f;
  for (std::int64_t c = 0; c < classes; ++c) {
    p[c] = std::exp(z[c] - m);
    s += p[c];
  }
  const float inv = 1.f / s;
  for (std::int64_t c = 0; c < classes; ++c) p[c] *= inv;
  return m + std::log(s);
}

}  // namespace tensortier::runtime::detail
