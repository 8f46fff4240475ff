// The synthetic BraTS generator: determinism, anatomy and labels, contrasts,
// normalisation, the API at its boundary, and that the task is learnable
// (a per-voxel classifier finds the tumour) but not solved voxel by voxel.
#include "runtime/data/synthetic_brats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

namespace td = tensortier::data;
using td::Split;
using td::SyntheticCase;
using td::SyntheticCaseSpec;

namespace {

constexpr std::uint8_t kBg = 0, kNc = 1, kEd = 2, kEt = 3;
constexpr int kT1 = 0, kT1gd = 1, kT2 = 2, kFlair = 3;

SyntheticCaseSpec spec_for(Split split, std::uint64_t index, int d, int h, int w) {
  SyntheticCaseSpec s;
  s.dims = {d, h, w};
  s.seed = td::case_seed(split, index);
  return s;
}

SyntheticCase make(const SyntheticCaseSpec& s) {
  auto r = td::generate_case(s);
  EXPECT_TRUE(r.has_value()) << r.status().message();
  return std::move(r).value();
}

std::uint64_t fnv1a(const void* data, std::size_t bytes, std::uint64_t h = 0xcbf29ce484222325ULL) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < bytes; ++i) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

std::uint64_t case_hash(const SyntheticCase& c) {
  std::uint64_t h = fnv1a(c.image.data.data(), c.image.data.size() * sizeof(float));
  h = fnv1a(c.labels.data(), c.labels.size(), h);
  return fnv1a(c.brain_mask.data(), c.brain_mask.size(), h);
}

// Visits the 6-neighbours of voxel (z, y, x) that lie inside the volume.
template <typename F>
void for_neighbours(const td::Dims3& d, int z, int y, int x, F&& f) {
  const int dz[6] = {-1, 1, 0, 0, 0, 0}, dy[6] = {0, 0, -1, 1, 0, 0}, dx[6] = {0, 0, 0, 0, -1, 1};
  for (int k = 0; k < 6; ++k) {
    const int zz = z + dz[k], yy = y + dy[k], xx = x + dx[k];
    if (zz < 0 || yy < 0 || xx < 0 || zz >= d.depth || yy >= d.height || xx >= d.width) continue;
    f((static_cast<std::size_t>(zz) * d.height + yy) * d.width + xx);
  }
}

double dice(const std::vector<std::uint8_t>& truth, const std::vector<std::uint8_t>& pred,
            const std::vector<std::uint8_t>& mask, std::uint8_t cls) {
  std::uint64_t both = 0, t = 0, p = 0;
  for (std::size_t i = 0; i < truth.size(); ++i) {
    if (!mask[i]) continue;
    both += truth[i] == cls && pred[i] == cls;
    t += truth[i] == cls;
    p += pred[i] == cls;
  }
  return t + p == 0 ? 1.0 : 2.0 * static_cast<double>(both) / static_cast<double>(t + p);
}

// ------------------------------------------------ a per-voxel Gaussian classifier

// Quadratic discriminant analysis over chosen channels: one Gaussian per
// class (mean, full covariance, prior) fitted on brain voxels.
class Qda {
 public:
  explicit Qda(std::vector<int> channels) : ch_(std::move(channels)) {}

