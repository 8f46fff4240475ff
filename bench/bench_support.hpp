// Helpers shared by the allocator benchmarks: the baselines (jemalloc loaded
// without replacing glibc malloc), page touching, and a tensortier allocator
// with an explicit DRAM budget and an emulated PMem file in $TMPDIR (or /tmp).
#pragma once

#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tensortier/allocator.hpp"

namespace tensortier::bench {

inline std::size_t page_bytes() {
  static const auto bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

// First touch: one write per page, through a volatile pointer so the stores
// cannot be dropped as dead before the free. The written line moves by 64
// bytes from page to page: at a fixed page offset, a block backed by huge
// pages (physically contiguous) would map every store to the same few L2/L3
// sets and measure cache-set conflicts instead of the allocator.
inline void touch_pages(void* p, std::size_t bytes) {
  volatile char* c = static_cast<volatile char*>(p);
  const std::size_t page = page_bytes();
  std::size_t line = 0;
  for (std::size_t off = 0; off < bytes; off += page, line = (line + 64) % page) c[off + line] = 1;
}

// jemalloc through dlopen(RTLD_LOCAL): Debian's libjemalloc exports unprefixed
// malloc/free, so linking it would replace glibc malloc for the whole binary
// (and the glibc baseline with it). mallocx/dallocx from the private handle
// leave the process allocator alone. The library is built with initial-exec
// TLS (2.6 KiB), more than glibc keeps spare for dlopen (512 bytes), so
// run_benchmarks() re-executes the binary once with a larger reserve.
struct Jemalloc {
  using mallocx_fn = void* (*)(std::size_t, int);
  using dallocx_fn = void (*)(void*, int);
  mallocx_fn mallocx = nullptr;
  dallocx_fn dallocx = nullptr;
  std::string error;

  static const Jemalloc& get() {
    static const Jemalloc je = [] {
      Jemalloc j;
      void* handle = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
      if (handle == nullptr) {
        j.error = std::string("dlopen libjemalloc.so.2: ") + dlerror();
        return j;
      }
      j.mallocx = reinterpret_cast<mallocx_fn>(dlsym(handle, "mallocx"));
      j.dallocx = reinterpret_cast<dallocx_fn>(dlsym(handle, "dallocx"));
      if (j.mallocx == nullptr || j.dallocx == nullptr)
        j.error = "libjemalloc.so.2 lacks mallocx/dallocx";
      return j;  // the handle stays open for the process
    }();
    return je;
  }
  bool ok() const { return error.empty(); }
};

struct TierSetup {
  std::uint64_t dram_limit_bytes = 0;
  std::uint64_t pmem_file_bytes = 0;
  Policy policy = Policy::lru;
  bool throttle = false;
  bool promote_on_touch = false;
};

// An allocator over one DRAM budget and a PMem file of the given size (sparse,
// unlinked at creation). Null with the reason in *error when it cannot open.
inline std::unique_ptr<Allocator> make_allocator(const TierSetup& setup, std::string* error) {
  AllocatorOptions options;
  options.config.dram_limit_bytes = setup.dram_limit_bytes;
  options.config.pmem.scheme = PmemSpec::Scheme::temp_file;
  options.config.pmem.size_bytes = setup.pmem_file_bytes;
  options.policy = setup.policy;
  options.throttle.enabled = setup.throttle;
  options.promote_on_touch = setup.promote_on_touch;
  auto created = Allocator::create(std::move(options));
  if (!created) {
    *error = created.status().message();
    return nullptr;
  }
  return std::move(created).value();
}

// The DRAM tier index (the first fast tier) of an allocator.
inline int dram_tier_index(const Allocator& alloc) {
  const auto& tiers = alloc.tiers();
  for (std::size_t i = 0; i < tiers.size(); ++i)
    if (tiers[i].kind == TierKind::dram || tiers[i].kind == TierKind::hbm)
      return static_cast<int>(i);
  return -1;
}

// Display output (console or json, as --benchmark_format asks) that
// remembers whether any run stopped with an error, so a broken benchmark
// fails its CTest smoke run instead of printing and passing.
template <typename Base>
class ErrorTracking : public Base {
 public:
  using Base::Base;
  void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
    for (const auto& run : runs)
      if (run.error_occurred) failed_ = true;
    Base::ReportRuns(runs);
  }
  bool failed() const { return failed_; }

 private:
  bool failed_ = false;
};

// glibc.rtld.optional_static_tls is read at startup only: set it and exec
// ourselves again. On failure jemalloc's runs report the dlopen error.
inline void reserve_static_tls_for_jemalloc(char** argv) {
  constexpr const char* kTunable = "glibc.rtld.optional_static_tls=16384";
  const char* current = std::getenv("GLIBC_TUNABLES");
  if (current != nullptr && std::strstr(current, "optional_static_tls") != nullptr) return;
  std::string value = current != nullptr && *current != '\0' ? std::string(current) + ":" + kTunable
                                                             : std::string(kTunable);
  setenv("GLIBC_TUNABLES", value.c_str(), 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "re-exec for jemalloc's static TLS failed: %s\n", std::strerror(errno));
}

// BENCHMARK_MAIN with an exit status: 1 when a run reported an error, 2 on a
// bad flag. (--benchmark_out=FILE still writes the file report.)
inline int run_benchmarks(int argc, char** argv) {
  reserve_static_tls_for_jemalloc(argv);
  std::string format = "console";
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) format = argv[i] + 19;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  bool failed = false;
  if (format == "json") {
    ErrorTracking<benchmark::JSONReporter> reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    failed = reporter.failed();
  } else {  // console (the deprecated csv format is not offered)
    ErrorTracking<benchmark::ConsoleReporter> reporter(
        isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Defaults
                              : benchmark::ConsoleReporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    failed = reporter.failed();
  }
  benchmark::Shutdown();
  return failed ? 1 : 0;
}

}  // namespace tensortier::bench
