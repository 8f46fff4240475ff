// A synthetic training-like trace: the forward pass allocates activation
// tensors in order and writes them; the backward pass reads them in reverse
// order and frees each after its read. Footprint 1 GiB in 25 tensors of
// 16-64 MiB. tensortier runs with its DRAM budget at 1 (all fits), 1/2, 1/4
// and 1/8 of the footprint (the rest spills to the emulated PMem file in
// $TMPDIR or /tmp), with
//   next_use_prefetch — Policy::next_use, set_next_use(backward step) for every
//                       tensor, advise(will_need) kPrefetchAhead tensors ahead
//                       in the backward pass (promotion on the mover thread);
//   lru               — Policy::lru without any hint: a spilled tensor is read
//                       where it lies, in PMem;
//   lru_touch         — Policy::lru without hints but with
//                       AllocatorOptions::promote_on_touch: demoted tensors are
//                       guarded and the first touch promotes them (or opens
//                       the PMem pages when DRAM cannot make room).
// The *_optane variants enable AllocatorOptions::throttle (migration copies
// run at most at the per-DIMM Optane bandwidths, 2.3 GB/s write, 6.6 GB/s
// read) and, so that a policy that reads PMem in place pays too, the benchmark
// holds every direct read (write) of a PMem-resident tensor to the same read
// (write) bandwidth; without it emulated PMem reads run at DRAM speed.
// Baselines in the same binary: the same trace on glibc malloc and jemalloc.
// Arguments: the budget denominator (1, 2, 4, 8); BM_Trace/dram4x/0 is the
// all-DRAM case with a budget of 4x the footprint, whose free-block cache (a
// quarter of the budget) holds every tensor, i.e. without refaulting pages. Every run does one
// untimed warm-up iteration first (first touch of the pages, cache fill).
// --smoke shrinks the tensors 64x (16 MiB footprint) for CTest.
// Counters are per iteration: bytes_demoted/promoted/migrated, pmem_read_bytes
// and pmem_write_bytes (accessed in place: in PMem before and after the access),
// touch_faults (promote_on_touch), fwd_s and bwd_s.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"

namespace tensortier::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPrefetchAhead = 2;
constexpr double kOptaneReadGbps = 6.6;  // per DIMM, OptaneThrottle defaults
constexpr double kOptaneWriteGbps = 2.3;

// Size unit of the trace: 1 MiB, or 16 KiB with --smoke.
std::size_t g_unit_bytes = std::size_t{1} << 20;

// 16, 64, 32, 48 units repeated six times and one of 64 units: 1 GiB.
std::vector<std::size_t> tensor_bytes() {
  std::vector<std::size_t> sizes;
  for (int r = 0; r < 6; ++r)
    for (std::size_t units : {16, 64, 32, 48}) sizes.push_back(units * g_unit_bytes);
  sizes.push_back(64 * g_unit_bytes);
  return sizes;
}

std::uint64_t footprint_bytes() {
  std::uint64_t total = 0;
  for (std::size_t b : tensor_bytes()) total += b;
  return total;
}

// The "compute" of the trace: write a whole tensor, read a whole tensor.
void write_tensor(void* p, std::size_t bytes, int value) { std::memset(p, value, bytes); }

std::uint64_t read_tensor(const void* p, std::size_t bytes) {
  const auto* w = static_cast<const std::uint64_t*>(p);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes / sizeof(std::uint64_t); ++i) sum += w[i];
  return sum;
}

// Holds an access of `bytes` started at `start` to `gbps`.
void hold_to_bandwidth(Clock::time_point start, std::size_t bytes, double gbps) {
  const auto due = start + std::chrono::duration<double>(static_cast<double>(bytes) / (gbps * 1e9));
  std::this_thread::sleep_until(std::chrono::time_point_cast<Clock::duration>(due));
}

struct Variant {
  Policy policy = Policy::lru;
  bool hints = false;   // set_next_use + advise(will_need) ahead
  bool optane = false;  // throttle migrations and direct PMem accesses
  bool promote_on_touch = false;
};

