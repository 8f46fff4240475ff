// Sliding-window (tiled) inference of a volume larger than memory: the 3D
// U-Net runs on one window (tile) at a time, and the per-class probabilities
// of the windows are blended into the whole volume with a Gaussian importance
// map (nnU-Net style: sigma = tile / 8 per axis, normalised to 1 at the
// centre, clamped away from 0), then optionally reduced to arg-max labels.
//
//   ColdBlock volume = ColdBlock::allocate(alloc, 4 * voxels * sizeof(float));  // PMem
//   ... write the (C, D, H, W) image into volume.f32() ...
//   TiledInference tiled(ctx, config, params, {.tile = {64, 64, 64}, .overlap = 0.5});
//   Result<TiledResult> r = tiled.run(volume.f32(), {512, 512, 512});
//   r->labels.u8();          // (D, H, W) arg max, in PMem
//   r->probabilities.f32();  // (K, D, H, W) blended probabilities, in PMem
//
// Memory: the input volume, the accumulators (one sum per class and voxel;
// the weight sum is separable and kept as three per-axis vectors) and the
// outputs are blocks of the allocator placed with Hint::cold (the PMem tier;
// large blocks are file-mapped). In DRAM: the window batch, its inference
// arena (one reuse plan, computed once for the window graph) and the weights.
//
// Exactness: with one window per axis (tile == volume) every weight is
// exactly 1, so the probabilities equal softmax(whole-volume logits) bit for
// bit and the labels their arg max. With several windows the blend differs
// from whole-volume inference near window borders (the U-Net's receptive
// field is cut there); docs/tiled_inference.md gives the measured agreement.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/synthetic_brats.hpp"
#include "runtime/model/unet3d.hpp"
#include "runtime/plan/reuse_plan.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/runtime/context.hpp"
#include "tensortier/status.hpp"

namespace tensortier::runtime::infer {

// One allocator block placed with Hint::cold (PMem first), freed on destruction.
class ColdBlock {
 public:
  ColdBlock() = default;
  // Throws std::bad_alloc when no tier has room.
  static ColdBlock allocate(Allocator& allocator, std::size_t bytes);
  ~ColdBlock() { reset(); }
  ColdBlock(ColdBlock&& other) noexcept { *this = std::move(other); }
  ColdBlock& operator=(ColdBlock&& other) noexcept;
  ColdBlock(const ColdBlock&) = delete;
  ColdBlock& operator=(const ColdBlock&) = delete;
  void reset() noexcept;

  void* data() const noexcept { return data_; }
  float* f32() const noexcept { return static_cast<float*>(data_); }
  std::uint8_t* u8() const noexcept { return static_cast<std::uint8_t*>(data_); }
  std::size_t bytes() const noexcept { return bytes_; }
  explicit operator bool() const noexcept { return data_ != nullptr; }

 private:
  Allocator* allocator_ = nullptr;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

struct TiledProgress {
  std::uint64_t windows_done = 0;
  std::uint64_t windows = 0;
  double seconds = 0;             // since the first window started
  double voxels_per_second = 0;   // window voxels (overlap included) per second so far
  double eta_seconds = 0;         // remaining windows at the rate so far
};

struct TiledOptions {
  data::Dims3 tile{64, 64, 64};  // each divisible by 2^(levels - 1), at most the volume's
  double overlap = 0.5;          // fraction of the tile shared by neighbours, [0, 1)
  int batch = 1;                 // windows per inference pass
  bool probabilities = true;     // keep the normalised probabilities (K floats per voxel)
  bool labels = true;            // arg max into a u8 volume
  // Called after every inference pass (the last one has windows_done == windows).
  std::function<void(const TiledProgress&)> progress;
};

// Window starts along one axis (nnU-Net's rule): n = ceil((size - tile) /
// (tile * (1 - overlap))) + 1 windows spread evenly, the first at 0 and the
// last flush with the end (size - tile). Needs 1 <= tile <= size.
std::vector<int> window_starts(int size, int tile, double overlap);

// The importance of each voxel of a window along one axis: a Gaussian with
// sigma = tile / 8 centred on the window, 1 at the centre, at least 1e-6.
// `flat` (one window along the axis): all 1, as the weight cancels there.
std::vector<float> importance_1d(int tile, bool flat);

// Checks the options against the model and a volume of `volume` voxels; the
// message names the option (tile, overlap, batch) and what is accepted.
Status validate(const model::UNet3dConfig& config, const data::Dims3& volume,
                const TiledOptions& options);

struct TiledResult {
  std::array<std::vector<int>, 3> starts;  // window starts along D, H, W
  std::uint64_t windows = 0;
  std::uint64_t passes = 0;                // inference passes (batch windows each)
  std::uint64_t window_voxels = 0;         // windows * tile voxels (overlap counted each time)
  double seconds = 0;                      // windows + final pass
  double window_seconds = 0;               // the window loop alone
  double first_pass_seconds = 0;           // includes creating the oneDNN primitives
  double infer_seconds = 0;                // inside Executor::infer
  double finalize_seconds = 0;             // normalisation and arg max
  int accumulator_tier = -1;               // Allocator::tiers() index of the sums' block
  ColdBlock probabilities;                 // (K, D, H, W) f32 when options.probabilities
  ColdBlock labels;                        // (D, H, W) u8 when options.labels
};

// The window graph (batch, C, tile) built and planned once; run() slides it
// over volumes. The context's allocator holds everything; weights are bound
// from `params` by name (init_parameters or a checkpoint of the same model).
class TiledInference {
 public:
  // Throws std::invalid_argument when the tile does not suit the model or
  // a parameter is missing.
  TiledInference(Context& ctx, const model::UNet3dConfig& config,
                 const model::Parameters& params, TiledOptions options);
  ~TiledInference();
  TiledInference(const TiledInference&) = delete;
  TiledInference& operator=(const TiledInference&) = delete;

  // `volume`: (C, D, H, W) f32 with C = config.in_channels. Errc::invalid_argument
  // when validate() fails for these dims; std::bad_alloc when the tiers are full.
  Result<TiledResult> run(const float* volume, const data::Dims3& dims);

  const plan::ReusePlan& window_plan() const noexcept;
  const graph::Graph& window_graph() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// softmax over K classes of logits (K, V) f32 plain, one voxel at a time: the
// function tiled inference applies to each window (so whole-volume references
// compare bit for bit). Writes (K, V) probabilities.
void softmax_classes(const float* logits, float* probabilities, int classes, std::size_t voxels);

// Arg max over K of (K, V) values -> V class ids (first max on ties).
void argmax_classes(const float* values, std::uint8_t* labels, int classes, std::size_t voxels);

// The reuse plan of whole-volume inference (batch 1, the volume's dims
// rounded up to a multiple of 2^(levels - 1)) computed from shapes alone:
// nothing is allocated. `rounded` receives the dims planned.
plan::ReusePlan whole_volume_plan(const model::UNet3dConfig& config, const data::Dims3& dims,
                                  data::Dims3* rounded = nullptr);

// Fraction of voxels where a and b agree.
double agreement(const std::uint8_t* a, const std::uint8_t* b, std::size_t voxels);

}  // namespace tensortier::runtime::infer
