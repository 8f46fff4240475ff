// Tiled (sliding-window) inference, src/runtime/infer/tiled.hpp: window
// positions cover odd-sized volumes exactly; one window the size of the
// volume gives whole-volume inference bit for bit; with overlap 0.5 the labels
// of a briefly trained model agree with whole-volume inference on >= 99% of a
// 64^3 volume; input and accumulators live in PMem while the DRAM peak stays
// below a budget smaller than them; bad tiles are clean errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/graph/executor.hpp"
#include "runtime/infer/synthetic_volume.hpp"
#include "runtime/infer/tiled.hpp"
#include "runtime/train/threads.hpp"
#include "runtime/train/trainer.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::runtime::infer {
namespace {

namespace tg = runtime::graph;
namespace tm = runtime::model;
namespace tp = runtime::plan;

std::unique_ptr<Allocator> make_allocator(std::optional<std::uint64_t> dram_limit = {},
                                          bool pmem = false) {
  AllocatorOptions options;
  options.config.dram_limit_bytes = dram_limit;
  if (pmem) {
    options.config.pmem.scheme = PmemSpec::Scheme::temp_file;
    options.config.pmem.size_bytes = std::uint64_t{1} << 30;
  } else {
    options.config.pmem.scheme = PmemSpec::Scheme::none;
  }
  auto alloc = Allocator::create(options);
  if (!alloc) throw std::runtime_error(alloc.status().message());
  return std::move(*alloc);
}

tm::UNet3dConfig small_model(int levels = 3, int base = 4) {
  tm::UNet3dConfig c;
  c.levels = levels;
  c.base_filters = base;
  return c;
}

tm::Parameters parameters_for(const tm::UNet3dConfig& c, Allocator& alloc, std::uint64_t seed) {
  tg::Graph g;
  tm::build_unet3d(g, c, {1, c.in_channels, 16, 16, 16}, {});
  return tm::init_parameters(g, alloc, seed);
}

// Whole-volume inference on the reuse plan: softmax (as tiled inference
// computes it) of the logits, (K, V).
std::vector<float> whole_volume_probabilities(Context& ctx, const tm::UNet3dConfig& c,
                                              const tm::Parameters& params, const float* volume,
                                              const data::Dims3& d) {
  tg::Graph g;
  const Dims input{1, c.in_channels, d.depth, d.height, d.width};
  const tm::UNet3dGraph net = tm::build_unet3d(g, c, input, {});
  const tp::ReusePlan plan = tp::plan_reuse(tp::compute_liveness(g, tp::Pass::inference, 64), &g);
  tg::Executor exec(g, ctx);
  for (const tg::TensorInfo& t : g.tensors())
    if (t.kind == tg::TensorKind::weight || t.kind == tg::TensorKind::state)
      exec.bind(t.id, params.at(t.name));
  const std::size_t voxels = d.voxels();
  exec.bind(net.image,
            Tensor::from_plain(ctx.allocator(), input,
                               {volume, voxels * static_cast<std::size_t>(c.in_channels)}));
  const Tensor logits = exec.infer(net.logits, {.plan = &plan}).to_plain(ctx);
  std::vector<float> p(voxels * static_cast<std::size_t>(c.classes));
  softmax_classes(logits.f32(), p.data(), c.classes, voxels);
  return p;
}

TEST(TiledWindows, StartsCoverOddSizesExactly) {
  for (int size : {24, 33, 47, 64, 100, 129, 255})
    for (int tile : {8, 16, 24, 32})
      for (double overlap : {0.0, 0.25, 0.5, 0.75}) {
        if (tile > size) continue;
        SCOPED_TRACE(testing::Message() << "size " << size << " tile " << tile << " overlap "
                                        << overlap);
        const std::vector<int> s = window_starts(size, tile, overlap);
        ASSERT_FALSE(s.empty());
        EXPECT_EQ(s.front(), 0);
        EXPECT_EQ(s.back(), size - tile);  // flush with the end
        const double step = std::max(1.0, tile * (1.0 - overlap));
        EXPECT_EQ(s.size(),
                  size == tile ? 1u
                               : static_cast<std::size_t>(std::ceil((size - tile) / step - 1e-9)) + 1);
        std::vector<int> covered(static_cast<std::size_t>(size), 0);
        for (std::size_t i = 0; i < s.size(); ++i) {
          if (i > 0) {
            EXPECT_GT(s[i], s[i - 1]);
            EXPECT_LE(s[i] - s[i - 1], static_cast<int>(std::ceil(step)));  // no gap, no excess
          }
          for (int v = s[i]; v < s[i] + tile; ++v) ++covered[static_cast<std::size_t>(v)];
        }
        EXPECT_TRUE(std::all_of(covered.begin(), covered.end(), [](int n) { return n >= 1; }));
        if (overlap == 0.0 && size % tile == 0) {  // an exact tiling: every voxel once
          EXPECT_TRUE(std::all_of(covered.begin(), covered.end(), [](int n) { return n == 1; }));
        }
      }
  EXPECT_EQ(window_starts(64, 32, 0.5), (std::vector<int>{0, 16, 32}));
  EXPECT_EQ(window_starts(100, 32, 0.0), (std::vector<int>{0, 23, 45, 68}));
}

TEST(TiledWindows, ImportanceMapIsAGaussianClampedAwayFromZero) {
  const std::vector<float> g = importance_1d(32, false);
  ASSERT_EQ(g.size(), 32u);
  EXPECT_FLOAT_EQ(g[15], 1.0f);
  EXPECT_FLOAT_EQ(g[16], 1.0f);
  for (std::size_t i = 0; i < 16; ++i) {
    EXPECT_FLOAT_EQ(g[i], g[31 - i]);  // symmetric
    if (i > 0) {
      EXPECT_LT(g[i - 1], g[i]);
    }
  }
  // sigma = tile / 8 = 4: voxel 0's centre is 15.5 voxels = 3.875 sigma away.
  EXPECT_NEAR(g[0], std::exp(-0.5 * 3.875 * 3.875) / std::exp(-0.5 * 0.125 * 0.125), 1e-6);
  EXPECT_GT(importance_1d(8, false)[0], 0.0f);
  const std::vector<float> flat = importance_1d(16, true);
  EXPECT_TRUE(std::all_of(flat.begin(), flat.end(), [](float v) { return v == 1.0f; }));
}

// Every voxel of an odd-sized volume gets blended probabilities summing to 1.
TEST(TiledInference, OddVolumeEveryVoxelBlended) {
  auto alloc = make_allocator();
  Context ctx(*alloc);
  const tm::UNet3dConfig c = small_model();
  const tm::Parameters params = parameters_for(c, *alloc, 1);
  const data::Dims3 d{41, 35, 47};
  auto v = generate_synthetic_volume(*alloc, d, 2, c.classes);
  ASSERT_TRUE(v) << v.status().message();
  TiledInference tiled(ctx, c, params, {.tile = {16, 24, 16}, .overlap = 0.25});
  auto r = tiled.run(v->image.f32(), d);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->starts[0], window_starts(41, 16, 0.25));
  EXPECT_EQ(r->windows, r->starts[0].size() * r->starts[1].size() * r->starts[2].size());
  EXPECT_EQ(r->starts[1].size(), 2u);
  const std::size_t voxels = d.voxels();
  const float* p = r->probabilities.f32();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < voxels; ++i) {
    float sum = 0;
    for (int k = 0; k < c.classes; ++k) sum += p[static_cast<std::size_t>(k) * voxels + i];
    bad += std::fabs(sum - 1.0f) > 1e-4f ? 1 : 0;
  }
  EXPECT_EQ(bad, 0u);
  std::vector<std::uint8_t> labels(voxels);
  argmax_classes(p, labels.data(), c.classes, voxels);
  EXPECT_EQ(std::memcmp(labels.data(), r->labels.u8(), voxels), 0);
}

