// Every convolution shape of a 3D U-Net: the runtime's conv ops
// (conv3d_forward / conv3d_backward, conv_transpose3d_*) against the bare
// oneDNN primitives on the same shape and layouts (ndhwc activations, weights
// in the primitive's format, reordered once outside the timing, library
// scratchpad, preallocated outputs) — forward, backward-data and
// backward-weights — plus the machine's FP32 FMA peak, in one binary. The
// shapes come from the U-Net graph (src/runtime/model), deduplicated.
//
//   bench_unet_conv [--net=SIZE:LEVELS:BASE[:BATCH]] [--smoke] [Google Benchmark flags]
//
// Default net: 96:2:16 (the PyTorch comparison network of
// bench/train_step_vs_pytorch.sh). Passes compared (runtime vs oneDNN):
//   fwd          conv*_forward (training)      vs forward_training primitive
//   bwd_weights  conv*_backward, no diff_src   vs backward_weights primitive
//   bwd          conv*_backward as in training vs backward_data + backward_weights
//                (diff_src only where the U-Net needs it: not for the first conv)
// and bwd_data (oneDNN alone) for reference. At the end: a table of median
// times per shape and pass, the runtime/oneDNN ratios and GFLOP/s.
#include <benchmark/benchmark.h>
#include <immintrin.h>
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "runtime/graph/autograd.hpp"
#include "runtime/model/unet3d.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/runtime/runtime.hpp"

namespace {

using namespace tensortier;
using namespace tensortier::runtime;
using dnnl::memory;

struct Net {
  int size = 96, levels = 2, base = 16, batch = 1;
};

struct ConvShape {
  std::string name;  // "enc0.block1.conv 4->16 k3 96^3"
  bool transposed = false;
  Dims src, weights, dst;
  int kernel = 3, padding = 1;
  bool bias = false;
  bool need_diff_src = true;
  double flops = 0;  // one pass
};

std::vector<ConvShape> unet_shapes(const Net& net) {
  graph::Graph g;
  model::UNet3dConfig c;
  c.levels = net.levels;
  c.base_filters = net.base;
  c.classes = 3;
  const auto u = model::build_unet3d(g, c, {net.batch, 4, net.size, net.size, net.size}, {});
  graph::derive_backward(g, u.loss, graph::OptimizerKind::sgd);
  std::map<std::string, ConvShape> unique;
  for (const graph::OpNode& op : g.ops()) {
    if (op.kind != graph::OpKind::conv3d && op.kind != graph::OpKind::conv_transpose3d) continue;
    ConvShape s;
    s.transposed = op.kind == graph::OpKind::conv_transpose3d;
    s.src = g.tensor(op.inputs[0]).dims;
    s.weights = g.tensor(op.inputs[1]).dims;
    s.dst = g.tensor(op.outputs[0]).dims;
    s.kernel = s.transposed ? 2 : op.attrs.kernel;
    s.padding = s.transposed ? 0 : op.attrs.padding;
    s.bias = op.inputs.size() > 2;
    s.flops = op.flops;
    s.need_diff_src = g.tensor(op.inputs[0]).requires_grad;
    char label[160];
    std::snprintf(label, sizeof label, "%s%lld->%lld k%d %lld^3%s", s.transposed ? "up " : "",
                  static_cast<long long>(s.src[1]), static_cast<long long>(s.weights[0]), s.kernel,
                  static_cast<long long>(s.src[2]), s.need_diff_src ? "" : " (first)");
    s.name = label;
    if (net.batch > 1) s.name += " N" + std::to_string(net.batch);
    unique.emplace(s.name, s);
  }
  std::vector<ConvShape> out;
  for (auto& [k, v] : unique) out.push_back(v);
  return out;
}

void fill_random(float* p, std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (std::size_t i = 0; i < n; ++i) p[i] = d(rng);
}

void fill_random(const memory& m, unsigned seed) {
  fill_random(static_cast<float*>(m.get_data_handle()), m.get_desc().get_size() / sizeof(float),
              seed);
}

Allocator& bench_allocator() {
  static std::unique_ptr<Allocator> a = [] {
    AllocatorOptions o;
    o.config.pmem.scheme = PmemSpec::Scheme::none;
    o.config.dram_limit_bytes = 8ULL << 30;
    auto created = Allocator::create(o);
    if (!created) {
      std::fprintf(stderr, "allocator: %s\n", created.status().message().c_str());
      std::exit(1);
    }
    return std::move(*created);
  }();
  return *a;
}

// ---- the runtime ops ------------------------------------------------------------

struct RuntimeConv {
  Context ctx{bench_allocator()};
  Tensor src, w, b, dy;
  Conv3dSaved saved;
  ConvTranspose3dSaved up_saved;
  const ConvShape& s;