  void fit(const std::vector<const SyntheticCase*>& cases) {
    const std::size_t n = ch_.size();
    std::array<std::vector<double>, td::kNumClasses> sum, sum_xx;
    std::array<double, td::kNumClasses> count{};
    for (auto& v : sum) v.assign(n, 0.0);
    for (auto& v : sum_xx) v.assign(n * n, 0.0);
    for (const SyntheticCase* c : cases) {
      const std::size_t voxels = c->labels.size();
      for (std::size_t i = 0; i < voxels; ++i) {
        if (!c->brain_mask[i]) continue;
        const int k = c->labels[i];
        const std::vector<double> x = features(*c, i);
        count[k] += 1;
        for (std::size_t a = 0; a < n; ++a) {
          sum[k][a] += x[a];
          for (std::size_t b = 0; b < n; ++b) sum_xx[k][a * n + b] += x[a] * x[b];
        }
      }
    }
    double total = 0;
    for (double c : count) total += c;
    for (int k = 0; k < td::kNumClasses; ++k) {
      ASSERT_GT(count[k], n + 1.0) << "class " << k << " too rare to fit";
      Gaussian& g = g_[k];
      g.mean.resize(n);
      for (std::size_t a = 0; a < n; ++a) g.mean[a] = sum[k][a] / count[k];
      std::vector<double> cov(n * n);
      for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < n; ++b)
          cov[a * n + b] =
              sum_xx[k][a * n + b] / count[k] - g.mean[a] * g.mean[b] + (a == b ? 1e-6 : 0);
      invert(cov, n, g.inv_cov, g.log_det);
      g.log_prior = std::log(count[k] / total);
    }
  }

  std::vector<std::uint8_t> predict(const SyntheticCase& c) const {
    std::vector<std::uint8_t> out(c.labels.size(), 0);
    const std::size_t n = ch_.size();
    std::vector<double> d(n);
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (!c.brain_mask[i]) continue;
      const std::vector<double> x = features(c, i);
      double best = -1e300;
      for (int k = 0; k < td::kNumClasses; ++k) {
        const Gaussian& g = g_[k];
        for (std::size_t a = 0; a < n; ++a) d[a] = x[a] - g.mean[a];
        double q = 0;
        for (std::size_t a = 0; a < n; ++a)
          for (std::size_t b = 0; b < n; ++b) q += d[a] * g.inv_cov[a * n + b] * d[b];
        const double score = -0.5 * q - 0.5 * g.log_det + g.log_prior;
        if (score > best) {
          best = score;
          out[i] = static_cast<std::uint8_t>(k);
        }
      }
    }
    return out;
  }

 private:
  struct Gaussian {
    std::vector<double> mean, inv_cov;
    double log_det = 0, log_prior = 0;
  };

  std::vector<double> features(const SyntheticCase& c, std::size_t voxel) const {
    std::vector<double> x(ch_.size());
    const std::size_t voxels = c.labels.size();
    for (std::size_t a = 0; a < ch_.size(); ++a)
      x[a] = c.image.data[static_cast<std::size_t>(ch_[a]) * voxels + voxel];
    return x;
  }

  // Gauss-Jordan inverse with partial pivoting (n <= 4) and log|det|.
  static void invert(std::vector<double> m, std::size_t n, std::vector<double>& inv,
                     double& log_det) {
    inv.assign(n * n, 0.0);
    for (std::size_t i = 0; i < n; ++i) inv[i * n + i] = 1.0;
    log_det = 0;
    for (std::size_t col = 0; col < n; ++col) {
      std::size_t piv = col;
      for (std::size_t r = col + 1; r < n; ++r)
        if (std::fabs(m[r * n + col]) > std::fabs(m[piv * n + col])) piv = r;
      for (std::size_t j = 0; j < n; ++j) {
        std::swap(m[col * n + j], m[piv * n + j]);
        std::swap(inv[col * n + j], inv[piv * n + j]);
      }
      const double p = m[col * n + col];
      log_det += std::log(std::fabs(p));
      for (std::size_t j = 0; j < n; ++j) {
        m[col * n + j] /= p;
        inv[col * n + j] /= p;
      }
      for (std::size_t r = 0; r < n; ++r) {
        if (r == col) continue;
        const double f = m[r * n + col];
        for (std::size_t j = 0; j < n; ++j) {
          m[r * n + j] -= f * m[col * n + j];
          inv[r * n + j] -= f * inv[col * n + j];
        }
      }
    }
  }

  std::vector<int> ch_;
  std::array<Gaussian, td::kNumClasses> g_;
};

struct DiceScores {
  std::array<double, td::kNumClasses> per_class{};
  double tumour_mean = 0;  // over necrotic, edema, enhancing
  double whole_tumour = 0;
};

DiceScores score(const std::vector<const SyntheticCase*>& cases, const Qda& model) {
  DiceScores s;
  for (const SyntheticCase* c : cases) {
    const std::vector<std::uint8_t> pred = model.predict(*c);
    for (std::uint8_t k = 1; k < td::kNumClasses; ++k)
      s.per_class[k] += dice(c->labels, pred, c->brain_mask, k);
    std::vector<std::uint8_t> wt_true(pred.size()), wt_pred(pred.size());
    for (std::size_t i = 0; i < pred.size(); ++i) {
      wt_true[i] = td::in_whole_tumour(c->labels[i]);
      wt_pred[i] = td::in_whole_tumour(pred[i]);
    }
    s.whole_tumour += dice(wt_true, wt_pred, c->brain_mask, 1);
  }
  const double n = static_cast<double>(cases.size());
  for (double& v : s.per_class) v /= n;
  s.whole_tumour /= n;
  s.tumour_mean = (s.per_class[kNc] + s.per_class[kEd] + s.per_class[kEt]) / 3.0;
  return s;
}

