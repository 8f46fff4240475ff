// Synthetic brain-tumour MRI cases shaped like BraTS, generated from a seed.
//
// A case is a skull-stripped brain (deformed ellipsoid with white matter,
// cortex, sulcal CSF, ventricles and deep grey nuclei) carrying 1-3 tumours,
// each an edema halo around an enhancing rim around an optional necrotic core,
// imaged in 4 modalities with per-tissue contrasts, partial volume at tissue
// edges, a multiplicative bias field per modality and Gaussian noise, then
// z-score normalised inside the brain mask (background stays exactly 0).
// docs/data.md describes the model, the label mapping and the seed splits.
//
// Determinism: the output is a pure function of the spec. Only +, -, *, / and
// sqrt are used on floating-point values (no libm transcendental, no
// std::*_distribution), randomness comes from splitmix64/xoshiro256** and
// counter-based hashing, and the .cpp forbids contracting a*b+c into FMA, so
// any IEEE-754 target and optimisation level gives the same bytes, except
// under -ffast-math (checked on x86-64: GCC 12 -O0/-O2/-O3 -march=native,
// Clang 14 -O0/-O2 -march=native). Reentrant: no global state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tensortier/status.hpp"

namespace tensortier::data {

// Bumped whenever the generator changes its output for a given spec: a run
// reports it so results on "synthetic BraTS v<N>" stay comparable.
inline constexpr int kSyntheticBratsVersion = 1;

inline constexpr int kNumModalities = 4;
// Channel order of the image (C in NCDHW).
enum class Modality : std::uint8_t { t1 = 0, t1gd = 1, t2 = 2, flair = 3 };
const char* modality_name(Modality m) noexcept;  // "t1", "t1gd", "t2", "flair"

// Compact class ids stored in the label volume. They equal the BraTS 2023
// labels; BraTS 2017-2021 files store enhancing tumour as 4 (see
// class_from_brats_label). Nesting: necrotic inside enhancing inside edema.
inline constexpr int kNumClasses = 4;
enum class TumourClass : std::uint8_t {
  background = 0,  // outside the brain and healthy brain tissue
  necrotic = 1,    // NCR: necrotic (non-enhancing) tumour core
  edema = 2,       // ED: peritumoral edema
  enhancing = 3,   // ET: enhancing tumour
};
const char* class_name(TumourClass c) noexcept;  // "background", "necrotic", ...

// BraTS label (0, 1, 2, 3 of 2023 or 4 of 2017-2021 for ET) -> class id;
// any other value -> background.
std::uint8_t class_from_brats_label(int brats_label) noexcept;
// BraTS evaluation regions over class ids.
constexpr bool in_whole_tumour(std::uint8_t c) noexcept { return c != 0 && c < kNumClasses; }
constexpr bool in_tumour_core(std::uint8_t c) noexcept { return c == 1 || c == 3; }
constexpr bool in_enhancing_tumour(std::uint8_t c) noexcept { return c == 3; }

// D = axial slices (inferior -> superior), H = posterior -> anterior,
// W = right -> left; C-order, so a BraTS 240x240x155 NIfTI is {155, 240, 240}.
struct Dims3 {
  int depth = 96;
  int height = 96;
  int width = 96;
  std::size_t voxels() const noexcept {
    return static_cast<std::size_t>(depth) * static_cast<std::size_t>(height) *
           static_cast<std::size_t>(width);
  }
  friend bool operator==(const Dims3&, const Dims3&) = default;
};

struct SyntheticCaseSpec {
  Dims3 dims;              // each in [kMinDim, kMaxDim]
  std::uint64_t seed = 0;  // the case; see case_seed() for the split convention
  int min_tumours = 1;     // number drawn uniformly in [min, max], 0 <= min <= max <= kMaxTumours
  int max_tumours = 3;
  float noise_sigma = 0.07f;    // Gaussian noise std relative to white matter on T1, [0, 1]
  float bias_strength = 0.15f;  // max relative deviation of the bias field, [0, 0.5]
  bool normalize = true;        // z-score each modality inside the brain mask

