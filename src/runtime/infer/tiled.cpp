// Sliding-window inference: windows in z-major order, each copied from the
// (PMem) volume into a DRAM batch, run on the planned window graph, and its
// softmax accumulated into per-class sums (PMem) with the window's Gaussian
// weight. Sums of a plane are zeroed when the first window reaches it and
// normalised (and reduced to labels) as soon as no later window touches it,
// so the huge accumulators are walked in one front, page-cache friendly.
#include "runtime/infer/tiled.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "runtime/graph/executor.hpp"
#include "runtime/plan/liveness.hpp"

namespace tensortier::runtime::infer {

namespace tg = runtime::graph;
namespace tp = runtime::plan;

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string dims_text(const data::Dims3& d) {
  return std::to_string(d.depth) + "x" + std::to_string(d.height) + "x" + std::to_string(d.width);
}

std::array<int, 3> as_array(const data::Dims3& d) { return {d.depth, d.height, d.width}; }

// Softmax of one voxel's K logits (stride apart) into p[0..K): the function
// both tiled inference and softmax_classes use, so results compare exactly.
inline void softmax_voxel(const float* logits, std::size_t stride, int classes, float* p) {
  float max = logits[0];
  for (int c = 1; c < classes; ++c) max = std::max(max, logits[static_cast<std::size_t>(c) * stride]);
  float sum = 0.f;
  for (int c = 0; c < classes; ++c) {
    p[c] = std::exp(logits[static_cast<std::size_t>(c) * stride] - max);
    sum += p[c];
  }
  for (int c = 0; c < classes; ++c) p[c] = p[c] / sum;
}

constexpr int kMaxClasses = 256;

}  // namespace

// ---------------------------------------------------------------- ColdBlock

ColdBlock ColdBlock::allocate(Allocator& allocator, std::size_t bytes) {
  ColdBlock b;
  b.data_ = allocator.allocate(std::max<std::size_t>(bytes, 1), 4096, Hint::cold);
  b.allocator_ = &allocator;
  b.bytes_ = bytes;
  return b;
}