// The case with 4 more channels: each modality averaged over a box of
// (2 r + 1)^3 voxels (brain voxels only) -- the cheapest kind of context.
SyntheticCase with_local_means(const SyntheticCase& c, int r) {
  SyntheticCase out = c;
  const td::Dims3& d = c.image.dims;
  const std::size_t voxels = d.voxels();
  out.image.channels = 2 * td::kNumModalities;
  out.image.data.resize(2 * td::kNumModalities * voxels);
  for (int m = 0; m < td::kNumModalities; ++m)
    for (int z = 0; z < d.depth; ++z)
      for (int y = 0; y < d.height; ++y)
        for (int x = 0; x < d.width; ++x) {
          double sum = 0, n = 0;
          for (int zz = std::max(z - r, 0); zz <= std::min(z + r, d.depth - 1); ++zz)
            for (int yy = std::max(y - r, 0); yy <= std::min(y + r, d.height - 1); ++yy)
              for (int xx = std::max(x - r, 0); xx <= std::min(x + r, d.width - 1); ++xx) {
                const std::size_t v = (static_cast<std::size_t>(zz) * d.height + yy) * d.width + xx;
                if (!c.brain_mask[v]) continue;
                sum += c.image.data[static_cast<std::size_t>(m) * voxels + v];
                n += 1;
              }
          const std::size_t v = (static_cast<std::size_t>(z) * d.height + y) * d.width + x;
          out.image.data[static_cast<std::size_t>(td::kNumModalities + m) * voxels + v] =
              n > 0 ? static_cast<float>(sum / n) : 0.0f;
        }
  return out;
}

}  // namespace

// ------------------------------------------------ determinism

TEST(SyntheticBrats, SameSeedGivesIdenticalBytes) {
  const SyntheticCaseSpec s = spec_for(Split::train, 7, 48, 56, 40);
  const SyntheticCase a = make(s), b = make(s);
  ASSERT_EQ(a.image.data.size(), 4u * 48 * 56 * 40);
  EXPECT_EQ(0, std::memcmp(a.image.data.data(), b.image.data.data(),
                           a.image.data.size() * sizeof(float)));
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.brain_mask, b.brain_mask);
}

TEST(SyntheticBrats, DifferentSeedsDiffer) {
  const SyntheticCase a = make(spec_for(Split::train, 0, 48, 48, 48));
  const SyntheticCase b = make(spec_for(Split::train, 1, 48, 48, 48));
  const SyntheticCase c = make(spec_for(Split::validation, 0, 48, 48, 48));
  EXPECT_NE(a.labels, b.labels);
  EXPECT_NE(a.labels, c.labels);
  EXPECT_NE(a.brain_mask, b.brain_mask);
  EXPECT_NE(case_hash(a), case_hash(b));
  EXPECT_NE(case_hash(a), case_hash(c));
}

// The bytes of one small case, pinned: any change to the generator, the
// compiler's floating-point behaviour or the platform shows up here. If the
// generator changed on purpose, bump kSyntheticBratsVersion and update this.
TEST(SyntheticBrats, GoldenHashOfASmallCase) {
  EXPECT_EQ(td::kSyntheticBratsVersion, 1);
  const SyntheticCase cube = make(spec_for(Split::train, 0, 32, 32, 32));
  EXPECT_EQ(case_hash(cube), 0xa796ccf453ac89cbULL) << std::hex << "got 0x" << case_hash(cube);
  const SyntheticCase slab = make(spec_for(Split::validation, 3, 40, 56, 48));
  EXPECT_EQ(case_hash(slab), 0x2f9728f22abc2ec4ULL) << std::hex << "got 0x" << case_hash(slab);
}

TEST(SyntheticBrats, GenerateIntoMatchesGenerateCaseAndOptionalOutputs) {
  const SyntheticCaseSpec s = spec_for(Split::test, 3, 40, 40, 40);
  const SyntheticCase ref = make(s);
  std::vector<float> image(4 * s.dims.voxels(), 123.0f);
  std::vector<std::uint8_t> labels(s.dims.voxels(), 99), mask(s.dims.voxels(), 99);
  auto info = td::generate_into(image.data(), labels.data(), s, mask.data());
  ASSERT_TRUE(info.has_value()) << info.status().message();
  EXPECT_EQ(image, ref.image.data);  // every element overwritten, background included
  EXPECT_EQ(labels, ref.labels);
  EXPECT_EQ(mask, ref.brain_mask);
  // Labels and mask are optional; the image does not change without them.
  std::vector<float> image_only(4 * s.dims.voxels(), -1.0f);
  ASSERT_TRUE(td::generate_into(image_only.data(), nullptr, s).has_value());
  EXPECT_EQ(image_only, ref.image.data);
  EXPECT_EQ(info->brain_voxels, ref.info.brain_voxels);
}

// ------------------------------------------------ anatomy and labels