// One window the size of the volume is whole-volume inference, bit for bit.
TEST(TiledInference, TileEqualToVolumeIsBitIdentical) {
  auto alloc = make_allocator();
  Context ctx(*alloc);
  for (const auto& [c, d] : {std::pair{small_model(3, 4), data::Dims3{32, 24, 40}},
                             std::pair{small_model(2, 6), data::Dims3{26, 30, 28}}}) {
    SCOPED_TRACE(testing::Message() << c.levels << " levels, " << d.depth << "x" << d.height
                                    << "x" << d.width);
    const tm::Parameters params = parameters_for(c, *alloc, 3);
    auto v = generate_synthetic_volume(*alloc, d, 1, c.classes);
    ASSERT_TRUE(v) << v.status().message();
    TiledInference tiled(ctx, c, params, {.tile = d, .overlap = 0.5});
    auto r = tiled.run(v->image.f32(), d);
    ASSERT_TRUE(r) << r.status().message();
    EXPECT_EQ(r->windows, 1u);
    const std::vector<float> whole = whole_volume_probabilities(ctx, c, params, v->image.f32(), d);
    ASSERT_EQ(r->probabilities.bytes(), whole.size() * sizeof(float));
    EXPECT_EQ(std::memcmp(r->probabilities.data(), whole.data(), r->probabilities.bytes()), 0);
    std::vector<std::uint8_t> labels(d.voxels());
    argmax_classes(whole.data(), labels.data(), c.classes, d.voxels());
    EXPECT_EQ(std::memcmp(labels.data(), r->labels.u8(), d.voxels()), 0);
  }
}

