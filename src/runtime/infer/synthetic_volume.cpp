// Synthetic volumes in PMem: the generator writes into Hint::cold blocks.
#include "runtime/infer/synthetic_volume.hpp"

#include <chrono>

#include "runtime/train/trainer.hpp"

namespace tensortier::runtime::infer {

Result<SyntheticVolume> generate_synthetic_volume(Allocator& allocator, const data::Dims3& dims,
                                                  std::uint64_t index, int classes) {
  data::SyntheticCaseSpec spec;
  spec.dims = dims;
  spec.seed = data::case_seed(data::Split::validation, index);
  if (Status s = data::validate(spec); !s) return s;
  if (classes < 2 || classes > data::kNumClasses)
    return Status(Errc::invalid_argument,
                  "classes " + std::to_string(classes) + ": accepted: 2..4 for synthetic data");
  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t voxels = dims.voxels();
  SyntheticVolume v;
  v.dims = dims;
  v.image = ColdBlock::allocate(allocator, voxels * data::kNumModalities * sizeof(float));
  v.labels = ColdBlock::allocate(allocator, voxels);
  {
    const ColdBlock mask = ColdBlock::allocate(allocator, voxels);
    auto info = data::generate_into(v.image.f32(), v.labels.u8(), spec, mask.u8());
    if (!info) return info.status().with_context("synthetic case " + std::to_string(index));
    v.info = std::move(*info);
  }
  train::map_labels(v.labels.u8(), voxels, classes);
  v.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return v;
}

}  // namespace tensortier::runtime::infer