TEST(SyntheticBrats, AllClassesPresentInMostCases) {
  for (int size : {32, 64}) {
    int complete = 0;
    const int cases = 20;
    for (int i = 0; i < cases; ++i) {
      const SyntheticCase c =
          make(spec_for(Split::train, static_cast<std::uint64_t>(i), size, size, size));
      std::array<std::uint64_t, td::kNumClasses> count{};
      for (std::uint8_t l : c.labels) {
        ASSERT_LT(l, td::kNumClasses);
        ++count[l];
      }
      EXPECT_EQ(count, c.info.class_voxels);
      complete += count[kNc] > 0 && count[kEd] > 0 && count[kEt] > 0;
      // A tumour is never tiny nor swallows the brain.
      const double wt = static_cast<double>(count[kNc] + count[kEd] + count[kEt]) /
                        static_cast<double>(c.info.brain_voxels);
      EXPECT_GT(wt, 0.01) << "case " << i << " at " << size;
      EXPECT_LT(wt, 0.45) << "case " << i << " at " << size;
      EXPECT_GE(c.info.tumours.size(), 1u);
      EXPECT_LE(c.info.tumours.size(), 3u);
    }
    EXPECT_GE(complete, cases * 9 / 10) << "at " << size << "^3";
  }
}

TEST(SyntheticBrats, TumourCountFollowsTheSpec) {
  std::array<int, 4> seen{};
  for (int i = 0; i < 30; ++i) {
    const SyntheticCase c = make(spec_for(Split::train, static_cast<std::uint64_t>(i), 24, 24, 24));
    ++seen[std::min<std::size_t>(c.info.tumours.size(), 3)];
  }
  EXPECT_EQ(seen[0], 0);
  EXPECT_GT(seen[1], 0);
  EXPECT_GT(seen[2], 0);
  EXPECT_GT(seen[3], 0);

  SyntheticCaseSpec healthy = spec_for(Split::train, 5, 32, 32, 32);
  healthy.min_tumours = healthy.max_tumours = 0;
  const SyntheticCase h = make(healthy);
  EXPECT_TRUE(h.info.tumours.empty());
  EXPECT_EQ(h.info.class_voxels[kBg], healthy.dims.voxels());
  EXPECT_GT(h.info.brain_voxels, healthy.dims.voxels() / 10);
}

// Necrotic core inside enhancing tumour inside edema: a necrotic voxel only
// touches core voxels, an enhancing voxel never touches healthy tissue or
// the outside, and every tumour centre lies in the brain.
TEST(SyntheticBrats, SubRegionsAreNestedAndInsideTheBrain) {
  for (int i = 0; i < 12; ++i) {
    const int size = i % 2 == 0 ? 64 : 96;
    const SyntheticCase c =
        make(spec_for(Split::train, static_cast<std::uint64_t>(100 + i), size, size, size));
    const td::Dims3& d = c.image.dims;
    std::uint64_t nc_touching_outside_core = 0, et_touching_healthy = 0, tumour_outside_brain = 0;
    for (int z = 0; z < d.depth; ++z)
      for (int y = 0; y < d.height; ++y)
        for (int x = 0; x < d.width; ++x) {
          const std::size_t v = (static_cast<std::size_t>(z) * d.height + y) * d.width + x;
          const std::uint8_t l = c.labels[v];
          if (l != kBg && !c.brain_mask[v]) ++tumour_outside_brain;
          if (l == kNc)
            for_neighbours(d, z, y, x, [&](std::size_t n) {
              nc_touching_outside_core += !td::in_tumour_core(c.labels[n]);
            });
          if (l == kEt)
            for_neighbours(d, z, y, x,
                           [&](std::size_t n) { et_touching_healthy += c.labels[n] == kBg; });
        }
    EXPECT_EQ(nc_touching_outside_core, 0u) << "case " << i;
    EXPECT_EQ(et_touching_healthy, 0u) << "case " << i;
    EXPECT_EQ(tumour_outside_brain, 0u) << "case " << i;
    for (const td::TumourInfo& t : c.info.tumours) {
      const int z = static_cast<int>(t.center_voxel[0]), y = static_cast<int>(t.center_voxel[1]),
                x = static_cast<int>(t.center_voxel[2]);
      ASSERT_TRUE(z >= 0 && y >= 0 && x >= 0 && z < d.depth && y < d.height && x < d.width);
      const std::size_t v = (static_cast<std::size_t>(z) * d.height + y) * d.width + x;
      EXPECT_TRUE(c.brain_mask[v]) << "case " << i;
      EXPECT_NE(c.labels[v], kBg) << "case " << i;  // the centre is tumour
      EXPECT_GT(t.edema_radius_mm, t.core_radius_mm);
    }
  }
}