struct IterationCounts {
  double pmem_read_bytes = 0, pmem_write_bytes = 0, forward_s = 0, backward_s = 0;
};

void run_trace_iteration(Allocator& alloc, const Variant& v, int dram, IterationCounts& counts) {
  const std::vector<std::size_t> sizes = tensor_bytes();
  const int n = static_cast<int>(sizes.size());
  std::vector<void*> tensors(n);
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    alloc.set_current_step(static_cast<std::uint64_t>(i));
    tensors[i] = alloc.allocate(sizes[i]);
    if (v.hints) alloc.set_next_use(tensors[i], static_cast<std::uint64_t>(2 * n - 1 - i));
    const bool was_in_pmem = alloc.tier_of(tensors[i]) != dram;
    const auto start = Clock::now();
    write_tensor(tensors[i], sizes[i], i);
    if (was_in_pmem && alloc.tier_of(tensors[i]) != dram) {
      counts.pmem_write_bytes += static_cast<double>(sizes[i]);
      if (v.optane) hold_to_bandwidth(start, sizes[i], kOptaneWriteGbps);
    }
  }
  const auto t1 = Clock::now();
  int next_prefetch = n - 1;
  for (int i = n - 1; i >= 0; --i) {
    alloc.set_current_step(static_cast<std::uint64_t>(2 * n - 1 - i));
    if (v.hints) {
      for (; next_prefetch >= 0 && next_prefetch >= i - kPrefetchAhead; --next_prefetch)
        alloc.advise(tensors[next_prefetch], Advice::will_need);
    }
    const bool was_in_pmem = alloc.tier_of(tensors[i]) != dram;
    const auto start = Clock::now();
    benchmark::DoNotOptimize(read_tensor(tensors[i], sizes[i]));
    // Promoted meanwhile (on touch, or by a prefetch in flight): not a PMem read.
    if (was_in_pmem && alloc.tier_of(tensors[i]) != dram) {
      counts.pmem_read_bytes += static_cast<double>(sizes[i]);
      if (v.optane) hold_to_bandwidth(start, sizes[i], kOptaneReadGbps);
    }
    alloc.deallocate(tensors[i]);
  }
  alloc.wait_for_moves();  // a prefetch still queued belongs to this iteration
  const auto t2 = Clock::now();
  counts.forward_s += std::chrono::duration<double>(t1 - t0).count();
  counts.backward_s += std::chrono::duration<double>(t2 - t1).count();
}

void BM_Trace(benchmark::State& state, Variant v) {
  const std::uint64_t footprint = footprint_bytes();
  // Argument 0: a budget of 4x the footprint, so that the free-block cache
  // (a quarter of the budget) holds a whole iteration: all-DRAM without refaults.
  const auto denominator = static_cast<std::uint64_t>(state.range(0));
  const std::uint64_t budget = denominator == 0 ? 4 * footprint : footprint / denominator;
  std::string error;
  auto alloc = make_allocator({.dram_limit_bytes = budget,
                               .pmem_file_bytes = 2 * footprint,
                               .policy = v.policy,
                               .throttle = v.optane,
                               .promote_on_touch = v.promote_on_touch},
                              &error);
  if (!alloc) {
    state.SkipWithError(error.c_str());
    return;
  }
  const int dram = dram_tier_index(*alloc);
  IterationCounts warmup, counts;
  try {
    run_trace_iteration(*alloc, v, dram, warmup);
    const Stats before = alloc->stats();
    for (auto _ : state) run_trace_iteration(*alloc, v, dram, counts);
    const Stats after = alloc->stats();
    const auto per_iter = benchmark::Counter::kAvgIterations;
    const double demoted = static_cast<double>(after.bytes_demoted - before.bytes_demoted);
    const double promoted = static_cast<double>(after.bytes_promoted - before.bytes_promoted);
    state.counters["bytes_demoted"] = benchmark::Counter(demoted, per_iter);
    state.counters["bytes_promoted"] = benchmark::Counter(promoted, per_iter);
    state.counters["bytes_migrated"] = benchmark::Counter(demoted + promoted, per_iter);
    state.counters["pmem_read_bytes"] = benchmark::Counter(counts.pmem_read_bytes, per_iter);
    state.counters["pmem_write_bytes"] = benchmark::Counter(counts.pmem_write_bytes, per_iter);
    state.counters["touch_faults"] =
        benchmark::Counter(static_cast<double>(after.touch_faults - before.touch_faults), per_iter);
    state.counters["migration_s"] =
        benchmark::Counter(after.migration_seconds - before.migration_seconds, per_iter);
    state.counters["fwd_s"] = benchmark::Counter(counts.forward_s, per_iter);
    state.counters["bwd_s"] = benchmark::Counter(counts.backward_s, per_iter);
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * footprint));
}

