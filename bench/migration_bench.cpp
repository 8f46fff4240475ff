// Stable-address migration bandwidth of one block (Allocator::demote to the
// emulated PMem file, Allocator::promote back to DRAM) against memcpy of the
// same size in the same run:
//   BM_Memcpy_touched — into a pre-touched destination: the honest baseline;
//   BM_Memcpy_fresh   — mmap a fresh destination, memcpy, munmap: what first
//                       touch adds (a move needs a fresh destination too).
// A demote includes everything the call does: PMem extent allocation
// (fallocate + mmap), write barrier (mprotect), copy, persist (msync on a
// non-DAX file), mremap and release of the DRAM pages; a promote likewise
// (populated DRAM allocation, copy, mremap, munmap + hole punch of the file).
// Only the measured direction is timed; the move back is untimed. One untimed
// round trip first: the steady state of a block that migrates repeatedly.
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "bench_support.hpp"

namespace tensortier::bench {
namespace {

constexpr std::int64_t kMaxBytes = 256LL << 20;

using Clock = std::chrono::steady_clock;

// Times demote (to_pmem) or promote of one block, moving it back untimed.
void run_migration(benchmark::State& state, bool to_pmem) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  // One allocator per run, so spares and cached blocks left by other sizes
  // cannot crowd this one out of the spare budget (a quarter of each tier).
  std::string error;
  auto owner =
      make_allocator({.dram_limit_bytes = 4 * kMaxBytes, .pmem_file_bytes = 4 * kMaxBytes}, &error);
  if (!owner) {
    state.SkipWithError(error.c_str());
    return;
  }
  Allocator* alloc = owner.get();
  const int dram = dram_tier_index(*alloc);
  void* p = alloc->allocate(bytes, 64, Hint::hot);
  std::memset(p, 'a', bytes);  // pre-touched, as real tensor data would be
  auto move = [&](bool demote) { return demote ? alloc->demote(p) : alloc->promote(p); };
  auto check = [&](Status s, bool demoted) {
    if (!s) {
      state.SkipWithError(s.message().c_str());
      return false;
    }
    if ((alloc->tier_of(p) == dram) == demoted) {
      state.SkipWithError("the block did not change tier");
      return false;
    }
    return true;
  };
  // Warm-up round trip, untimed: the first move into each tier maps and
  // faults in fresh pages; later moves reuse the pages the previous move left
  // (the allocator's migration spares). Promote starts from PMem.
  if (!check(move(true), true) || !check(move(false), false) ||
      (!to_pmem && !check(move(true), true))) {
    alloc->deallocate(p);
    return;
  }
  for (auto _ : state) {
    const auto t0 = Clock::now();
    Status s = move(to_pmem);
    const auto t1 = Clock::now();
    if (!check(s, to_pmem)) break;
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
    if (!check(move(!to_pmem), !to_pmem)) break;
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  alloc->deallocate(p);
}

void BM_Migrate_demote(benchmark::State& state) { run_migration(state, /*to_pmem=*/true); }
void BM_Migrate_promote(benchmark::State& state) { run_migration(state, /*to_pmem=*/false); }

void BM_Memcpy_touched(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const std::vector<char> src(bytes, 'a');
  std::vector<char> dst(bytes, 'b');
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Memcpy_fresh(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const std::vector<char> src(bytes, 'a');
  for (auto _ : state) {
    void* dst = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      break;
    }
    std::memcpy(dst, src.data(), bytes);
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
    munmap(dst, bytes);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void block_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t bytes :
       {std::int64_t{1} << 20, std::int64_t{16} << 20, std::int64_t{64} << 20, kMaxBytes})
    b->Arg(bytes);
}

BENCHMARK(BM_Migrate_demote)->Apply(block_sizes)->UseManualTime();
BENCHMARK(BM_Migrate_promote)->Apply(block_sizes)->UseManualTime();
BENCHMARK(BM_Memcpy_touched)->Apply(block_sizes)->UseRealTime();
BENCHMARK(BM_Memcpy_fresh)->Apply(block_sizes)->UseRealTime();

}  // namespace
}  // namespace tensortier::bench

int main(int argc, char** argv) { return tensortier::bench::run_benchmarks(argc, argv); }