// The brain is one blob in the middle, well inside the volume.
TEST(SyntheticBrats, BrainFillsTheVolumeLikeBraTS) {
  const SyntheticCase c = make(spec_for(Split::train, 2, 155, 240, 240));
  const td::Dims3& d = c.image.dims;
  EXPECT_NEAR(c.info.voxel_mm, 1.0f, 0.1f);  // ~1 mm, as BraTS
  const double frac = static_cast<double>(c.info.brain_voxels) / static_cast<double>(d.voxels());
  EXPECT_GT(frac, 0.10);
  EXPECT_LT(frac, 0.30);
  // No brain on the faces of the volume.
  for (int y = 0; y < d.height; ++y)
    for (int x = 0; x < d.width; ++x) {
      EXPECT_EQ(c.brain_mask[static_cast<std::size_t>(y) * d.width + x], 0);
      EXPECT_EQ(c.brain_mask[(static_cast<std::size_t>(d.depth - 1) * d.height + y) * d.width + x],
                0);
    }
}

// ------------------------------------------------ intensities

TEST(SyntheticBrats, ZScoreInsideBrainAndZeroOutside) {
  for (int i = 0; i < 4; ++i) {
    const SyntheticCase c = make(spec_for(Split::train, static_cast<std::uint64_t>(i), 64, 72, 56));
    const std::size_t voxels = c.labels.size();
    for (int m = 0; m < td::kNumModalities; ++m) {
      double sum = 0, sum_sq = 0, n = 0;
      std::uint64_t nonzero_outside = 0;
      for (std::size_t v = 0; v < voxels; ++v) {
        const float x = c.image.data[static_cast<std::size_t>(m) * voxels + v];
        ASSERT_TRUE(std::isfinite(x));
        if (c.brain_mask[v]) {
          sum += x;
          sum_sq += static_cast<double>(x) * x;
          n += 1;
        } else {
          nonzero_outside += x != 0.0f;
          ASSERT_EQ(c.labels[v], kBg);
        }
      }
      const double mean = sum / n, sd = std::sqrt(sum_sq / n - mean * mean);
      EXPECT_NEAR(mean, 0.0, 1e-3) << td::modality_name(static_cast<td::Modality>(m));
      EXPECT_NEAR(sd, 1.0, 1e-3) << td::modality_name(static_cast<td::Modality>(m));
      EXPECT_EQ(nonzero_outside, 0u);
      EXPECT_GT(c.info.raw_std[static_cast<std::size_t>(m)], 0.0);
    }
  }
}

TEST(SyntheticBrats, NormalizeOffKeepsRawPositiveIntensities) {
  SyntheticCaseSpec s = spec_for(Split::train, 4, 40, 40, 40);
  s.normalize = false;
  const SyntheticCase c = make(s);
  const std::size_t voxels = c.labels.size();
  double sum_t1 = 0;
  for (std::size_t v = 0; v < voxels; ++v) {
    for (int m = 0; m < td::kNumModalities; ++m) {
      const float x = c.image.data[static_cast<std::size_t>(m) * voxels + v];
      ASSERT_GE(x, 0.0f);
      if (!c.brain_mask[v]) {
        ASSERT_EQ(x, 0.0f);
      }
    }
    if (c.brain_mask[v]) sum_t1 += c.image.data[v];
  }
  EXPECT_NEAR(sum_t1 / static_cast<double>(c.info.brain_voxels), c.info.raw_mean[0], 1e-3);
}

// Mean intensity of a modality over the voxels of one class (brain only).
struct ClassMeans {
  std::array<std::array<double, td::kNumClasses>, td::kNumModalities> mean{};
};
ClassMeans class_means(const SyntheticCase& c) {
  ClassMeans out;
  std::array<double, td::kNumClasses> n{};
  const std::size_t voxels = c.labels.size();
  for (std::size_t v = 0; v < voxels; ++v) {
    if (!c.brain_mask[v]) continue;
    n[c.labels[v]] += 1;
    for (int m = 0; m < td::kNumModalities; ++m)
      out.mean[m][c.labels[v]] += c.image.data[static_cast<std::size_t>(m) * voxels + v];
  }
  for (auto& row : out.mean)
    for (int k = 0; k < td::kNumClasses; ++k) row[k] /= std::max(n[k], 1.0);
  return out;
}