  static constexpr int kMinDim = 24;  // below, voxels exceed ~8 mm and a tumour fills the brain
  static constexpr int kMaxDim = 1024;
  static constexpr int kMaxTumours = 8;
};

// Checks the spec; the message names the field, the value and what is accepted.
Status validate(const SyntheticCaseSpec& spec);

struct TumourInfo {
  std::array<float, 3> center_voxel{};  // (z, y, x), voxel units, voxel centres at i + 0.5
  float core_radius_mm = 0;             // mean radius of the enhancing outer boundary
  float edema_radius_mm = 0;            // mean radius of the edema outer boundary
  bool has_necrosis = false;
};

struct SyntheticCaseInfo {
  float voxel_mm = 0;  // isotropic voxel size the brain was sampled at (depends on dims only)
  std::vector<TumourInfo> tumours;
  std::uint64_t brain_voxels = 0;
  std::array<std::uint64_t, kNumClasses> class_voxels{};  // class_voxels[0] includes outside brain
  std::array<double, kNumModalities> raw_mean{};          // inside the brain, before normalisation
  std::array<double, kNumModalities> raw_std{};
};

// Writes one case straight into caller memory (e.g. allocator-owned tensors):
//   image:      kNumModalities * dims.voxels() floats, layout CDHW (NCDHW with N = 1);
//   labels:     dims.voxels() class ids (TumourClass), or nullptr to skip;
//   brain_mask: dims.voxels() bytes, 1 inside the brain, or nullptr to skip.
// Single-threaded; the buffers must not overlap.
Result<SyntheticCaseInfo> generate_into(float* image, std::uint8_t* labels,
                                        const SyntheticCaseSpec& spec,
                                        std::uint8_t* brain_mask = nullptr);

// Plain storage for tests and tools; the runtime copies it into its tensors.
struct Volume {
  Dims3 dims;
  int channels = 0;
  std::vector<float> data;  // CDHW
  std::size_t index(int c, int z, int y, int x) const noexcept {
    return ((static_cast<std::size_t>(c) * static_cast<std::size_t>(dims.depth) +
             static_cast<std::size_t>(z)) *
                static_cast<std::size_t>(dims.height) +
            static_cast<std::size_t>(y)) *
               static_cast<std::size_t>(dims.width) +
           static_cast<std::size_t>(x);
  }
  float at(int c, int z, int y, int x) const noexcept { return data[index(c, z, y, x)]; }
};

struct SyntheticCase {
  Volume image;                          // channels = kNumModalities
  std::vector<std::uint8_t> labels;      // DHW class ids
  std::vector<std::uint8_t> brain_mask;  // DHW, 1 inside the brain
  SyntheticCaseInfo info;
};

Result<SyntheticCase> generate_case(const SyntheticCaseSpec& spec);

// Seeds of the splits come from disjoint ranges: case i of a split has seed
// split_base + i with split_base = 0, 2^40, 2^41 for train, validation, test
// (so i < 2^40). Seeds are hashed before use: neighbouring seeds give
// unrelated cases.
enum class Split : std::uint8_t { train = 0, validation = 1, test = 2 };
inline constexpr std::uint64_t kCasesPerSplit = std::uint64_t{1} << 40;
std::uint64_t case_seed(Split split, std::uint64_t index) noexcept;
const char* split_name(Split split) noexcept;  // "train", "validation", "test"

// Writes cases first_index .. first_index + batch - 1 of a split, one after
// the other (images NCDHW with N = batch, labels NDHW; labels may be nullptr).
// Every spec field but the seed comes from `base`.
Status generate_batch_into(float* images, std::uint8_t* labels, const SyntheticCaseSpec& base,
                           Split split, std::uint64_t first_index, int batch);

}  // namespace tensortier::data