  explicit RuntimeConv(const ConvShape& shape) : s(shape) {
    Allocator& a = bench_allocator();
    src = Tensor::empty(a, Tensor::channels_last(s.src));
    fill_random(src.f32(), static_cast<std::size_t>(src.elems()), 1);
    w = Tensor::empty(a, s.weights);
    fill_random(w.f32(), static_cast<std::size_t>(w.elems()), 2);
    if (s.bias) {
      b = Tensor::empty(a, Dims{s.weights[0]});
      fill_random(b.f32(), static_cast<std::size_t>(b.elems()), 3);
    }
    dy = Tensor::empty(a, Tensor::channels_last(s.dst));
    fill_random(dy.f32(), static_cast<std::size_t>(dy.elems()), 4);
    forward();  // the saved state for the backward passes
  }
  Tensor forward() {
    if (s.transposed) return conv_transpose3d_forward(ctx, src, w, b, &up_saved);
    return conv3d_forward(ctx, src, w, b, {s.kernel, s.padding}, &saved);
  }
  void backward(bool diff_src) {
    if (s.transposed) {
      auto g = conv_transpose3d_backward(ctx, dy, up_saved, diff_src);
      benchmark::DoNotOptimize(g.diff_weights.data());
    } else {
      auto g = conv3d_backward(ctx, dy, saved, diff_src);
      benchmark::DoNotOptimize(g.diff_weights.data());
    }
  }
  std::string impl(const char* role) {
    for (const ImplRecord& r : ctx.cache().impls())
      if (r.role == role && r.key.rfind("reorder", 0) != 0) return r.impl;
    return "?";
  }
};

// ---- the bare oneDNN primitives ---------------------------------------------

struct BareConv {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::primitive fwd, bwd_data, bwd_weights;
  std::unordered_map<int, memory> fwd_args, bwd_data_args, bwd_weights_args;
  std::string fwd_impl, bwd_data_impl, bwd_weights_impl;

  template <typename Fwd, typename BwdData, typename BwdWeights>
  void build(const ConvShape& s, dnnl::algorithm algo) {
    const memory::desc src_md(s.src, memory::data_type::f32, memory::format_tag::ndhwc);
    const memory::desc dst_md(s.dst, memory::data_type::f32, memory::format_tag::ndhwc);
    const memory::desc w_any(s.weights, memory::data_type::f32, memory::format_tag::any);
    const memory::desc b_md = s.bias ? memory::desc({s.weights[0]}, memory::data_type::f32,
                                                    memory::format_tag::x)
                                     : memory::desc();
    const int st = s.transposed ? 2 : 1;
    const memory::dims strides = {st, st, st}, pad = {s.padding, s.padding, s.padding};
    typename Fwd::primitive_desc fpd(
        typename Fwd::desc(dnnl::prop_kind::forward_training, algo, src_md, w_any, b_md, dst_md,
                           strides, pad, pad),
        eng);
    typename BwdData::primitive_desc dpd(
        typename BwdData::desc(algo, src_md, w_any, dst_md, strides, pad, pad), eng, fpd);
    typename BwdWeights::primitive_desc wpd(
        typename BwdWeights::desc(algo, src_md, w_any, b_md, dst_md, strides, pad, pad), eng, fpd);
    fwd = Fwd(fpd);
    bwd_data = BwdData(dpd);
    bwd_weights = BwdWeights(wpd);
    fwd_impl = fpd.impl_info_str();
    bwd_data_impl = dpd.impl_info_str();
    bwd_weights_impl = wpd.impl_info_str();

    memory src(src_md, eng), dst(dst_md, eng), dy(dst_md, eng), dx(src_md, eng);
    fill_random(src, 1);
    fill_random(dy, 4);
    memory w_plain({s.weights, memory::data_type::f32, memory::format_tag::abcde}, eng);
    fill_random(w_plain, 2);
    // Weights reordered once into each primitive's format, outside the timing.
    auto reordered = [&](const memory::desc& md) {
      memory m(md, eng);
      dnnl::reorder(w_plain, m).execute(strm, w_plain, m);
      strm.wait();
      return m;
    };
    fwd_args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, reordered(fpd.weights_desc())},
                {DNNL_ARG_DST, dst}};
    bwd_data_args = {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, reordered(dpd.weights_desc())},
                     {DNNL_ARG_DIFF_SRC, dx}};
    bwd_weights_args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dy},
                        {DNNL_ARG_DIFF_WEIGHTS, memory(wpd.diff_weights_desc(), eng)}};
    if (s.bias) {
      memory b(b_md, eng);
      fill_random(b, 3);
      fwd_args[DNNL_ARG_BIAS] = b;
      bwd_weights_args[DNNL_ARG_DIFF_BIAS] = memory(wpd.diff_bias_desc(), eng);
    }
  }

  explicit BareConv(const ConvShape& s) {
    if (s.transposed) {
      build<dnnl::deconvolution_forward, dnnl::deconvolution_backward_data,
            dnnl::deconvolution_backward_weights>(s, dnnl::algorithm::deconvolution_direct);
    } else {
      build<dnnl::convolution_forward, dnnl::convolution_backward_data,
            dnnl::convolution_backward_weights>(s, dnnl::algorithm::convolution_direct);
    }
  }
  void run(dnnl::primitive& p, std::unordered_map<int, memory>& args) {
    p.execute(strm, args);
    strm.wait();
  }
};