TEST(SyntheticBrats, TissueContrastsPerModality) {
  int checked = 0;
  for (int i = 0; i < 10; ++i) {
    const SyntheticCase c = make(spec_for(Split::train, static_cast<std::uint64_t>(i), 64, 64, 64));
    if (c.info.class_voxels[kNc] == 0) continue;
    ++checked;
    const auto& m = class_means(c).mean;
    SCOPED_TRACE("case " + std::to_string(i));
    // Edema: bright on FLAIR and T2, dark on T1 (in z-score units of the brain).
    EXPECT_GT(m[kFlair][kEd], m[kFlair][kBg] + 1.0);
    EXPECT_GT(m[kT2][kEd], m[kT2][kBg] + 0.5);
    EXPECT_LT(m[kT1][kEd], m[kT1][kBg] - 0.2);
    // Enhancing rim: the brightest class on T1Gd, clearly.
    EXPECT_GT(m[kT1gd][kEt], m[kT1gd][kBg] + 0.6);
    EXPECT_GT(m[kT1gd][kEt], m[kT1gd][kEd] + 1.0);
    // Necrotic core: dark on T1Gd (darker than healthy brain and edema),
    // bright on T2, below edema on FLAIR.
    EXPECT_LT(m[kT1gd][kNc], m[kT1gd][kBg] - 1.0);
    EXPECT_LT(m[kT1gd][kNc], m[kT1gd][kEd] - 0.5);
    EXPECT_GT(m[kT2][kNc], m[kT2][kBg] + 1.0);
    EXPECT_LT(m[kFlair][kNc], m[kFlair][kEd] - 0.2);
  }
  EXPECT_GE(checked, 8);
}

// Noise and bias really are there and follow the spec.
TEST(SyntheticBrats, NoiseAndBiasFollowTheSpec) {
  auto roughness = [](const SyntheticCase& c) {  // mean |x - right neighbour| inside the brain, T1
    const td::Dims3& d = c.image.dims;
    double sum = 0, n = 0;
    for (std::size_t v = 0; v + 1 < d.voxels(); ++v)
      if (c.brain_mask[v] && c.brain_mask[v + 1] && (v + 1) % d.width != 0) {
        sum += std::fabs(c.image.data[v + 1] - c.image.data[v]);
        n += 1;
      }
    return sum / n;
  };
  SyntheticCaseSpec s = spec_for(Split::train, 9, 48, 48, 48);
  s.normalize = false;
  const SyntheticCase noisy = make(s);
  s.noise_sigma = 0.0f;
  const SyntheticCase clean = make(s);
  EXPECT_GT(roughness(noisy), 1.5 * roughness(clean));
  EXPECT_EQ(noisy.labels, clean.labels);  // noise changes intensities only

  // Without noise the bias is exactly the ratio of a biased to an unbiased
  // image of the same anatomy: smooth and within 1 +- bias_strength.
  s.noise_sigma = 0.0f;
  s.bias_strength = 0.0f;
  const SyntheticCase flat = make(s);
  s.bias_strength = 0.4f;
  const SyntheticCase biased = make(s);
  ASSERT_EQ(flat.brain_mask, biased.brain_mask);
  double lo = 2, hi = 0, max_step = 0;
  const std::size_t voxels = flat.labels.size();
  for (int m = 0; m < td::kNumModalities; ++m)
    for (std::size_t v = 0; v + 1 < voxels; ++v) {
      const std::size_t a = static_cast<std::size_t>(m) * voxels + v;
      if (!flat.brain_mask[v] || flat.image.data[a] < 0.05f) continue;
      const double ratio = biased.image.data[a] / flat.image.data[a];
      lo = std::min(lo, ratio);
      hi = std::max(hi, ratio);
      if (flat.brain_mask[v + 1] && (v + 1) % static_cast<std::size_t>(s.dims.width) != 0 &&
          flat.image.data[a + 1] >= 0.05f)
        max_step = std::max(max_step,
                            std::fabs(biased.image.data[a + 1] / flat.image.data[a + 1] - ratio));
    }
  EXPECT_GE(lo, 1.0 - 0.4 - 1e-4);
  EXPECT_LE(hi, 1.0 + 0.4 + 1e-4);
  EXPECT_GT(hi - lo, 0.1);    // it is really there
  EXPECT_LT(max_step, 0.05);  // and smooth: a few % per voxel at most
}

// ------------------------------------------------ learnability