ColdBlock& ColdBlock::operator=(ColdBlock&& other) noexcept {
  if (this != &other) {
    reset();
    allocator_ = std::exchange(other.allocator_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void ColdBlock::reset() noexcept {
  if (data_ != nullptr) (void)allocator_->deallocate(data_);
  data_ = nullptr;
  allocator_ = nullptr;
  bytes_ = 0;
}

// ---------------------------------------------------------------- geometry

std::vector<int> window_starts(int size, int tile, double overlap) {
  if (tile < 1 || tile > size) throw std::invalid_argument("window_starts: tile outside 1..size");
  if (tile == size) return {0};
  const double step = std::max(1.0, static_cast<double>(tile) * (1.0 - overlap));
  const int n = static_cast<int>(std::ceil(static_cast<double>(size - tile) / step - 1e-9)) + 1;
  std::vector<int> starts(static_cast<std::size_t>(n));
  const double actual = static_cast<double>(size - tile) / static_cast<double>(n - 1);
  for (int i = 0; i < n; ++i)
    starts[static_cast<std::size_t>(i)] = static_cast<int>(std::lround(actual * i));
  starts.back() = size - tile;
  return starts;
}

std::vector<float> importance_1d(int tile, bool flat) {
  std::vector<float> g(static_cast<std::size_t>(tile), 1.0f);
  if (flat) return g;
  const double sigma = static_cast<double>(tile) / 8.0;
  const double centre = static_cast<double>(tile) / 2.0;
  double max = 0;
  std::vector<double> v(g.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double d = (static_cast<double>(i) + 0.5 - centre) / sigma;
    v[i] = std::exp(-0.5 * d * d);
    max = std::max(max, v[i]);
  }
  for (std::size_t i = 0; i < v.size(); ++i)
    g[i] = static_cast<float>(std::max(v[i] / max, 1e-6));
  return g;
}

Status validate(const model::UNet3dConfig& config, const data::Dims3& volume,
                const TiledOptions& options) {
  auto bad = [](const std::string& what) { return Status(Errc::invalid_argument, what); };
  if (config.levels < 1 || config.levels > 8)
    return bad("levels " + std::to_string(config.levels) + ": accepted: 1..8");
  const int div = 1 << (config.levels - 1);
  const auto tile = as_array(options.tile);
  const auto vol = as_array(volume);
  for (int a = 0; a < 3; ++a) {
    if (vol[static_cast<std::size_t>(a)] < 1)
      return bad("volume " + dims_text(volume) + ": every dimension must be >= 1");
    const int t = tile[static_cast<std::size_t>(a)];
    if (t < div || t % div != 0)
      return bad("tile " + dims_text(options.tile) + ": each dimension must be a multiple of " +
                 "2^(levels-1) = " + std::to_string(div) + " (" + std::to_string(config.levels) +
                 " levels)");
    if (t > vol[static_cast<std::size_t>(a)])
      return bad("tile " + dims_text(options.tile) + " is larger than the volume " +
                 dims_text(volume) + "; accepted: each dimension at most the volume's");
  }
  if (!(options.overlap >= 0.0 && options.overlap < 1.0))
    return bad("overlap " + std::to_string(options.overlap) + ": accepted: 0 <= overlap < 1");
  if (options.batch < 1 || options.batch > 1024)
    return bad("batch " + std::to_string(options.batch) + ": accepted: 1..1024");
  if (config.classes < 2 || config.classes > kMaxClasses)
    return bad("classes " + std::to_string(config.classes) + ": accepted: 2..256");
  if (!options.probabilities && !options.labels)
    return bad("tiled inference needs probabilities or labels (or both)");
  return Status::ok();
}

void softmax_classes(const float* logits, float* probabilities, int classes, std::size_t voxels) {
  std::vector<float> p(static_cast<std::size_t>(classes));
  for (std::size_t v = 0; v < voxels; ++v) {
    softmax_voxel(logits + v, voxels, classes, p.data());
    for (int c = 0; c < classes; ++c) probabilities[static_cast<std::size_t>(c) * voxels + v] = p[static_cast<std::size_t>(c)];
  }
}

void argmax_classes(const float* values, std::uint8_t* labels, int classes, std::size_t voxels) {
  for (std::size_t v = 0; v < voxels; ++v) {
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (values[static_cast<std::size_t>(c) * voxels + v] >
          values[static_cast<std::size_t>(best) * voxels + v])
        best = c;
    labels[v] = static_cast<std::uint8_t>(best);
  }
}

tp::ReusePlan whole_volume_plan(const model::UNet3dConfig& config, const data::Dims3& dims,
                                data::Dims3* rounded) {
  const int div = 1 << (std::clamp(config.levels, 1, 8) - 1);
  auto up = [div](int n) { return std::max(div, (n + div - 1) / div * div); };
  const data::Dims3 r{up(dims.depth), up(dims.height), up(dims.width)};
  if (rounded != nullptr) *rounded = r;
  tg::Graph graph;
  model::build_unet3d(graph, config, {1, config.in_channels, r.depth, r.height, r.width}, {});
  return tp::plan_reuse(tp::compute_liveness(graph, tp::Pass::inference, 64), &graph);
}

double agreement(const std::uint8_t* a, const std::uint8_t* b, std::size_t voxels) {
  std::size_t same = 0;
  for (std::size_t i = 0; i < voxels; ++i) same += a[i] == b[i] ? 1 : 0;
  return voxels > 0 ? static_cast<double>(same) / static_cast<double>(voxels) : 1.0;
}

// ---------------------------------------------------------------- TiledInference

struct TiledInference::Impl {
  Context& ctx;
  model::UNet3dConfig config;
  TiledOptions options;
  tg::Graph graph;
  model::UNet3dGraph net;
  tp::ReusePlan plan;
  std::unique_ptr<tg::Executor> exec;
  Tensor window;  // (batch, C, tile) plain f32

  Impl(Context& c, const model::UNet3dConfig& mc, TiledOptions o)
      : ctx(c), config(mc), options(std::move(o)) {}
};

TiledInference::TiledInference(Context& ctx, const model::UNet3dConfig& config,
                               const model::Parameters& params, TiledOptions options)
    : impl_(std::make_unique<Impl>(ctx, config, std::move(options))) {
  Impl& m = *impl_;
  // The tile against itself: divisibility and the option ranges.
  if (Status s = validate(config, m.options.tile, m.options); !s)
    throw std::invalid_argument(s.message());
  const Dims input{m.options.batch, config.in_channels, m.options.tile.depth,
                   m.options.tile.height, m.options.tile.width};
  m.net = model::build_unet3d(m.graph, config, input, {});
  m.plan = tp::plan_reuse(tp::compute_liveness(m.graph, tp::Pass::inference, 64), &m.graph);
  m.exec = std::make_unique<tg::Executor>(m.graph, ctx);
  for (const tg::TensorInfo& t : m.graph.tensors())
    if (t.kind == tg::TensorKind::weight || t.kind == tg::TensorKind::state)
      m.exec->bind(t.id, params.at(t.name));
  m.window = Tensor::empty(ctx.allocator(), input);
}

TiledInference::~TiledInference() = default;

const tp::ReusePlan& TiledInference::window_plan() const noexcept { return impl_->plan; }
const tg::Graph& TiledInference::window_graph() const noexcept { return impl_->graph; }

Result<TiledResult> TiledInference::run(const float* volume, const data::Dims3& dims) {
  Impl& m = *impl_;
  const TiledOptions& o = m.options;
  if (Status s = validate(m.config, dims, o); !s) return s;
  if (volume == nullptr) return Status(Errc::invalid_argument, "tiled inference: volume is null");
  const auto t_start = Clock::now();
  const int K = m.config.classes;
  const int C = m.config.in_channels;
  const auto tile = as_array(o.tile);
  const auto vol = as_array(dims);
  const auto D = static_cast<std::size_t>(dims.depth), H = static_cast<std::size_t>(dims.height),
             W = static_cast<std::size_t>(dims.width);
  const std::size_t plane = H * W, voxels = D * plane;
  const auto tD = static_cast<std::size_t>(tile[0]), tH = static_cast<std::size_t>(tile[1]),
             tW = static_cast<std::size_t>(tile[2]);
  const std::size_t tile_voxels = tD * tH * tW;

  TiledResult r;
  std::array<std::vector<float>, 3> g, wsum;
  for (std::size_t a = 0; a < 3; ++a) {
    r.starts[a] = window_starts(vol[a], tile[a], o.overlap);
    g[a] = importance_1d(tile[a], r.starts[a].size() == 1);
    wsum[a].assign(static_cast<std::size_t>(vol[a]), 0.0f);
    for (int s : r.starts[a])
      for (std::size_t i = 0; i < g[a].size(); ++i) wsum[a][static_cast<std::size_t>(s) + i] += g[a][i];
  }
  struct Window {
    int z, y, x;
  };
  std::vector<Window> windows;
  for (int z : r.starts[0])
    for (int y : r.starts[1])
      for (int x : r.starts[2]) windows.push_back({z, y, x});
  r.windows = windows.size();
  r.window_voxels = r.windows * tile_voxels;

  // Sums (K, D, H, W): the probabilities once normalised, in place.
  ColdBlock sums = ColdBlock::allocate(m.ctx.allocator(), static_cast<std::size_t>(K) * voxels * sizeof(float));
  if (o.labels) r.labels = ColdBlock::allocate(m.ctx.allocator(), voxels);
  r.accumulator_tier = m.ctx.allocator().tier_of(sums.data());
  std::size_t zeroed = 0, done = 0;  // planes [0, zeroed) zeroed, [0, done) final
  auto zero_to = [&](std::size_t z1) {
    if (z1 <= zeroed) return;
    for (int c = 0; c < K; ++c)
      std::memset(sums.f32() + static_cast<std::size_t>(c) * voxels + zeroed * plane, 0,
                  (z1 - zeroed) * plane * sizeof(float));
    zeroed = z1;
  };
  auto finalize_to = [&](std::size_t z1) {
    if (z1 <= done) return;
    const auto t0 = Clock::now();
    float* s = sums.f32();
    std::uint8_t* labels = r.labels ? r.labels.u8() : nullptr;
    const bool keep = o.probabilities;
    const auto z0 = static_cast<std::int64_t>(done);
#pragma omp parallel for schedule(static)
    for (std::int64_t z = z0; z < static_cast<std::int64_t>(z1); ++z) {
      float p[kMaxClasses];
      const float wz = wsum[0][static_cast<std::size_t>(z)];
      for (std::size_t y = 0; y < H; ++y) {
        const float wzy = wz * wsum[1][y];
        const std::size_t row = static_cast<std::size_t>(z) * plane + y * W;
        for (std::size_t x = 0; x < W; ++x) {
          const float w = wzy * wsum[2][x];
          const std::size_t v = row + x;
          int best = 0;
          for (int c = 0; c < K; ++c) {
            p[c] = s[static_cast<std::size_t>(c) * voxels + v] / w;
            if (p[c] > p[best]) best = c;
          }
          if (keep)
            for (int c = 0; c < K; ++c) s[static_cast<std::size_t>(c) * voxels + v] = p[c];
          if (labels != nullptr) labels[v] = static_cast<std::uint8_t>(best);
        }
      }
    }
    done = z1;
    r.finalize_seconds += since(t0);
  };

  const auto B = static_cast<std::size_t>(o.batch);
  const auto t_loop = Clock::now();
  for (std::size_t first = 0; first < windows.size(); first += B) {
    const auto t_pass = Clock::now();
    const std::size_t n = std::min(B, windows.size() - first);
    // Planes before this pass's first window are final: no later window starts lower.
    finalize_to(static_cast<std::size_t>(windows[first].z));
    std::size_t reach = 0;
    for (std::size_t b = 0; b < n; ++b)
      reach = std::max(reach, static_cast<std::size_t>(windows[first + b].z) + tD);
    zero_to(reach);
    // Copy in; unused batch slots repeat the last window (their output is ignored).
    float* win = m.window.f32();
    const auto rows = static_cast<std::int64_t>(B * static_cast<std::size_t>(C) * tD);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < rows; ++i) {
      const auto u = static_cast<std::size_t>(i);
      const std::size_t b = u / (static_cast<std::size_t>(C) * tD);
      const std::size_t c = u / tD % static_cast<std::size_t>(C), z = u % tD;
      const Window& w = windows[first + std::min(b, n - 1)];
      const float* src = volume + c * voxels + (static_cast<std::size_t>(w.z) + z) * plane +
                         static_cast<std::size_t>(w.y) * W + static_cast<std::size_t>(w.x);
      float* dst = win + u * tH * tW;
      for (std::size_t y = 0; y < tH; ++y) std::memcpy(dst + y * tW, src + y * W, tW * sizeof(float));
    }
    m.exec->bind(m.net.image, m.window);
    const auto t_infer = Clock::now();
    const Tensor out = m.exec->infer(m.net.logits, {.plan = &m.plan}).to_plain(m.ctx);
    r.infer_seconds += since(t_infer);
    const float* logits = out.f32();
    for (std::size_t b = 0; b < n; ++b) {
      const Window& w = windows[first + b];
      const float* lb = logits + b * static_cast<std::size_t>(K) * tile_voxels;
      float* s = sums.f32();
#pragma omp parallel for schedule(static)
      for (std::int64_t zi = 0; zi < static_cast<std::int64_t>(tD); ++zi) {
        float p[kMaxClasses];
        const auto z = static_cast<std::size_t>(zi);
        for (std::size_t y = 0; y < tH; ++y) {
          const float gzy = g[0][z] * g[1][y];
          const std::size_t vrow = (static_cast<std::size_t>(w.z) + z) * plane +
                                   (static_cast<std::size_t>(w.y) + y) * W +
                                   static_cast<std::size_t>(w.x);
          const float* lrow = lb + (z * tH + y) * tW;
          for (std::size_t x = 0; x < tW; ++x) {
            softmax_voxel(lrow + x, tile_voxels, K, p);
            const float wt = gzy * g[2][x];
            for (int c = 0; c < K; ++c)
              s[static_cast<std::size_t>(c) * voxels + vrow + x] += wt * p[c];
          }
        }
      }
    }
    ++r.passes;
    if (r.passes == 1) r.first_pass_seconds = since(t_pass);
    if (o.progress) {
      TiledProgress pr;
      pr.windows_done = first + n;
      pr.windows = r.windows;
      pr.seconds = since(t_loop);
      pr.voxels_per_second = static_cast<double>(pr.windows_done * tile_voxels) / pr.seconds;
      pr.eta_seconds = pr.seconds / static_cast<double>(pr.windows_done) *
                       static_cast<double>(r.windows - pr.windows_done);
      o.progress(pr);
    }
  }
  r.window_seconds = since(t_loop);
  finalize_to(D);
  if (o.probabilities) r.probabilities = std::move(sums);
  r.seconds = since(t_start);
  return r;
}

}  // namespace tensortier::runtime::infer