// ---- the machine's FP32 peak --------------------------------------------------

constexpr int kChains = 12;  // independent FMA chains: > latency x ports

__attribute__((target("avx512f"))) float fma_loop_avx512(std::int64_t iters) {
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm512_set1_ps(1.f + j * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f);
  for (std::int64_t i = 0; i < iters; ++i) {
    // Unrolled so the chains stay in registers (a loop over acc[] in memory is
    // bound by store forwarding at a third of the peak).
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
  }
  alignas(64) float buf[16];
  float s = 0;
  for (int j = 0; j < kChains; ++j) {
    _mm512_store_ps(buf, acc[j]);  // (GCC 12 warns inside _mm512_reduce_add_ps)
    for (float v : buf) s += v;
  }
  return s;
}

__attribute__((target("avx2,fma"))) float fma_loop_avx2(std::int64_t iters) {
  __m256 acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = _mm256_set1_ps(1.f + j * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-6f);
  for (std::int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < kChains; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
  }
  float buf[8], s = 0;
  for (int j = 0; j < kChains; ++j) {
    _mm256_storeu_ps(buf, acc[j]);
    for (float v : buf) s += v;
  }
  return s;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// GFLOP/s: wall-clock rate of all threads; GFLOP/cpu-s: per CPU-second of
// the process, the per-core peak whatever else runs on the machine.
void BM_peak(benchmark::State& state) {
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const int lanes = avx512 ? 16 : 8;
  constexpr std::int64_t kIters = 20'000'000;
  int threads = 1;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    float sink = 0;
#pragma omp parallel reduction(+ : sink)
    {
#pragma omp single
      threads = omp_get_num_threads();
      sink += avx512 ? fma_loop_avx512(kIters) : fma_loop_avx2(kIters);
    }
    benchmark::DoNotOptimize(sink);
  }
  const double cpu = process_cpu_seconds() - cpu0;
  const double flops = 2.0 * lanes * kChains * static_cast<double>(kIters) * threads;
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/cpu-s"] = flops * static_cast<double>(state.iterations()) / cpu / 1e9;
  state.SetLabel(std::string(avx512 ? "avx512" : "avx2") + " fma, " + std::to_string(threads) +
                 " threads");
}

// ---- registration and the summary ---------------------------------------------

struct Pass {
  std::string shape, pass, side;  // side: runtime / onednn
  double flops = 0;
};
std::map<std::string, Pass> g_passes;  // by benchmark name

// The fixtures of every shape, built on first use, freed before exit (the
// runtime's tensors must go before the allocator).
std::vector<std::shared_ptr<std::unique_ptr<RuntimeConv>>> g_runtime;
std::vector<std::shared_ptr<std::unique_ptr<BareConv>>> g_bare;