// With overlap the U-Net's receptive field is cut at window borders, so the
// blend is not whole-volume inference; on a briefly trained model the labels
// still agree on >= 99% of a 64^3 volume with 32^3 tiles and overlap 0.5, and
// the two tumour predictions overlap with a Dice >= 0.95 (the brief asked for
// >= 90% agreement; measured 0.9999 and 0.9994).
TEST(TiledInference, OverlapBlendingAgreesWithWholeVolume) {
  runtime::train::set_threads(2);
  auto alloc = make_allocator();
  // Untrained weights predict one class almost everywhere (99.4% here), which
  // would make agreement trivial: train whole-tumour segmentation briefly
  // (25 Adam steps reach a held-out Dice of ~0.8).
  runtime::train::TrainOptions to;
  to.dims = {32, 32, 32};
  to.model = small_model(3, 4);
  to.model.classes = 2;
  to.steps = 25;
  to.optimizer = tg::OptimizerKind::adam;
  to.lr = 0.01f;
  runtime::train::Trainer trainer(*alloc, to);
  for (int i = 0; i < to.steps; ++i) trainer.step();
  const tm::Parameters& params = trainer.parameters();
  const tm::UNet3dConfig& c = to.model;
  Context ctx(*alloc);
  const data::Dims3 d{64, 64, 64};
  auto v = generate_synthetic_volume(*alloc, d, 0, c.classes);
  ASSERT_TRUE(v) << v.status().message();
  const std::vector<float> whole = whole_volume_probabilities(ctx, c, params, v->image.f32(), d);
  std::vector<std::uint8_t> whole_labels(d.voxels());
  argmax_classes(whole.data(), whole_labels.data(), c.classes, d.voxels());
  TiledInference tiled(ctx, c, params, {.tile = {32, 32, 32}, .overlap = 0.5, .batch = 2});
  auto r = tiled.run(v->image.f32(), d);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->windows, 27u);
  EXPECT_EQ(r->passes, 14u);  // 13 full batches of 2 and one of 1
  const double agree = agreement(r->labels.u8(), whole_labels.data(), d.voxels());
  // The tumour as whole-volume inference and as tiled inference predict it.
  std::size_t whole_tumour = 0, tiled_tumour = 0, both = 0;
  for (std::size_t i = 0; i < d.voxels(); ++i) {
    whole_tumour += whole_labels[i] == 1 ? 1 : 0;
    tiled_tumour += r->labels.u8()[i] == 1 ? 1 : 0;
    both += whole_labels[i] == 1 && r->labels.u8()[i] == 1 ? 1 : 0;
  }
  const double tumour_dice = 2.0 * static_cast<double>(both) /
                             static_cast<double>(std::max<std::size_t>(whole_tumour + tiled_tumour, 1));
  std::printf("tiled 32^3 (overlap 0.5) vs whole-volume 64^3: label agreement %.4f, tumour "
              "%.2f%% of the voxels (whole) / %.2f%% (tiled), tumour Dice between them %.4f\n",
              agree, 100.0 * static_cast<double>(whole_tumour) / static_cast<double>(d.voxels()),
              100.0 * static_cast<double>(tiled_tumour) / static_cast<double>(d.voxels()),
              tumour_dice);
  EXPECT_GT(whole_tumour, d.voxels() / 200);  // a real prediction, not one class everywhere
  EXPECT_GE(agree, 0.99);
  EXPECT_GE(tumour_dice, 0.95);
  // Probabilities: close to whole-volume inference on average.
  double diff = 0;
  for (std::size_t i = 0; i < whole.size(); ++i)
    diff += std::fabs(static_cast<double>(r->probabilities.f32()[i]) - whole[i]);
  EXPECT_LT(diff / static_cast<double>(whole.size()), 0.05);
}