// A Gaussian classifier per voxel, fitted on training cases, finds the
// tumour sub-regions of held-out cases far better than chance, but neither
// it nor any single modality solves the task: context is left for a U-Net.
TEST(SyntheticBrats, PerVoxelClassifierLearnsButDoesNotSolveIt) {
  std::vector<SyntheticCase> train, held_out;
  for (std::uint64_t i = 0; i < 3; ++i)
    train.push_back(make(spec_for(Split::train, i, 64, 64, 64)));
  for (std::uint64_t i = 0; i < 3; ++i)
    held_out.push_back(make(spec_for(Split::validation, i, 64, 64, 64)));
  std::vector<const SyntheticCase*> tr, ho;
  for (const auto& c : train) tr.push_back(&c);
  for (const auto& c : held_out) ho.push_back(&c);

  // Chance: predicting each class with its frequency gives Dice ~ frequency.
  std::array<double, td::kNumClasses> freq{};
  double brain = 0;
  for (const auto& c : held_out) {
    for (int k = 0; k < td::kNumClasses; ++k)
      freq[k] += static_cast<double>(c.info.class_voxels[k]);
    brain += static_cast<double>(c.info.brain_voxels);
  }
  freq[0] -= 0;  // background includes the outside; unused below
  const double chance = (freq[kNc] + freq[kEd] + freq[kEt]) / brain / 3.0;

  Qda all({kT1, kT1gd, kT2, kFlair});
  all.fit(tr);
  const DiceScores s_all = score(ho, all);
  std::printf(
      "per-voxel QDA, 4 modalities: Dice nc %.3f ed %.3f et %.3f (mean %.3f, WT %.3f); chance "
      "~%.3f\n",
      s_all.per_class[kNc], s_all.per_class[kEd], s_all.per_class[kEt], s_all.tumour_mean,
      s_all.whole_tumour, chance);
  EXPECT_GT(s_all.tumour_mean, 0.5);
  EXPECT_GT(s_all.whole_tumour, 0.7);
  for (std::uint8_t k : {kNc, kEd, kEt})
    EXPECT_GT(s_all.per_class[k], 0.3) << td::class_name(static_cast<td::TumourClass>(k));
  EXPECT_GT(s_all.tumour_mean, 5 * chance);
  EXPECT_LT(s_all.tumour_mean, 0.95);  // not solved voxel by voxel

  double best_single = 0;
  for (int m = 0; m < td::kNumModalities; ++m) {
    Qda one({m});
    one.fit(tr);
    const DiceScores s = score(ho, one);
    std::printf("per-voxel QDA, %-5s alone: Dice nc %.3f ed %.3f et %.3f (mean %.3f)\n",
                td::modality_name(static_cast<td::Modality>(m)), s.per_class[kNc], s.per_class[kEd],
                s.per_class[kEt], s.tumour_mean);
    best_single = std::max(best_single, s.tumour_mean);
  }
  EXPECT_LT(best_single, s_all.tumour_mean - 0.1);  // the modalities complement each other
  EXPECT_LT(best_single, 0.7);

  // Context helps: local means of the modalities as 4 more features already
  // raise the Dice, so a network that sees neighbourhoods can beat a per-voxel rule.
  std::vector<SyntheticCase> train_ctx, held_ctx;
  for (const auto& c : train) train_ctx.push_back(with_local_means(c, 1));
  for (const auto& c : held_out) held_ctx.push_back(with_local_means(c, 1));
  std::vector<const SyntheticCase*> trc, hoc;
  for (const auto& c : train_ctx) trc.push_back(&c);
  for (const auto& c : held_ctx) hoc.push_back(&c);
  Qda ctx({0, 1, 2, 3, 4, 5, 6, 7});
  ctx.fit(trc);
  const DiceScores s_ctx = score(hoc, ctx);
  std::printf("QDA with 3x3x3 local means: Dice nc %.3f ed %.3f et %.3f (mean %.3f, WT %.3f)\n",
              s_ctx.per_class[kNc], s_ctx.per_class[kEd], s_ctx.per_class[kEt], s_ctx.tumour_mean,
              s_ctx.whole_tumour);
  EXPECT_GT(s_ctx.tumour_mean, s_all.tumour_mean + 0.05);
}

// ------------------------------------------------ API boundary

TEST(SyntheticBrats, BadSpecsAreRejectedWithTheFieldAndTheRange) {
  struct Bad {
    SyntheticCaseSpec spec;
    const char* field;
  };
  std::vector<Bad> bad;
  SyntheticCaseSpec s;
  s.dims.depth = 8;
  bad.push_back({s, "dims.depth"});
  s = {};
  s.dims.width = 5000;
  bad.push_back({s, "dims.width"});
  s = {};
  s.min_tumours = -1;
  bad.push_back({s, "min_tumours"});
  s = {};
  s.min_tumours = 3;
  s.max_tumours = 2;
  bad.push_back({s, "max_tumours"});
  s = {};
  s.noise_sigma = std::nanf("");
  bad.push_back({s, "noise_sigma"});
  s = {};
  s.bias_strength = 0.9f;
  bad.push_back({s, "bias_strength"});
  for (const Bad& b : bad) {
    const tensortier::Status st = td::validate(b.spec);
    EXPECT_EQ(st.code(), tensortier::Errc::invalid_argument) << b.field;
    EXPECT_NE(st.message().find(b.field), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("accepted"), std::string::npos) << st.message();
    EXPECT_FALSE(td::generate_case(b.spec).has_value());
    float dummy = 0;
    EXPECT_FALSE(td::generate_into(&dummy, nullptr, b.spec).has_value());
  }
  const auto null_image = td::generate_into(nullptr, nullptr, SyntheticCaseSpec{});
  ASSERT_FALSE(null_image.has_value());
  EXPECT_NE(null_image.status().message().find("image"), std::string::npos);
}

