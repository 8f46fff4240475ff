// Synthetic BraTS-like cases: anatomy, tumours, contrasts, bias, noise, z-score.
// The model and its numbers are described in docs/data.md; determinism rules
// are in the header (no libm transcendental, no std distributions).
#include "synthetic_brats.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

// Contracting a*b+c into one FMA changes the bytes, and GCC does so in C++
// whenever the target has FMA (-march=native, -mfma), ISO mode or not.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace tensortier::data {
namespace {

// ---------------------------------------------------------------- randomness

constexpr std::uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

// splitmix64's output function: a bijective 64-bit mix.
constexpr std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256**, seeded through splitmix64.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept {
    for (auto& word : s_) {
      seed += kGolden;
      word = mix64(seed);
    }
  }
  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // [0, 1) with 24 random bits: exact in float.
  float uniform() noexcept { return static_cast<float>(next() >> 40) * 0x1.0p-24f; }
  float uniform(float lo, float hi) noexcept { return lo + (hi - lo) * uniform(); }
  // [lo, hi], inclusive.
  int integer(int lo, int hi) noexcept {
    const auto span = static_cast<std::uint64_t>(hi - lo + 1);
    return lo + static_cast<int>((next() >> 11) % span);
  }
  bool chance(float p) noexcept { return uniform() < p; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

// Independent streams of one case, so that drawing more numbers in one part
// of the model leaves the others unchanged.
enum Stream : std::uint64_t { kAnatomy = 1, kTumours = 2, kNoise = 3 };
std::uint64_t stream_key(std::uint64_t seed, Stream s) noexcept {
  return mix64(mix64(seed + kGolden) ^ (static_cast<std::uint64_t>(s) * 0xd1b54a32d192ed03ULL));
}

// Unit-variance, zero-mean noise from 64 hashed bits: the Irwin-Hall sum of
// four 16-bit uniforms (tails cut at 3.46 sigma; no log or cos needed).
inline float gauss_from_bits(std::uint64_t h) noexcept {
  const std::uint32_t sum = static_cast<std::uint32_t>((h & 0xffff) + ((h >> 16) & 0xffff) +
                                                       ((h >> 32) & 0xffff) + (h >> 48));
  // each term is (v + 0.5) / 65536: mean 2, variance 4/12 in total.
  constexpr float kScale = 1.7320508075688772f / 65536.0f;
  return (static_cast<float>(sum) + 2.0f - 131072.0f) * kScale;
}

// ---------------------------------------------------------------- geometry

inline float clamp01(float v) noexcept { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }
inline float smooth01(float t) noexcept { return t * t * (3.0f - 2.0f * t); }
// Partial-volume weight of being inside "value < threshold" with a soft edge
// of half-width `half` (same units): 0.5 exactly on the boundary.
inline float inside_weight(float margin, float inv_2half) noexcept {
  return smooth01(clamp01(0.5f + margin * inv_2half));
}
inline float lerp(float a, float b, float t) noexcept { return a + t * (b - a); }

using Vec3 = std::array<float, 3>;  // (z, y, x)

struct Box {  // voxel index ranges [lo, hi) per axis (z, y, x)
  std::array<int, 3> lo{};
  std::array<int, 3> hi{};
  bool empty() const noexcept { return lo[0] >= hi[0] || lo[1] >= hi[1] || lo[2] >= hi[2]; }
};

// A rotation as rows of a 3x3 matrix, from a unit quaternion (no trigonometry).
struct Rotation {
  std::array<Vec3, 3> row{};
  static Rotation from_quaternion(float w, float a, float b, float c) noexcept {
    const float n2 = w * w + a * a + b * b + c * c;
    const float s = 2.0f / n2;
    Rotation r;
    r.row[0] = {1 - s * (b * b + c * c), s * (a * b - w * c), s * (a * c + w * b)};
    r.row[1] = {s * (a * b + w * c), 1 - s * (a * a + c * c), s * (b * c - w * a)};
    r.row[2] = {s * (a * c - w * b), s * (b * c + w * a), 1 - s * (a * a + b * b)};
    return r;
  }
  static Rotation random(Rng& rng) noexcept {  // uniform over rotations
    for (;;) {
      const float w = rng.uniform(-1, 1), a = rng.uniform(-1, 1), b = rng.uniform(-1, 1),
                  c = rng.uniform(-1, 1);
      const float n2 = w * w + a * a + b * b + c * c;
      if (n2 > 0.01f && n2 <= 1.0f) return from_quaternion(w, a, b, c);
    }
  }
  static Rotation small(Rng& rng, float tilt) noexcept {  // about +-2*tilt radians
    const float a = rng.uniform(-tilt, tilt), b = rng.uniform(-tilt, tilt),
                c = rng.uniform(-tilt, tilt);
    return from_quaternion(1.0f, a, b, c);
  }
  Vec3 apply(const Vec3& v) const noexcept {
    Vec3 out{};
    for (int i = 0; i < 3; ++i) out[i] = row[i][0] * v[0] + row[i][1] * v[1] + row[i][2] * v[2];
    return out;
  }
  Vec3 apply_transposed(const Vec3& v) const noexcept {
    Vec3 out{};
    for (int i = 0; i < 3; ++i) out[i] = row[0][i] * v[0] + row[1][i] * v[1] + row[2][i] * v[2];
    return out;
  }
};

// Oriented ellipsoid in mm: q = diag(1/semi) * R^T (p - centre); |q| = 1 on the
// surface. Along a row of voxels (fixed z, y) q is affine in x: q = base + x * step.
struct Ellipsoid {
  Vec3 centre_mm{};
  Vec3 semi_mm{1, 1, 1};
  Rotation rot = Rotation::from_quaternion(1, 0, 0, 0);

  void row_coefficients(float z_mm, float y_mm, Vec3& base, Vec3& step) const noexcept {
    // q_i = sum_j R[j][i] (p_j - c_j) / semi_i
    const float dz = z_mm - centre_mm[0], dy = y_mm - centre_mm[1], dx0 = -centre_mm[2];
    for (int i = 0; i < 3; ++i) {
      const float inv = 1.0f / semi_mm[i];
      base[i] = (rot.row[0][i] * dz + rot.row[1][i] * dy + rot.row[2][i] * dx0) * inv;
      step[i] = rot.row[2][i] * inv;
    }
  }
  float max_semi() const noexcept { return std::max({semi_mm[0], semi_mm[1], semi_mm[2]}); }
  float min_semi() const noexcept { return std::min({semi_mm[0], semi_mm[1], semi_mm[2]}); }
};

// Bounding box (voxels) of a sphere of `radius_mm` around `centre_mm`, clipped.
Box sphere_box(const Vec3& centre_mm, float radius_mm, float voxel_mm, const Dims3& d) {
  const std::array<int, 3> n = {d.depth, d.height, d.width};
  Box b;
  for (int a = 0; a < 3; ++a) {
    const float lo = (centre_mm[a] - radius_mm) / voxel_mm - 1.0f;
    const float hi = (centre_mm[a] + radius_mm) / voxel_mm + 1.0f;
    b.lo[a] = std::clamp(static_cast<int>(lo), 0, n[a]);
    b.hi[a] = std::clamp(static_cast<int>(hi) + 1, 0, n[a]);
  }
  return b;
}

// ---------------------------------------------------------------- smooth noise

// Value noise: uniform values in [-1, 1] on a lattice of `cell` voxels,
// interpolated with smoothstep weights (C1), summed over octaves with
// weights 1, 1/2, ... normalised to 1, so the field stays within [-1, 1].
// Defined on a box; rows are evaluated line by line (bilinear in z, y once per
// lattice column, then along x), which keeps the per-voxel cost at one lerp.
class SmoothNoise {
 public:
  SmoothNoise() = default;
  SmoothNoise(Rng& rng, const Box& box, float cell_vox, int octaves = 1) : box_(box) {
    float weight = 1.0f, total = 0.0f;
    for (int o = 0; o < octaves; ++o) {
      layers_.push_back(make_layer(rng, std::max(cell_vox, 1.0f), weight));
      total += weight;
      cell_vox *= 0.5f;
      weight *= 0.5f;
    }
    for (auto& l : layers_) l.weight /= total;
  }

  // out[i] = field at voxel (z, y, x0 + i) for x0 + i < x1; all inside the box.
  void row(int z, int y, int x0, int x1, float* out) const {
    std::fill(out, out + (x1 - x0), 0.0f);
    for (const auto& l : layers_) add_row(l, z, y, x0, x1, out);
  }

 private:
  struct Axis {
    std::vector<int> k;    // lattice index below the voxel
    std::vector<float> w;  // smoothstep weight of index k + 1
  };
  struct Layer {
    std::array<Axis, 3> axis;
    std::array<int, 3> count{};
    std::vector<float> values;  // count[0] x count[1] x count[2]
    float weight = 1;
    mutable std::vector<float> line;  // scratch: one x line of lattice values
  };

  Layer make_layer(Rng& rng, float cell, float weight) const {
    Layer l;
    l.weight = weight;
    const float inv = 1.0f / cell;
    for (int a = 0; a < 3; ++a) {
      const int n = box_.hi[a] - box_.lo[a];
      const float offset = rng.uniform() * cell;
      Axis& ax = l.axis[a];
      ax.k.resize(static_cast<std::size_t>(n));
      ax.w.resize(static_cast<std::size_t>(n));
      int kmax = 0;
      for (int i = 0; i < n; ++i) {
        const float t = (static_cast<float>(i) + 0.5f + offset) * inv;
        const int k = static_cast<int>(t);
        ax.k[static_cast<std::size_t>(i)] = k;
        ax.w[static_cast<std::size_t>(i)] = smooth01(t - static_cast<float>(k));
        kmax = std::max(kmax, k);
      }
      l.count[a] = kmax + 2;
    }
    l.values.resize(static_cast<std::size_t>(l.count[0]) * static_cast<std::size_t>(l.count[1]) *
                    static_cast<std::size_t>(l.count[2]));
    for (auto& v : l.values) v = rng.uniform(-1.0f, 1.0f);
    l.line.resize(static_cast<std::size_t>(l.count[2]));
    return l;
  }

  void add_row(const Layer& l, int z, int y, int x0, int x1, float* out) const {
    const auto iz = static_cast<std::size_t>(z - box_.lo[0]);
    const auto iy = static_cast<std::size_t>(y - box_.lo[1]);
    const int kz = l.axis[0].k[iz], ky = l.axis[1].k[iy];
    const float wz = l.axis[0].w[iz], wy = l.axis[1].w[iy];
    const auto nx = static_cast<std::size_t>(l.count[2]);
    const auto ny = static_cast<std::size_t>(l.count[1]);
    const float* v00 =
        &l.values[(static_cast<std::size_t>(kz) * ny + static_cast<std::size_t>(ky)) * nx];
    const float* v01 = v00 + nx;
    const float* v10 = v00 + ny * nx;
    const float* v11 = v10 + nx;
    const auto& kx = l.axis[2].k;
    const auto& wx = l.axis[2].w;
    const auto ix0 = static_cast<std::size_t>(x0 - box_.lo[2]);
    const auto ix1 = static_cast<std::size_t>(x1 - box_.lo[2]);
    const auto k_first = static_cast<std::size_t>(kx[ix0]);
    const auto k_last = static_cast<std::size_t>(kx[ix1 - 1]) + 1;
    for (std::size_t k = k_first; k <= k_last; ++k) {
      const float a = lerp(v00[k], v01[k], wy);
      const float b = lerp(v10[k], v11[k], wy);
      l.line[k] = lerp(a, b, wz);
    }
    for (std::size_t i = ix0; i < ix1; ++i) {
      const auto k = static_cast<std::size_t>(kx[i]);
      out[i - ix0] += l.weight * lerp(l.line[k], l.line[k + 1], wx[i]);
    }
  }

  Box box_;
  std::vector<Layer> layers_;
};

// ---------------------------------------------------------------- tissues

// Tissue intensities per modality, relative to white matter on T1. Chosen
// after the usual appearance: CSF dark on T1 and FLAIR (suppressed), bright
// on T2; edema bright on T2 and FLAIR; enhancing tumour bright on T1Gd only;
// necrosis dark on T1/T1Gd, bright on T2, intermediate on FLAIR; white-matter
// hyperintensities mimic edema and enhancing vessels mimic tumour on T1Gd.
enum Tissue { kWM, kGM, kCSF, kED, kET, kNC, kWMH, kVessel, kNumTissues };
constexpr float kContrast[kNumModalities][kNumTissues] = {
    //  WM    GM    CSF   ED    ET    NC    WMH   vessel
    {1.00f, 0.72f, 0.30f, 0.66f, 0.78f, 0.42f, 0.82f, 0.72f},  // T1
    {1.00f, 0.74f, 0.32f, 0.68f, 1.50f, 0.40f, 0.84f, 1.30f},  // T1Gd
    {0.55f, 0.80f, 1.60f, 1.20f, 1.00f, 1.40f, 1.15f, 0.80f},  // T2
    {0.70f, 0.90f, 0.25f, 1.28f, 1.10f, 0.85f, 1.25f, 0.90f},  // FLAIR
};

// Brain of an adult in mm (semi-axes: inferior-superior, posterior-anterior,
// right-left); the voxel size is chosen so that it fills kBrainFill of the
// tightest dimension, as a 1 mm BraTS brain does in 240x240x155.
constexpr Vec3 kBrainSemiMm = {62.0f, 84.0f, 70.0f};
constexpr float kBrainFill = 0.86f;
constexpr float kInferiorFlatten = 1.25f;  // the base of the brain is flatter
constexpr float kBrainSurfaceAmp = 0.06f;

float voxel_mm_for(const Dims3& d) {
  const std::array<int, 3> n = {d.depth, d.height, d.width};
  float s = 0.0f;
  for (int a = 0; a < 3; ++a)
    s = std::max(s, 2.0f * kBrainSemiMm[a] / (kBrainFill * static_cast<float>(n[a])));
  return s;
}

struct Blob {  // a small sphere of one tissue (distractors)
  Vec3 centre_mm{};
  float radius_mm = 1;
  Tissue tissue = kWMH;
  Box box;
};

struct Tumour {
  Ellipsoid shape;  // semi_mm holds the axis ratios (mean 1); radii below are in "mm along f"
  float core_mm = 0, necrotic_mm = 0, edema_mm = 0;
  float rim_min = 0, edema_min = 0;  // minimum gaps between the nested boundaries
  bool necrosis = false;
  Box box;
  SmoothNoise necrotic_noise, core_noise, edema_noise, texture, enhancement;
  float reach_mm = 0;  // no boundary lies beyond this f (bounding)
};

struct Anatomy {
  float voxel_mm = 1;
  Ellipsoid brain;
  float brain_mean_semi = 1;
  Box brain_box;
  SmoothNoise surface, cortex, sulci, texture;
  std::array<Ellipsoid, 2> ventricles;
  std::array<Box, 2> ventricle_box;
  std::array<SmoothNoise, 2> ventricle_noise;
  std::array<Ellipsoid, 2> nuclei;
  std::array<Box, 2> nuclei_box;
  std::vector<Blob> blobs;
  float contrast[kNumModalities][kNumTissues] = {};
  float bias[kNumModalities][9] = {};  // quadratic polynomial in normalised coordinates
  std::vector<Tumour> tumours;
};

// A point of the brain ellipsoid at normalised position u (|u| <= 1).
Vec3 brain_point(const Ellipsoid& brain, Vec3 u) {
  if (u[0] < 0) u[0] /= kInferiorFlatten;
  for (int i = 0; i < 3; ++i) u[i] *= brain.semi_mm[i];
  const Vec3 r = brain.rot.apply(u);
  return {brain.centre_mm[0] + r[0], brain.centre_mm[1] + r[1], brain.centre_mm[2] + r[2]};
}

Vec3 random_in_ball(Rng& rng, float radius) {
  for (;;) {
    const Vec3 u = {rng.uniform(-1, 1), rng.uniform(-1, 1), rng.uniform(-1, 1)};
    if (u[0] * u[0] + u[1] * u[1] + u[2] * u[2] <= 1.0f)
      return {u[0] * radius, u[1] * radius, u[2] * radius};
  }
}

Box ellipsoid_box(const Ellipsoid& e, float reach, float voxel_mm, const Dims3& d) {
  return sphere_box(e.centre_mm, reach * e.max_semi(), voxel_mm, d);
}

void build_anatomy(const SyntheticCaseSpec& spec, Anatomy& an) {
  const Dims3& d = spec.dims;
  const float s = an.voxel_mm = voxel_mm_for(d);
  const Vec3 volume_centre = {0.5f * s * static_cast<float>(d.depth),
                              0.5f * s * static_cast<float>(d.height),
                              0.5f * s * static_cast<float>(d.width)};
  Rng rng(stream_key(spec.seed, kAnatomy));

  // Brain: scaled, slightly shifted and tilted; the surface is deformed by
  // low-frequency noise of relative amplitude kBrainSurfaceAmp.
  const float scale = rng.uniform(0.93f, 1.02f);
  for (int a = 0; a < 3; ++a) {
    an.brain.semi_mm[a] = kBrainSemiMm[a] * scale * rng.uniform(0.97f, 1.03f);
    an.brain.centre_mm[a] = volume_centre[a] + rng.uniform(-0.02f, 0.02f) * kBrainSemiMm[a];
  }
  an.brain.rot = Rotation::small(rng, 0.05f);
  an.brain_mean_semi = (an.brain.semi_mm[0] + an.brain.semi_mm[1] + an.brain.semi_mm[2]) / 3.0f;
  an.brain_box = ellipsoid_box(an.brain, 1.0f + kBrainSurfaceAmp, s, d);
  an.surface = SmoothNoise(rng, an.brain_box, 40.0f / s, 2);
  an.cortex = SmoothNoise(rng, an.brain_box, 14.0f / s, 2);
  an.sulci = SmoothNoise(rng, an.brain_box, 8.0f / s, 1);
  an.texture = SmoothNoise(rng, an.brain_box, std::max(5.0f / s, 1.5f), 2);

  // Lateral ventricles (size varies a lot between people) and deep grey nuclei.
  const float vscale = rng.uniform(0.7f, 1.4f);
  for (int side = 0; side < 2; ++side) {
    const float sign = side == 0 ? -1.0f : 1.0f;
    Ellipsoid& v = an.ventricles[static_cast<std::size_t>(side)];
    v.centre_mm = brain_point(an.brain, {0.15f, rng.uniform(-0.05f, 0.05f), sign * 0.13f});
    v.semi_mm = {10.0f * vscale, 30.0f * vscale * rng.uniform(0.9f, 1.1f), 6.0f * vscale};
    v.rot = Rotation::small(rng, 0.08f);
    an.ventricle_box[static_cast<std::size_t>(side)] = ellipsoid_box(v, 1.25f, s, d);
    an.ventricle_noise[static_cast<std::size_t>(side)] =
        SmoothNoise(rng, an.ventricle_box[static_cast<std::size_t>(side)], 12.0f / s, 1);
    Ellipsoid& n = an.nuclei[static_cast<std::size_t>(side)];
    n.centre_mm = brain_point(an.brain, {-0.05f, 0.05f, sign * 0.27f});
    n.semi_mm = {12.0f * rng.uniform(0.9f, 1.1f), 16.0f, 9.0f};
    n.rot = Rotation::small(rng, 0.1f);
    an.nuclei_box[static_cast<std::size_t>(side)] = ellipsoid_box(n, 1.0f, s, d);
  }

  // Distractors in deep white matter: FLAIR-bright spots (like small vessel
  // disease) and T1Gd-bright vessels, both labelled background.
  const int wmh = rng.integer(0, 5), vessels = rng.integer(0, 5);
  for (int i = 0; i < wmh + vessels; ++i) {
    Blob b;
    b.tissue = i < wmh ? kWMH : kVessel;
    b.radius_mm = std::max(i < wmh ? rng.uniform(2.0f, 5.0f) : rng.uniform(1.5f, 3.5f), 0.6f * s);
    b.centre_mm = brain_point(an.brain, random_in_ball(rng, 0.6f));
    b.box = sphere_box(b.centre_mm, b.radius_mm + s, s, d);
    an.blobs.push_back(b);
  }

  // Scanner-to-scanner variation of the contrasts, and a smooth bias field.
  for (int m = 0; m < kNumModalities; ++m)
    for (int t = 0; t < kNumTissues; ++t)
      an.contrast[m][t] = kContrast[m][t] * rng.uniform(0.94f, 1.06f);
  for (int m = 0; m < kNumModalities; ++m) {
    float sum = 0.0f;
    for (float& c : an.bias[m]) {
      c = rng.uniform(-1.0f, 1.0f);
      sum += c < 0 ? -c : c;
    }
    for (float& c : an.bias[m]) c *= spec.bias_strength / sum;  // |bias - 1| <= strength
  }
}

void place_tumours(const SyntheticCaseSpec& spec, Anatomy& an) {
  const float s = an.voxel_mm;
  Rng rng(stream_key(spec.seed, kTumours));
  const int count = rng.integer(spec.min_tumours, spec.max_tumours);
  // One mm step changes the brain-normalised radius by at most this much.
  const float rho_per_mm =
      kInferiorFlatten / std::min({an.brain.semi_mm[0], an.brain.semi_mm[1], an.brain.semi_mm[2]});
  for (int t = 0; t < count; ++t) {
    Tumour tu;
    const bool primary = t == 0;
    float core = primary ? rng.uniform(13.0f, 25.0f) : rng.uniform(6.0f, 14.0f);
    Vec3 ratio = {rng.uniform(0.78f, 1.28f), rng.uniform(0.78f, 1.28f), rng.uniform(0.78f, 1.28f)};
    const float mean = (ratio[0] + ratio[1] + ratio[2]) / 3.0f;
    for (float& r : ratio) r /= mean;
    tu.shape.semi_mm = ratio;
    tu.shape.rot = Rotation::random(rng);
    const float r_min = tu.shape.min_semi(), r_max = tu.shape.max_semi();
    tu.necrosis = primary || rng.chance(0.55f);
    const float necrotic_fraction = rng.uniform(0.45f, 0.8f);
    const float edema_factor = rng.uniform(1.4f, 2.2f);
    // Gaps keep every ring at least ~1.5 voxels thick at any resolution.
    tu.rim_min = std::max(3.0f, 1.8f * s / r_min);
    tu.edema_min = std::max(3.0f, 1.8f * s / r_min);
    const Vec3 u = random_in_ball(rng, 1.0f);  // drawn once, scaled below: stable stream
    // Shrink until the core (enhancing boundary) stays 2 voxels inside the
    // brain; the edema may reach the brain surface, where it is clipped.
    for (int attempt = 0;; ++attempt) {
      tu.core_mm = core;
      tu.necrotic_mm = tu.necrosis ? std::max(necrotic_fraction * core, 0.8f * s) : 0.0f;
      const float core_reach = std::max(core * 1.22f, tu.necrotic_mm * 1.25f + tu.rim_min);
      const float margin = (core_reach * r_max + 2.0f * s) * rho_per_mm;
      const float room = std::max(1.0f - kBrainSurfaceAmp - margin, 0.0f);
      if (room >= 0.15f || attempt > 40) {
        tu.shape.centre_mm = brain_point(an.brain, {u[0] * room, u[1] * room, u[2] * room});
        tu.edema_mm = std::min(std::max(core * edema_factor, core + 6.0f), core + 22.0f);
        tu.reach_mm = std::max(tu.edema_mm * 1.35f, core_reach + tu.edema_min) + s;
        break;
      }
      core *= 0.92f;
    }
    tu.box = sphere_box(tu.shape.centre_mm, tu.reach_mm * r_max, s, spec.dims);
    if (!tu.box.empty()) {
      tu.necrotic_noise = SmoothNoise(rng, tu.box, std::max(0.8f * tu.core_mm / s, 2.0f), 2);
      tu.core_noise = SmoothNoise(rng, tu.box, std::max(0.8f * tu.core_mm / s, 2.0f), 2);
      tu.edema_noise = SmoothNoise(rng, tu.box, std::max(0.7f * tu.edema_mm / s, 2.0f), 2);
      tu.texture = SmoothNoise(rng, tu.box, std::max(4.0f / s, 1.5f), 1);
      tu.enhancement = SmoothNoise(rng, tu.box, std::max(0.5f * tu.core_mm / s, 2.0f), 1);
    }
    an.tumours.push_back(std::move(tu));
  }
}

// ---------------------------------------------------------------- rendering

struct RowScratch {
  explicit RowScratch(int width)
      : n(static_cast<std::size_t>(width)),
        rho(n),
        surface(n),
        cortex(n),
        sulci(n),
        texture(n),
        noise_a(n),
        noise_b(n),
        noise_c(n),
        noise_d(n),
        noise_e(n),
        gm(n),
        csf(n),
        wmh(n),
        vessel(n),
        ed(n),
        ed_strength(n),
        et(n),
        nc(n),
        et_tex(n),
        et_gain(n),
        nc_tex(n),
        rank(n) {}
  std::size_t n;
  std::vector<float> rho, surface, cortex, sulci, texture, noise_a, noise_b, noise_c, noise_d,
      noise_e;
  std::vector<float> gm, csf, wmh, vessel, ed, ed_strength, et, nc, et_tex, et_gain, nc_tex;
  std::vector<std::uint8_t> rank;  // 0 none, 1 edema, 2 enhancing, 3 necrotic
};

constexpr std::uint8_t kRankToClass[4] = {0, 2, 3, 1};

void render_tumour_row(const Tumour& tu, int z, int y, float z_mm, float y_mm, float s,
                       const Box& row_span, RowScratch& r) {
  const Box& b = tu.box;
  if (b.empty() || z < b.lo[0] || z >= b.hi[0] || y < b.lo[1] || y >= b.hi[1]) return;
  const int x0 = std::max(b.lo[2], row_span.lo[2]), x1 = std::min(b.hi[2], row_span.hi[2]);
  if (x0 >= x1) return;
  Vec3 base{}, step{};
  tu.shape.row_coefficients(z_mm, y_mm, base, step);
  const auto off = static_cast<std::size_t>(x0);
  const int n = x1 - x0;
  float* nn = r.noise_a.data() + off;
  float* nco = r.noise_b.data() + off;
  float* ned = r.noise_c.data() + off;
  float* ntx = r.noise_d.data() + off;
  float* nen = r.noise_e.data() + off;
  tu.necrotic_noise.row(z, y, x0, x1, nn);
  tu.core_noise.row(z, y, x0, x1, nco);
  tu.edema_noise.row(z, y, x0, x1, ned);
  tu.texture.row(z, y, x0, x1, ntx);
  tu.enhancement.row(z, y, x0, x1, nen);
  const float inv_2half = 1.0f / (2.0f * 0.5f * s);  // edges blur over one voxel
  for (int i = 0; i < n; ++i) {
    const std::size_t j = off + static_cast<std::size_t>(i);
    const float x_mm = (static_cast<float>(x0 + i) + 0.5f) * s;
    const float q0 = base[0] + step[0] * x_mm, q1 = base[1] + step[1] * x_mm,
                q2 = base[2] + step[2] * x_mm;
    const float f = std::sqrt(q0 * q0 + q1 * q1 + q2 * q2);
    if (f > tu.reach_mm) continue;
    const float rn = tu.necrosis ? tu.necrotic_mm * (1.0f + 0.25f * nn[i]) : -1e30f;
    const float re = std::max(tu.core_mm * (1.0f + 0.22f * nco[i]), rn + tu.rim_min);
    const float red = std::max(tu.edema_mm * (1.0f + 0.35f * ned[i]), re + tu.edema_min);
    const std::uint8_t rank = f < rn ? 3 : (f < re ? 2 : (f < red ? 1 : 0));
    r.rank[j] = std::max(r.rank[j], rank);
    const float a_ed = inside_weight(red - f, inv_2half);
    if (a_ed > r.ed[j]) {
      r.ed[j] = a_ed;
      // Edema fades from the core outwards (to 40% of its contrast at the rim).
      r.ed_strength[j] = (1.0f - 0.6f * clamp01((f - re) / (red - re))) * (1.0f + 0.2f * ntx[i]);
    }
    const float a_et = inside_weight(re - f, inv_2half);
    if (a_et > r.et[j]) {
      r.et[j] = a_et;
      r.et_tex[j] = 1.0f + 0.2f * ntx[i];
      // Patchy enhancement: parts of the rim take up little contrast.
      r.et_gain[j] = 0.775f + 0.225f * nen[i];
    }
    if (tu.necrosis) {
      const float a_nc = inside_weight(rn - f, inv_2half);
      if (a_nc > r.nc[j]) {
        r.nc[j] = a_nc;
        r.nc_tex[j] = 1.0f - 0.10f * ntx[i];
      }
    }
  }
}

struct Moments {
  std::array<double, kNumModalities> sum{}, sum_sq{};
  std::uint64_t count = 0;
};

void render(const SyntheticCaseSpec& spec, const Anatomy& an, float* image, std::uint8_t* labels,
            std::uint8_t* mask, Moments& mom) {
  const Dims3& d = spec.dims;
  const std::size_t plane = static_cast<std::size_t>(d.height) * static_cast<std::size_t>(d.width);
  const std::size_t channel = d.voxels();
  const float s = an.voxel_mm;
  const float inv_2half = 1.0f / (2.0f * 0.5f * s);
  const std::uint64_t noise_key = stream_key(spec.seed, kNoise);
  RowScratch r(d.width);
  std::array<std::vector<float>, kNumModalities> value;
  for (auto& v : value) v.resize(r.n);

  for (int z = 0; z < d.depth; ++z) {
    const float z_mm = (static_cast<float>(z) + 0.5f) * s;
    const float uz = 2.0f * (static_cast<float>(z) + 0.5f) / static_cast<float>(d.depth) - 1.0f;
    for (int y = 0; y < d.height; ++y) {
      const std::size_t row0 = static_cast<std::size_t>(z) * plane +
                               static_cast<std::size_t>(y) * static_cast<std::size_t>(d.width);
      for (int m = 0; m < kNumModalities; ++m)
        std::memset(image + static_cast<std::size_t>(m) * channel + row0, 0, r.n * sizeof(float));
      std::memset(labels + row0, 0, r.n);
      std::memset(mask + row0, 0, r.n);
      const Box& bb = an.brain_box;
      if (z < bb.lo[0] || z >= bb.hi[0] || y < bb.lo[1] || y >= bb.hi[1] || bb.lo[2] >= bb.hi[2])
        continue;
      const float y_mm = (static_cast<float>(y) + 0.5f) * s;
      const float uy = 2.0f * (static_cast<float>(y) + 0.5f) / static_cast<float>(d.height) - 1.0f;
      const int x0 = bb.lo[2], x1 = bb.hi[2];
      const auto off = static_cast<std::size_t>(x0);
      const auto n = static_cast<std::size_t>(x1 - x0);

      // Brain surface, cortex, sulcal CSF, texture.
      an.surface.row(z, y, x0, x1, r.surface.data() + off);
      an.cortex.row(z, y, x0, x1, r.cortex.data() + off);
      an.sulci.row(z, y, x0, x1, r.sulci.data() + off);
      an.texture.row(z, y, x0, x1, r.texture.data() + off);
      Vec3 base{}, step{};
      an.brain.row_coefficients(z_mm, y_mm, base, step);
      bool any_inside = false;
      for (std::size_t i = off; i < off + n; ++i) {
        const float x_mm = (static_cast<float>(i) + 0.5f) * s;
        float q0 = base[0] + step[0] * x_mm;
        const float q1 = base[1] + step[1] * x_mm, q2 = base[2] + step[2] * x_mm;
        if (q0 < 0) q0 *= kInferiorFlatten;
        const float rho = std::sqrt(q0 * q0 + q1 * q1 + q2 * q2);
        const float depth_mm = (1.0f + kBrainSurfaceAmp * r.surface[i] - rho) * an.brain_mean_semi;
        r.rho[i] = depth_mm;  // reused: depth below the brain surface
        if (depth_mm > 0) any_inside = true;
        const float gm_thick = 5.0f + 3.5f * r.cortex[i];
        const float csf_thick = 0.6f + 2.0f * r.sulci[i];
        r.gm[i] = inside_weight(gm_thick - depth_mm, inv_2half);
        r.csf[i] = inside_weight(csf_thick - depth_mm, inv_2half);
        r.wmh[i] = r.vessel[i] = r.ed[i] = r.ed_strength[i] = r.et[i] = r.nc[i] = 0.0f;
        r.et_tex[i] = r.et_gain[i] = r.nc_tex[i] = 1.0f;
        r.rank[i] = 0;
      }
      if (!any_inside) continue;

      // Ventricles (CSF) and deep nuclei (grey matter).
      for (std::size_t k = 0; k < 2; ++k) {
        const Box& vb = an.ventricle_box[k];
        if (!vb.empty() && z >= vb.lo[0] && z < vb.hi[0] && y >= vb.lo[1] && y < vb.hi[1]) {
          const int a0 = std::max(vb.lo[2], x0), a1 = std::min(vb.hi[2], x1);
          if (a0 < a1) {
            float* nv = r.noise_a.data() + a0;
            an.ventricle_noise[k].row(z, y, a0, a1, nv);
            an.ventricles[k].row_coefficients(z_mm, y_mm, base, step);
            const float unit_mm = an.ventricles[k].min_semi();
            for (int x = a0; x < a1; ++x) {
              const float x_mm = (static_cast<float>(x) + 0.5f) * s;
              const float q0 = base[0] + step[0] * x_mm, q1 = base[1] + step[1] * x_mm,
                          q2 = base[2] + step[2] * x_mm;
              const float f = std::sqrt(q0 * q0 + q1 * q1 + q2 * q2);
              const float w = inside_weight((1.0f + 0.2f * nv[x - a0] - f) * unit_mm, inv_2half);
              r.csf[static_cast<std::size_t>(x)] = std::max(r.csf[static_cast<std::size_t>(x)], w);
            }
          }
        }
        const Box& nb = an.nuclei_box[k];
        if (!nb.empty() && z >= nb.lo[0] && z < nb.hi[0] && y >= nb.lo[1] && y < nb.hi[1]) {
          const int a0 = std::max(nb.lo[2], x0), a1 = std::min(nb.hi[2], x1);
          an.nuclei[k].row_coefficients(z_mm, y_mm, base, step);
          const float unit_mm = an.nuclei[k].min_semi();
          for (int x = a0; x < a1; ++x) {
            const float x_mm = (static_cast<float>(x) + 0.5f) * s;
            const float q0 = base[0] + step[0] * x_mm, q1 = base[1] + step[1] * x_mm,
                        q2 = base[2] + step[2] * x_mm;
            const float f = std::sqrt(q0 * q0 + q1 * q1 + q2 * q2);
            const float w = 0.7f * inside_weight((1.0f - f) * unit_mm, inv_2half);
            r.gm[static_cast<std::size_t>(x)] = std::max(r.gm[static_cast<std::size_t>(x)], w);
          }
        }
      }
      for (const Blob& b : an.blobs) {
        if (b.box.empty() || z < b.box.lo[0] || z >= b.box.hi[0] || y < b.box.lo[1] ||
            y >= b.box.hi[1])
          continue;
        const float dz = z_mm - b.centre_mm[0], dy = y_mm - b.centre_mm[1];
        auto& target = b.tissue == kWMH ? r.wmh : r.vessel;
        for (int x = std::max(b.box.lo[2], x0); x < std::min(b.box.hi[2], x1); ++x) {
          const float dx = (static_cast<float>(x) + 0.5f) * s - b.centre_mm[2];
          const float f = std::sqrt(dz * dz + dy * dy + dx * dx);
          const float w = inside_weight(b.radius_mm - f, inv_2half);
          target[static_cast<std::size_t>(x)] = std::max(target[static_cast<std::size_t>(x)], w);
        }
      }
      Box span;
      span.lo = {z, y, x0};
      span.hi = {z + 1, y + 1, x1};
      for (const Tumour& tu : an.tumours) render_tumour_row(tu, z, y, z_mm, y_mm, s, span, r);

      // Bias field along the row: b = c0 + c1 ux + c2 ux^2 per modality.
      std::array<std::array<float, 3>, kNumModalities> bias{};
      for (int m = 0; m < kNumModalities; ++m) {
        const float* c = an.bias[m];
        bias[static_cast<std::size_t>(m)] = {
            1.0f + c[0] * uz + c[1] * uy + c[3] * uz * uz + c[4] * uy * uy + c[6] * uz * uy,
            c[2] + c[7] * uz + c[8] * uy, c[5]};
      }
      const float inv_w = 2.0f / static_cast<float>(d.width);
      for (std::size_t i = off; i < off + n; ++i) {
        if (r.rho[i] <= 0) continue;  // outside the brain: stays 0
        const std::size_t v = row0 + i;
        mask[v] = 1;
        labels[v] = kRankToClass[r.rank[i]];
        const float ux = (static_cast<float>(i) + 0.5f) * inv_w - 1.0f;
        const std::uint64_t h0 = mix64(noise_key + static_cast<std::uint64_t>(row0 + i) * kGolden);
        for (int m = 0; m < kNumModalities; ++m) {
          const float* c = an.contrast[m];
          float val = c[kWM];
          val = lerp(val, c[kGM], r.gm[i]);
          val = lerp(val, c[kCSF], r.csf[i]);
          val = lerp(val, c[kWMH], r.wmh[i]);
          val = lerp(val, c[kVessel], r.vessel[i]);
          val *= 1.0f + 0.04f * r.texture[i];
          val = lerp(val, c[kED], r.ed[i] * r.ed_strength[i]);
          val = lerp(val, lerp(c[kED], c[kET], r.et_gain[i]) * r.et_tex[i], r.et[i]);
          val = lerp(val, c[kNC] * r.nc_tex[i], r.nc[i]);
          const auto& bm = bias[static_cast<std::size_t>(m)];
          val *= bm[0] + (bm[1] + bm[2] * ux) * ux;
          const std::uint64_t h =
              mix64(h0 + static_cast<std::uint64_t>(m + 1) * 0xd1b54a32d192ed03ULL);
          val += spec.noise_sigma * gauss_from_bits(h);
          if (val < 0.0f) val = 0.0f;
          image[static_cast<std::size_t>(m) * channel + v] = val;
          mom.sum[static_cast<std::size_t>(m)] += val;
          mom.sum_sq[static_cast<std::size_t>(m)] += static_cast<double>(val) * val;
        }
        ++mom.count;
      }
    }
  }
}

std::string range_error(const char* field, const std::string& value, const char* accepted) {
  return std::string("synthetic case spec: ") + field + " = " + value +
         " is out of range; accepted: " + accepted;
}

}  // namespace

const char* modality_name(Modality m) noexcept {
  switch (m) {
    case Modality::t1: return "t1";
    case Modality::t1gd: return "t1gd";
    case Modality::t2: return "t2";
    case Modality::flair: return "flair";
  }
  return "unknown";
}

const char* class_name(TumourClass c) noexcept {
  switch (c) {
    case TumourClass::background: return "background";
    case TumourClass::necrotic: return "necrotic";
    case TumourClass::edema: return "edema";
    case TumourClass::enhancing: return "enhancing";
  }
  return "unknown";
}

std::uint8_t class_from_brats_label(int brats_label) noexcept {
  switch (brats_label) {
    case 1: return 1;
    case 2: return 2;
    case 3:
    case 4: return 3;
    default: return 0;
  }
}

const char* split_name(Split split) noexcept {
  switch (split) {
    case Split::train: return "train";
    case Split::validation: return "validation";
    case Split::test: return "test";
  }
  return "unknown";
}

std::uint64_t case_seed(Split split, std::uint64_t index) noexcept {
  return static_cast<std::uint64_t>(split) * kCasesPerSplit + (index & (kCasesPerSplit - 1));
}

Status validate(const SyntheticCaseSpec& spec) {
  const std::string dims_ok = std::to_string(SyntheticCaseSpec::kMinDim) + ".." +
                              std::to_string(SyntheticCaseSpec::kMaxDim);
  const std::pair<const char*, int> dims[] = {{"dims.depth", spec.dims.depth},
                                              {"dims.height", spec.dims.height},
                                              {"dims.width", spec.dims.width}};
  for (const auto& [name, v] : dims)
    if (v < SyntheticCaseSpec::kMinDim || v > SyntheticCaseSpec::kMaxDim)
      return {Errc::invalid_argument, range_error(name, std::to_string(v), dims_ok.c_str())};
  const std::string max_t = std::to_string(SyntheticCaseSpec::kMaxTumours);
  if (spec.min_tumours < 0 || spec.min_tumours > SyntheticCaseSpec::kMaxTumours)
    return {Errc::invalid_argument,
            range_error("min_tumours", std::to_string(spec.min_tumours), ("0.." + max_t).c_str())};
  if (spec.max_tumours < spec.min_tumours || spec.max_tumours > SyntheticCaseSpec::kMaxTumours)
    return {Errc::invalid_argument, range_error("max_tumours", std::to_string(spec.max_tumours),
                                                ("min_tumours.." + max_t).c_str())};
  if (!(spec.noise_sigma >= 0.0f && spec.noise_sigma <= 1.0f))
    return {Errc::invalid_argument,
            range_error("noise_sigma", std::to_string(spec.noise_sigma), "0..1")};
  if (!(spec.bias_strength >= 0.0f && spec.bias_strength <= 0.5f))
    return {Errc::invalid_argument,
            range_error("bias_strength", std::to_string(spec.bias_strength), "0..0.5")};
  return Status::ok();
}

Result<SyntheticCaseInfo> generate_into(float* image, std::uint8_t* labels,
                                        const SyntheticCaseSpec& spec, std::uint8_t* brain_mask) {
  if (Status st = validate(spec); !st) return st;
  if (image == nullptr)
    return Result<SyntheticCaseInfo>(Errc::invalid_argument,
                                     "synthetic case: image is null; accepted: a buffer of "
                                     "4 * depth * height * width floats");
  const std::size_t voxels = spec.dims.voxels();
  std::vector<std::uint8_t> own_labels, own_mask;
  if (labels == nullptr) {
    own_labels.resize(voxels);
    labels = own_labels.data();
  }
  if (brain_mask == nullptr) {
    own_mask.resize(voxels);
    brain_mask = own_mask.data();
  }

  Anatomy an;
  build_anatomy(spec, an);
  place_tumours(spec, an);
  Moments mom;
  render(spec, an, image, labels, brain_mask, mom);

  SyntheticCaseInfo info;
  info.voxel_mm = an.voxel_mm;
  for (const Tumour& tu : an.tumours) {
    TumourInfo t;
    for (int a = 0; a < 3; ++a)
      t.center_voxel[static_cast<std::size_t>(a)] =
          tu.shape.centre_mm[static_cast<std::size_t>(a)] / an.voxel_mm;
    t.core_radius_mm = tu.core_mm;
    t.edema_radius_mm = tu.edema_mm;
    t.has_necrosis = tu.necrosis;
    info.tumours.push_back(t);
  }
  info.brain_voxels = mom.count;
  for (std::size_t i = 0; i < voxels; ++i) ++info.class_voxels[labels[i]];
  const double n = mom.count > 0 ? static_cast<double>(mom.count) : 1.0;
  for (std::size_t m = 0; m < kNumModalities; ++m) {
    const double mean = mom.sum[m] / n;
    const double var = std::max(mom.sum_sq[m] / n - mean * mean, 0.0);
    info.raw_mean[m] = mean;
    info.raw_std[m] = std::sqrt(var);
  }

  // z-score inside the brain (as BraTS pipelines do over non-zero voxels).
  if (spec.normalize) {
    for (std::size_t m = 0; m < kNumModalities; ++m) {
      const auto mean = static_cast<float>(info.raw_mean[m]);
      const auto inv_std =
          static_cast<float>(info.raw_std[m] > 1e-12 ? 1.0 / info.raw_std[m] : 1.0);
      float* ch = image + m * voxels;
      for (std::size_t i = 0; i < voxels; ++i)
        if (brain_mask[i]) ch[i] = (ch[i] - mean) * inv_std;
    }
  }
  return info;
}

Result<SyntheticCase> generate_case(const SyntheticCaseSpec& spec) {
  if (Status st = validate(spec); !st) return st;
  SyntheticCase c;
  c.image.dims = spec.dims;
  c.image.channels = kNumModalities;
  c.image.data.resize(kNumModalities * spec.dims.voxels());
  c.labels.resize(spec.dims.voxels());
  c.brain_mask.resize(spec.dims.voxels());
  auto info = generate_into(c.image.data.data(), c.labels.data(), spec, c.brain_mask.data());
  if (!info) return info.status();
  c.info = std::move(info).value();
  return c;
}

Status generate_batch_into(float* images, std::uint8_t* labels, const SyntheticCaseSpec& base,
                           Split split, std::uint64_t first_index, int batch) {
  if (Status st = validate(base); !st) return st;
  if (batch < 0)
    return {Errc::invalid_argument,
            "synthetic batch: batch = " + std::to_string(batch) + " is negative; accepted: >= 0"};
  if (first_index >= kCasesPerSplit ||
      static_cast<std::uint64_t>(batch) > kCasesPerSplit - first_index)
    return {Errc::invalid_argument, "synthetic batch: cases " + std::to_string(first_index) +
                                        " + " + std::to_string(batch) +
                                        " leave the split; accepted: indices below 2^40"};
  const std::size_t voxels = base.dims.voxels();
  for (int b = 0; b < batch; ++b) {
    SyntheticCaseSpec spec = base;
    spec.seed = case_seed(split, first_index + static_cast<std::uint64_t>(b));
    auto info =
        generate_into(images + static_cast<std::size_t>(b) * kNumModalities * voxels,
                      labels ? labels + static_cast<std::size_t>(b) * voxels : nullptr, spec);
    if (!info) return info.status().with_context("synthetic batch case " + std::to_string(b));
  }
  return Status::ok();
}

}  // namespace tensortier::data
