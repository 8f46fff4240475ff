// Allocate + first touch (one write per page) + free of one tensor-sized
// block, steady state (one untimed warm-up round first), with every baseline
// in the same binary so each figure is read as a ratio of one run: tensortier
// (DRAM tier big enough, emulated PMem file behind it), glibc malloc, jemalloc
// (mallocx/dallocx through dlopen, see bench_support.hpp) and memkind
// (MEMKIND_DEFAULT).
//
// BM_Alloc_tensortier_uncached is tensortier with a DRAM budget of 3x the
// block, which keeps its free-block cache (budget/4) smaller than the block:
// every allocation maps fresh pages, so it shows the cost the cache hides.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "bench_support.hpp"

#ifdef TT_BENCH_WITH_MEMKIND
#include <memkind.h>
#endif

namespace tensortier::bench {
namespace {

// Big enough for the largest block many times over; its free-block cache
// (min(budget/4, 1 GiB)) holds a freed block of every size measured.
Allocator* shared_allocator(std::string* error) {
  static std::string open_error;
  static std::unique_ptr<Allocator> alloc =
      make_allocator({.dram_limit_bytes = 4ULL << 30, .pmem_file_bytes = 1ULL << 30}, &open_error);
  *error = open_error;
  return alloc.get();
}

// One allocate + touch + free per iteration, after one untimed warm-up round
// so that every allocator is measured in its steady state (its caches filled).
template <typename Alloc, typename Free>
void run_alloc(benchmark::State& state, Alloc allocate, Free release) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  auto round = [&] {
    void* p = allocate(bytes);
    if (p == nullptr) return false;
    touch_pages(p, bytes);
    release(p);
    return true;
  };
  if (!round()) {
    state.SkipWithError("allocation failed");
    return;
  }
  for (auto _ : state) {
    if (!round()) {
      state.SkipWithError("allocation failed");
      return;
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void run_tensortier(benchmark::State& state, Allocator* alloc) {
  run_alloc(
      state,
      [alloc](std::size_t bytes) -> void* {
        auto p = alloc->try_allocate(bytes);
        return p ? *p : nullptr;
      },
      [alloc](void* p) { alloc->deallocate(p); });
}

void BM_Alloc_tensortier(benchmark::State& state) {
  std::string error;
  Allocator* alloc = shared_allocator(&error);
  if (alloc == nullptr) {
    state.SkipWithError(error.c_str());
    return;
  }
  run_tensortier(state, alloc);
}

void BM_Alloc_tensortier_uncached(benchmark::State& state) {
  const auto bytes = static_cast<std::uint64_t>(state.range(0));
  std::string error;
  auto alloc =
      make_allocator({.dram_limit_bytes = 3 * bytes, .pmem_file_bytes = 1ULL << 30}, &error);
  if (!alloc) {
    state.SkipWithError(error.c_str());
    return;
  }
  run_tensortier(state, alloc.get());
}

void BM_Alloc_glibc(benchmark::State& state) {
  run_alloc(
      state, [](std::size_t bytes) { return std::malloc(bytes); }, [](void* p) { std::free(p); });
}

void BM_Alloc_jemalloc(benchmark::State& state) {
  const Jemalloc& je = Jemalloc::get();
  if (!je.ok()) {
    state.SkipWithError(je.error.c_str());
    return;
  }
  run_alloc(
      state, [&je](std::size_t bytes) { return je.mallocx(bytes, 0); },
      [&je](void* p) { je.dallocx(p, 0); });
}

#ifdef TT_BENCH_WITH_MEMKIND
void BM_Alloc_memkind(benchmark::State& state) {
  run_alloc(
      state, [](std::size_t bytes) { return memkind_malloc(MEMKIND_DEFAULT, bytes); },
      [](void* p) { memkind_free(MEMKIND_DEFAULT, p); });
}
#endif

void tensor_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t bytes : {64LL << 10, 1LL << 20, 4LL << 20, 16LL << 20, 64LL << 20, 256LL << 20})
    b->Arg(bytes);
  b->UseRealTime();  // page faults and syscalls are the cost: wall time, not CPU time
}

BENCHMARK(BM_Alloc_tensortier)->Apply(tensor_sizes);
BENCHMARK(BM_Alloc_tensortier_uncached)->Apply(tensor_sizes);
BENCHMARK(BM_Alloc_glibc)->Apply(tensor_sizes);
BENCHMARK(BM_Alloc_jemalloc)->Apply(tensor_sizes);
#ifdef TT_BENCH_WITH_MEMKIND
BENCHMARK(BM_Alloc_memkind)->Apply(tensor_sizes);
#endif

}  // namespace
}  // namespace tensortier::bench

int main(int argc, char** argv) { return tensortier::bench::run_benchmarks(argc, argv); }