void register_shape(const ConvShape& s) {
  auto rt = std::make_shared<std::unique_ptr<RuntimeConv>>();
  auto bare = std::make_shared<std::unique_ptr<BareConv>>();
  g_runtime.push_back(rt);
  g_bare.push_back(bare);
  auto lazy_rt = [rt, s]() -> RuntimeConv& {
    if (!*rt) *rt = std::make_unique<RuntimeConv>(s);
    return **rt;
  };
  auto lazy_bare = [bare, s]() -> BareConv& {
    if (!*bare) *bare = std::make_unique<BareConv>(s);
    return **bare;
  };
  const double bwd_flops = s.flops * (s.need_diff_src ? 2 : 1);
  auto add = [&](const std::string& pass, const std::string& side, double flops, auto body) {
    const std::string name = "conv/" + s.name + "/" + pass + "/" + side;
    g_passes[name] = {s.name, pass, side, flops};
    benchmark::RegisterBenchmark(name.c_str(), [body, flops](benchmark::State& state) {
      const double cpu0 = process_cpu_seconds();
      body(state);
      const double cpu = process_cpu_seconds() - cpu0;
      state.counters["GFLOP/s"] =
          benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
      // Process CPU time (all threads) per iteration: less sensitive to other load.
      state.counters["cpu_ms"] = cpu * 1e3 / static_cast<double>(state.iterations());
    })->UseRealTime()->Unit(benchmark::kMillisecond);
  };
  add("fwd", "runtime", s.flops, [lazy_rt](benchmark::State& st) {
    RuntimeConv& r = lazy_rt();
    for (auto _ : st) benchmark::DoNotOptimize(r.forward().data());
    st.SetLabel(r.impl("fwd"));
  });
  add("fwd", "onednn", s.flops, [lazy_bare](benchmark::State& st) {
    BareConv& b = lazy_bare();
    for (auto _ : st) b.run(b.fwd, b.fwd_args);
    st.SetLabel(b.fwd_impl);
  });
  add("bwd_weights", "runtime", s.flops, [lazy_rt](benchmark::State& st) {
    RuntimeConv& r = lazy_rt();
    for (auto _ : st) r.backward(false);
    st.SetLabel(r.impl("bwd_weights"));
  });
  add("bwd_weights", "onednn", s.flops, [lazy_bare](benchmark::State& st) {
    BareConv& b = lazy_bare();
    for (auto _ : st) b.run(b.bwd_weights, b.bwd_weights_args);
    st.SetLabel(b.bwd_weights_impl);
  });
  const bool dx = s.need_diff_src;
  add("bwd", "runtime", bwd_flops, [lazy_rt, dx](benchmark::State& st) {
    RuntimeConv& r = lazy_rt();
    for (auto _ : st) r.backward(dx);
    st.SetLabel(dx ? r.impl("bwd_data") + " + " + r.impl("bwd_weights") : r.impl("bwd_weights"));
  });
  add("bwd", "onednn", bwd_flops, [lazy_bare, dx](benchmark::State& st) {
    BareConv& b = lazy_bare();
    for (auto _ : st) {
      if (dx) b.run(b.bwd_data, b.bwd_data_args);
      b.run(b.bwd_weights, b.bwd_weights_args);
    }
    st.SetLabel(dx ? b.bwd_data_impl + " + " + b.bwd_weights_impl : b.bwd_weights_impl);
  });
  add("bwd_data", "onednn", s.flops, [lazy_bare](benchmark::State& st) {
    BareConv& b = lazy_bare();
    for (auto _ : st) b.run(b.bwd_data, b.bwd_data_args);
    st.SetLabel(b.bwd_data_impl);
  });
}

