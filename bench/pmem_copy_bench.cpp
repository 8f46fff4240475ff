// Copy bandwidth from DRAM into the file PMem backend (Backend::copy_in, which
// includes its one persist) against plain memcpy DRAM->DRAM of the same size,
// in the same binary so that every figure is read as a ratio of one run.
// The PMem tier is the default one: an emulated PMem file in $TMPDIR (or /tmp),
// removed at exit; on a non-DAX filesystem the persist is an msync.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tensortier/backend.hpp"

namespace tensortier {
namespace {

constexpr std::int64_t kMaxBytes = 256LL << 20;

// One backend for the whole run, big enough for the largest extent.
Backend* pmem_backend() {
  static std::unique_ptr<Backend> backend = [] {
    PmemSpec spec;  // temp_file
    spec.size_bytes = 2 * kMaxBytes;
    auto opened = open_pmem_file_backend(spec, /*remove_at_exit=*/true);
    if (!opened) {
      std::fprintf(stderr, "pmem backend: %s\n", opened.status().message().c_str());
      return std::unique_ptr<Backend>();
    }
    return std::move(opened).value();
  }();
  return backend.get();
}

// A DRAM source with every page written: first touch of fresh pages runs at
// 0.25-0.8 GB/s here and would be measured instead of the copy.
std::vector<char> touched_source(std::size_t bytes) { return std::vector<char>(bytes, 'a'); }

void BM_PmemCopyIn(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  Backend* backend = pmem_backend();
  if (backend == nullptr) {
    state.SkipWithError("cannot open the PMem file backend");
    return;
  }
  auto extent = backend->allocate(bytes);
  if (!extent) {
    state.SkipWithError(extent.status().message().c_str());
    return;
  }
  const std::vector<char> src = touched_source(bytes);
  // Pre-touch the destination (page cache pages and blocks exist) with one
  // untimed copy_in, so the loop measures the steady state: a copy into
  // persisted pages, which write-faults once per page because writeback left
  // them clean, plus the persist.
  if (Status s = backend->copy_in(*extent, 0, src.data(), bytes); !s) {
    state.SkipWithError(s.message().c_str());
    backend->release(*extent);
    return;
  }
  for (auto _ : state) {
    Status s = backend->copy_in(*extent, 0, src.data(), bytes);
    if (!s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  backend->release(*extent);
}

void BM_Memcpy(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const std::vector<char> src = touched_source(bytes);
  std::vector<char> dst(bytes, 'b');  // pre-touched, as above
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), bytes);
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// Wall time: the persist waits for the disk, which CPU time would not count.
// (UseRealTime also puts "/4096/" in the name, which the CTest smoke run selects.)
BENCHMARK(BM_PmemCopyIn)->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20)->Arg(kMaxBytes)->UseRealTime();
BENCHMARK(BM_Memcpy)->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20)->Arg(kMaxBytes)->UseRealTime();

}  // namespace
}  // namespace tensortier

BENCHMARK_MAIN();