TEST(SyntheticBrats, SplitsUseDisjointSeedsAndBatchesMatchSingleCases) {
  EXPECT_EQ(td::case_seed(Split::train, 0), 0u);
  EXPECT_EQ(td::case_seed(Split::train, 5), 5u);
  EXPECT_EQ(td::case_seed(Split::validation, 0), td::kCasesPerSplit);
  EXPECT_EQ(td::case_seed(Split::test, 0), 2 * td::kCasesPerSplit);
  EXPECT_LT(td::case_seed(Split::train, td::kCasesPerSplit - 1),
            td::case_seed(Split::validation, 0));
  EXPECT_LT(td::case_seed(Split::validation, td::kCasesPerSplit - 1),
            td::case_seed(Split::test, 0));
  EXPECT_STREQ(td::split_name(Split::validation), "validation");

  SyntheticCaseSpec base;
  base.dims = {24, 32, 28};
  const std::size_t voxels = base.dims.voxels();
  const int batch = 3;
  std::vector<float> images(batch * 4 * voxels);
  std::vector<std::uint8_t> labels(batch * voxels);
  ASSERT_TRUE(
      td::generate_batch_into(images.data(), labels.data(), base, Split::validation, 10, batch));
  for (int b = 0; b < batch; ++b) {
    SyntheticCaseSpec s = base;
    s.seed = td::case_seed(Split::validation, 10 + static_cast<std::uint64_t>(b));
    const SyntheticCase c = make(s);
    EXPECT_TRUE(std::equal(c.image.data.begin(), c.image.data.end(),
                           images.begin() + static_cast<std::ptrdiff_t>(b * 4 * voxels)))
        << "case " << b;
    EXPECT_TRUE(std::equal(c.labels.begin(), c.labels.end(),
                           labels.begin() + static_cast<std::ptrdiff_t>(b * voxels)))
        << "case " << b;
  }
  EXPECT_FALSE(td::generate_batch_into(images.data(), labels.data(), base, Split::train, 0, -1));
  EXPECT_FALSE(td::generate_batch_into(images.data(), labels.data(), base, Split::train,
                                       td::kCasesPerSplit - 1, 2));
}

TEST(SyntheticBrats, BratsLabelMappingAndRegions) {
  EXPECT_EQ(td::class_from_brats_label(0), kBg);
  EXPECT_EQ(td::class_from_brats_label(1), kNc);
  EXPECT_EQ(td::class_from_brats_label(2), kEd);
  EXPECT_EQ(td::class_from_brats_label(3), kEt);  // BraTS 2023
  EXPECT_EQ(td::class_from_brats_label(4), kEt);  // BraTS 2017-2021
  EXPECT_EQ(td::class_from_brats_label(7), kBg);
  EXPECT_TRUE(td::in_whole_tumour(kEd) && td::in_whole_tumour(kNc) && td::in_whole_tumour(kEt));
  EXPECT_FALSE(td::in_whole_tumour(kBg));
  EXPECT_TRUE(td::in_tumour_core(kNc) && td::in_tumour_core(kEt) && !td::in_tumour_core(kEd));
  EXPECT_TRUE(td::in_enhancing_tumour(kEt) && !td::in_enhancing_tumour(kNc));
  EXPECT_STREQ(td::class_name(td::TumourClass::edema), "edema");
  EXPECT_STREQ(td::modality_name(td::Modality::flair), "flair");
}

// Reports generation time (not asserted: shared CI machines vary).
TEST(SyntheticBrats, ReportsGenerationTime) {
  for (const td::Dims3 d : {td::Dims3{96, 96, 96}, td::Dims3{155, 240, 240}}) {
    SyntheticCaseSpec s;
    s.dims = d;
    std::vector<float> image(4 * d.voxels());
    std::vector<std::uint8_t> labels(d.voxels());
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(td::generate_into(image.data(), labels.data(), s).has_value());
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("generate_into %dx%dx%d: %.1f ms\n", d.depth, d.height, d.width, ms);
    RecordProperty("ms_" + std::to_string(d.depth) + "x" + std::to_string(d.height) + "x" +
                       std::to_string(d.width),
                   static_cast<int>(ms));
  }
}