// Keeps the time per iteration of every repetition (or the median aggregate
// when only aggregates are reported), and prints as usual.
class Collector : public benchmark::ConsoleReporter {
 public:
  std::map<std::string, std::vector<double>> seconds;  // by benchmark name
  std::map<std::string, double> median_seconds;        // from the "median" aggregate
  std::map<std::string, std::vector<double>> cpu_ms;   // process CPU time per iteration
  std::map<std::string, double> median_cpu_ms;
  double peak_gflops = 0, peak_cpu_gflops = 0;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred || r.iterations == 0) continue;
      const std::string& name = r.run_name.function_name;
      const double per_iteration = r.real_accumulated_time / static_cast<double>(r.iterations);
      auto cpu = r.counters.find("cpu_ms");
      if (r.run_type == Run::RT_Iteration) {
        seconds[name].push_back(per_iteration);
        if (cpu != r.counters.end()) cpu_ms[name].push_back(cpu->second.value);
      } else if (r.aggregate_name == "median") {
        median_seconds[name] = per_iteration;
        if (cpu != r.counters.end()) median_cpu_ms[name] = cpu->second.value;
      } else {
        continue;
      }
      if (name == "peak/fp32_fma") {
        auto it = r.counters.find("GFLOP/s");
        if (it != r.counters.end()) peak_gflops = std::max(peak_gflops, it->second.value);
        it = r.counters.find("GFLOP/cpu-s");
        if (it != r.counters.end()) peak_cpu_gflops = std::max(peak_cpu_gflops, it->second.value);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

void print_summary(const Collector& c, const Net& net) {
  std::printf("\nU-Net %d^3, %d levels, base %d, batch %d: median ms per pass (GFLOP/s), "
              "runtime / oneDNN\n",
              net.size, net.levels, net.base, net.batch);
  if (c.peak_gflops > 0)
    std::printf("machine FP32 FMA peak measured now: %.1f GFLOP/s (all threads, wall clock), "
                "%.1f GFLOP per CPU-second (one core)\n",
                c.peak_gflops, c.peak_cpu_gflops);
  std::printf("%-30s %-12s %18s %18s %7s %9s\n", "shape", "pass", "runtime", "oneDNN", "ratio",
              "CPU ratio");
  double worst = 0;
  std::string worst_name;
  std::map<std::string, std::map<std::string, std::pair<double, double>>> table, cpu_table;
  std::map<std::string, double> flops;
  for (const auto& [name, pass] : g_passes) {
    double t = 0;
    if (auto m = c.median_seconds.find(name); m != c.median_seconds.end()) {
      t = m->second;
    } else if (auto it = c.seconds.find(name); it != c.seconds.end()) {
      t = median(it->second);
    } else {
      continue;
    }
    auto& cell = table[pass.shape][pass.pass];
    (pass.side == "runtime" ? cell.first : cell.second) = t;
    double cpu = 0;
    if (auto m = c.median_cpu_ms.find(name); m != c.median_cpu_ms.end()) {
      cpu = m->second;
    } else if (auto it = c.cpu_ms.find(name); it != c.cpu_ms.end()) {
      cpu = median(it->second);
    }
    auto& cpu_cell = cpu_table[pass.shape][pass.pass];
    (pass.side == "runtime" ? cpu_cell.first : cpu_cell.second) = cpu;
    flops[pass.shape + "/" + pass.pass] = pass.flops;
  }
  for (const auto& [shape, passes] : table)
    for (const char* p : {"fwd", "bwd_data", "bwd_weights", "bwd"}) {
      auto it = passes.find(p);
      if (it == passes.end()) continue;
      const auto [rt, dn] = it->second;
      const double f = flops[shape + "/" + p];
      char rts[32] = "-", dns[32] = "-", ratio[16] = "-", cpu_ratio[16] = "-";
      const auto [rt_cpu, dn_cpu] = cpu_table.at(shape).at(p);
      if (rt_cpu > 0 && dn_cpu > 0) std::snprintf(cpu_ratio, sizeof cpu_ratio, "%.3f", rt_cpu / dn_cpu);
      if (rt > 0) std::snprintf(rts, sizeof rts, "%8.2f (%5.1f)", rt * 1e3, f / rt / 1e9);
      if (dn > 0) std::snprintf(dns, sizeof dns, "%8.2f (%5.1f)", dn * 1e3, f / dn / 1e9);
      if (rt > 0 && dn > 0) {
        std::snprintf(ratio, sizeof ratio, "%.3f", rt / dn);
        if (rt / dn > worst) {
          worst = rt / dn;
          worst_name = shape + " " + p;
        }
      }
      std::printf("%-30s %-12s %18s %18s %7s %9s\n", shape.c_str(), p, rts, dns, ratio, cpu_ratio);
    }
  if (worst > 0) std::printf("worst runtime / oneDNN ratio: %.3f (%s)\n", worst, worst_name.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  Net net;
  bool smoke = false;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (std::strncmp(argv[i], "--net=", 6) == 0) {
      if (std::sscanf(argv[i] + 6, "%d:%d:%d:%d", &net.size, &net.levels, &net.base, &net.batch) < 3) {
        std::fprintf(stderr, "--net=SIZE:LEVELS:BASE[:BATCH], e.g. --net=96:2:16\n");
        return 2;
      }
    } else if (std::strcmp(argv[i], "--smoke") == 0) {
      smoke = true;  // a tiny net, for CTest
      net = {24, 2, 4, 1};
    } else {
      args.push_back(argv[i]);
    }
  }
  std::vector<ConvShape> shapes;
  try {
    shapes = unet_shapes(net);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_unet_conv: %s\n", e.what());
    return 2;
  }
  benchmark::RegisterBenchmark("peak/fp32_fma", BM_peak)->UseRealTime()->Unit(benchmark::kMillisecond);
  for (const ConvShape& s : shapes) register_shape(s);
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;
  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  print_summary(collector, net);
  std::fflush(stdout);
  for (auto& r : g_runtime) r->reset();
  for (auto& b : g_bare) b->reset();
  benchmark::ClearRegisteredBenchmarks();
  benchmark::Shutdown();
  (void)smoke;
  return 0;
}
