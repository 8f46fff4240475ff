// A synthetic brain-tumour case of any size written straight into the
// allocator's PMem tier (Hint::cold blocks), for tiled inference of volumes
// larger than DRAM: the generator (data/synthetic_brats.hpp) renders row by
// row into the destination, and its label and brain-mask outputs are PMem
// blocks too, so nothing volume-sized is held in DRAM.
//
//   Result<SyntheticVolume> v = generate_synthetic_volume(alloc, {1024, 1024, 1024}, 0, 4);
//   v->image.f32();   // (4, D, H, W) f32, z-scored inside the brain
//   v->labels.u8();   // (D, H, W) class ids mapped to the model's classes
#pragma once

#include <cstdint>

#include "runtime/data/synthetic_brats.hpp"
#include "runtime/infer/tiled.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/status.hpp"

namespace tensortier::runtime::infer {

struct SyntheticVolume {
  data::Dims3 dims;
  ColdBlock image;   // (kNumModalities, D, H, W) f32
  ColdBlock labels;  // (D, H, W) u8, the model's classes
  data::SyntheticCaseInfo info;
  double seconds = 0;
};

// Validation case `index` (the one `tensortier infer --case` segments) at
// `dims`, labels mapped to `classes` (2..4). Errors name the field.
Result<SyntheticVolume> generate_synthetic_volume(Allocator& allocator, const data::Dims3& dims,
                                                  std::uint64_t index, int classes);

}  // namespace tensortier::runtime::infer