// Input, accumulators and labels are PMem blocks; DRAM holds the window, its
// arena and the weights, below a budget smaller than the volume's buffers.
TEST(TiledInference, VolumeInPmemDramBelowBudget) {
  constexpr std::uint64_t kBudget = 40ull << 20;
  auto alloc = make_allocator(kBudget, true);
  ASSERT_EQ(alloc->tiers().size(), 2u);
  Context ctx(*alloc);
  const tm::UNet3dConfig c = small_model(3, 4);
  const tm::Parameters params = parameters_for(c, *alloc, 1);
  const data::Dims3 d{128, 128, 96};
  auto v = generate_synthetic_volume(*alloc, d, 0, c.classes);
  ASSERT_TRUE(v) << v.status().message();
  auto is_pmem = [&](int tier) {
    if (tier < 0) return false;
    const TierKind k = alloc->tiers()[static_cast<std::size_t>(tier)].kind;
    return k == TierKind::pmem_file || k == TierKind::pmem_devdax || k == TierKind::pmem_kmem;
  };
  EXPECT_TRUE(is_pmem(alloc->tier_of(v->image.data())));
  EXPECT_TRUE(is_pmem(alloc->tier_of(v->labels.data())));
  TiledInference tiled(ctx, c, params, {.tile = {32, 32, 32}, .overlap = 0.0});
  auto r = tiled.run(v->image.f32(), d);
  ASSERT_TRUE(r) << r.status().message();
  EXPECT_EQ(r->windows, 4u * 4u * 3u);
  EXPECT_TRUE(is_pmem(r->accumulator_tier));
  EXPECT_TRUE(is_pmem(alloc->tier_of(r->probabilities.data())));
  EXPECT_TRUE(is_pmem(alloc->tier_of(r->labels.data())));
  const std::uint64_t volume_bytes = v->image.bytes() + r->probabilities.bytes() + r->labels.bytes();
  EXPECT_GT(volume_bytes, kBudget);  // the volume's buffers alone would not fit in DRAM
  std::uint64_t dram_peak = 0, pmem_peak = 0;
  for (const TierStats& t : alloc->stats().tiers)
    (t.kind.rfind("pmem", 0) == 0 ? pmem_peak : dram_peak) += t.peak_bytes;
  EXPECT_LE(dram_peak, kBudget);
  EXPECT_GE(pmem_peak, volume_bytes);
  // Nothing of the window spilled: PMem holds the volume's buffers (and the
  // generator's brain mask, freed before inference) and little else.
  EXPECT_LE(pmem_peak, volume_bytes + d.voxels() + (8u << 20));
}

TEST(TiledInference, BadTilesAreCleanErrors) {
  auto alloc = make_allocator();
  Context ctx(*alloc);
  const tm::UNet3dConfig c = small_model(3, 4);  // tiles must be multiples of 4
  const tm::Parameters params = parameters_for(c, *alloc, 1);
  const data::Dims3 d{32, 32, 32};
  Status s = validate(c, d, {.tile = {16, 18, 16}});
  EXPECT_EQ(s.code(), Errc::invalid_argument);
  EXPECT_NE(s.message().find("tile 16x18x16"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("multiple of 2^(levels-1) = 4"), std::string::npos) << s.message();
  s = validate(c, d, {.tile = {32, 40, 32}});
  EXPECT_EQ(s.code(), Errc::invalid_argument);
  EXPECT_NE(s.message().find("larger than the volume 32x32x32"), std::string::npos) << s.message();
  EXPECT_EQ(validate(c, d, {.tile = {16, 16, 16}, .overlap = 1.0}).code(), Errc::invalid_argument);
  EXPECT_EQ(validate(c, d, {.tile = {16, 16, 16}, .overlap = -0.1}).code(), Errc::invalid_argument);
  EXPECT_EQ(validate(c, d, {.tile = {16, 16, 16}, .batch = 0}).code(), Errc::invalid_argument);
  EXPECT_TRUE(validate(c, d, {.tile = {16, 16, 16}, .overlap = 0.0}));
  EXPECT_THROW(TiledInference(ctx, c, params, {.tile = {16, 18, 16}}), std::invalid_argument);
  // A valid tile on a volume smaller than it: run() reports, nothing is allocated.
  TiledInference tiled(ctx, c, params, {.tile = {32, 32, 32}});
  const std::vector<float> small(4u * 24 * 24 * 24, 0.f);
  auto r = tiled.run(small.data(), {24, 24, 24});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.status().code(), Errc::invalid_argument);
  EXPECT_NE(r.status().message().find("larger than the volume 24x24x24"), std::string::npos);
}

}  // namespace
}  // namespace tensortier::runtime::infer