// The same trace on a general-purpose allocator, everything in DRAM.
template <typename Alloc, typename Free>
void run_plain_trace(benchmark::State& state, Alloc allocate, Free release) {
  const std::vector<std::size_t> sizes = tensor_bytes();
  const int n = static_cast<int>(sizes.size());
  std::vector<void*> tensors(n);
  auto iteration = [&] {
    for (int i = 0; i < n; ++i) {
      tensors[i] = allocate(sizes[i]);
      write_tensor(tensors[i], sizes[i], i);
    }
    for (int i = n - 1; i >= 0; --i) {
      benchmark::DoNotOptimize(read_tensor(tensors[i], sizes[i]));
      release(tensors[i]);
    }
  };
  iteration();  // warm-up, as for tensortier
  for (auto _ : state) iteration();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * footprint_bytes()));
}

void BM_Trace_glibc(benchmark::State& state) {
  run_plain_trace(
      state, [](std::size_t b) { return std::malloc(b); }, [](void* p) { std::free(p); });
}

void BM_Trace_jemalloc(benchmark::State& state) {
  const Jemalloc& je = Jemalloc::get();
  if (!je.ok()) {
    state.SkipWithError(je.error.c_str());
    return;
  }
  run_plain_trace(
      state, [&](std::size_t b) { return je.mallocx(b, 0); }, [&](void* p) { je.dallocx(p, 0); });
}

constexpr int kIterations = 4;

void budgets(benchmark::internal::Benchmark* b) {
  for (int d : {1, 2, 4, 8}) b->Arg(d);
  b->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMillisecond);
}

BENCHMARK_CAPTURE(BM_Trace, next_use_prefetch, Variant{Policy::next_use, true, false})
    ->Apply(budgets);
BENCHMARK_CAPTURE(BM_Trace, lru, Variant{Policy::lru, false, false})->Apply(budgets);
BENCHMARK_CAPTURE(BM_Trace, lru_touch, Variant{Policy::lru, false, false, true})->Apply(budgets);
BENCHMARK_CAPTURE(BM_Trace, next_use_prefetch_optane, Variant{Policy::next_use, true, true})
    ->Apply(budgets);
BENCHMARK_CAPTURE(BM_Trace, lru_optane, Variant{Policy::lru, false, true})->Apply(budgets);
BENCHMARK_CAPTURE(BM_Trace, lru_touch_optane, Variant{Policy::lru, false, true, true})
    ->Apply(budgets);
BENCHMARK_CAPTURE(BM_Trace, dram4x, Variant{Policy::lru, false, false})
    ->Arg(0)
    ->Iterations(kIterations)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Trace_glibc)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Trace_jemalloc)->Iterations(kIterations)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tensortier::bench

int main(int argc, char** argv) {
  tensortier::bench::reserve_static_tls_for_jemalloc(argv);  // with --smoke still in argv
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0)
      tensortier::bench::g_unit_bytes = std::size_t{16} << 10;
    else
      argv[kept++] = argv[i];
  }
  argv[kept] = nullptr;
  return tensortier::bench::run_benchmarks(kept, argv);
}
