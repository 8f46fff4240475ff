// Class-label volumes for the losses (not public): (N, D, H, W) or
// (N, 1, D, H, W), u8 or s32, plain, one label per voxel in NDHW order —
// the voxel order of ndhwc logits.
#pragma once

#include <cstdint>

#include "op_support.hpp"

namespace tensortier::runtime::detail {

class Labels {
 public:
  // Checks `labels` against logits dims (N, C, D, H, W), and every value
  // against [0, C).
  Labels(const Tensor& labels, const Dims& logits, const char* op)
      : data_(labels.data()), u8_(labels.defined() && labels.data_type() == DataType::u8) {
    require(labels.defined() &&
                (labels.data_type() == DataType::u8 || labels.data_type() == DataType::s32) &&
                labels.is_plain(),
            op, "labels must be a plain u8 or s32 tensor");
    const Dims d = labels.dims();
    const bool ok4 = d.size() == 4 && d[0] == logits[0] && d[1] == logits[2] &&
                     d[2] == logits[3] && d[3] == logits[4];
    const bool ok5 = d.size() == 5 && d[0] == logits[0] && d[1] == 1 && d[2] == logits[2] &&
                     d[3] == logits[3] && d[4] == logits[4];
    require(ok4 || ok5, op,
            "labels " + dims_text(d) + " do not match logits " + dims_text(logits) +
                " (expected N x D x H x W or N x 1 x D x H x W)");
    voxels_ = labels.elems();
    std::int64_t bad = -1;
    for (std::int64_t v = 0; v < voxels_ && bad < 0; ++v) {
      const std::int32_t l = (*this)[v];
      if (l < 0 || l >= logits[1]) bad = v;
    }
    require(bad < 0, op,
            "label " + std::to_string(bad < 0 ? 0 : (*this)[bad]) + " at voxel " +
                std::to_string(bad) + " is outside [0, " + std::to_string(logits[1]) + ")");
  }

  std::int32_t operator[](std::int64_t v) const noexcept {
    return u8_ ? static_cast<const std::uint8_t*>(data_)[v] : static_cast<const std::int32_t*>(data_)[v];
  }
  std::int64_t voxels() const noexcept { return voxels_; }

 private:
  const void* data_;
  bool u8_;
  std::int64_t voxels_ = 0;
};

}  // namespace tensortier::runtime::detail
