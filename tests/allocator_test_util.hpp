// Shared by the allocator tests: options for small tier setups (an emulated
// PMem file in $TMPDIR, unlinked at once) and block-specific fill patterns
// that make any lost, torn or misplaced write visible.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "tensortier/allocator.hpp"

namespace tensortier::test {

inline constexpr std::uint64_t kKiB = 1ULL << 10;
inline constexpr std::uint64_t kMiB = 1ULL << 20;

// DRAM budget `dram_bytes`; an emulated PMem file of `pmem_bytes` in $TMPDIR
// (or /tmp), unlinked right after creation; no PMem tier when nullopt.
inline AllocatorOptions small_options(std::uint64_t dram_bytes,
                                      std::optional<std::uint64_t> pmem_bytes,
                                      Policy policy = Policy::lru) {
  AllocatorOptions options;
  options.config.dram_limit_bytes = dram_bytes;
  if (pmem_bytes) {
    options.config.pmem.scheme = PmemSpec::Scheme::temp_file;
    options.config.pmem.size_bytes = *pmem_bytes;
  } else {
    options.config.pmem.scheme = PmemSpec::Scheme::none;
  }
  options.policy = policy;
  return options;
}

// Creates the allocator or fails the calling test (use with ASSERT_NO_FATAL_FAILURE).
inline std::unique_ptr<Allocator> make_allocator(AllocatorOptions options) {
  auto created = Allocator::create(std::move(options));
  EXPECT_TRUE(created.has_value()) << created.status().message();
  if (!created) return nullptr;
  return std::move(*created);
}

inline EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

// splitmix64: a cheap, well-mixed word for (block, generation, index).
inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline std::uint64_t pattern_word(std::uint64_t seed, std::size_t index) {
  return mix(seed * 0x100000001b3ULL + index);
}

// Fills [p, p + bytes) with the pattern of `seed` (any length, any alignment).
inline void fill_pattern(void* p, std::size_t bytes, std::uint64_t seed) {
  auto* bytes_ptr = static_cast<unsigned char*>(p);
  std::size_t words = bytes / 8;
  for (std::size_t i = 0; i < words; ++i) {
    const std::uint64_t w = pattern_word(seed, i);
    std::memcpy(bytes_ptr + i * 8, &w, 8);
  }
  const std::uint64_t tail = pattern_word(seed, words);
  std::memcpy(bytes_ptr + words * 8, &tail, bytes % 8);
}

// Offset of the first byte that differs from the pattern; SIZE_MAX when intact.
inline std::size_t pattern_mismatch(const void* p, std::size_t bytes, std::uint64_t seed) {
  const auto* bytes_ptr = static_cast<const unsigned char*>(p);
  std::size_t words = bytes / 8;
  for (std::size_t i = 0; i < words; ++i) {
    std::uint64_t w;
    std::memcpy(&w, bytes_ptr + i * 8, 8);
    if (w != pattern_word(seed, i)) return i * 8;
  }
  const std::uint64_t tail = pattern_word(seed, words);
  if (std::memcmp(bytes_ptr + words * 8, &tail, bytes % 8) != 0) return words * 8;
  return SIZE_MAX;
}

inline bool pattern_intact(const void* p, std::size_t bytes, std::uint64_t seed) {
  return pattern_mismatch(p, bytes, seed) == SIZE_MAX;
}

// Index of the first tier whose kind is fast (DRAM/HBM) or slow (PMem); -1 if none.
inline int first_tier(const Allocator& a, bool fast) {
  const auto& tiers = a.tiers();
  for (int i = 0; i < static_cast<int>(tiers.size()); ++i) {
    const bool is_fast = tiers[i].kind == TierKind::dram || tiers[i].kind == TierKind::hbm;
    if (is_fast == fast) return i;
  }
  return -1;
}
inline int dram_tier(const Allocator& a) { return first_tier(a, true); }
inline int pmem_tier(const Allocator& a) { return first_tier(a, false); }

// Every tier's live, cached and peak bytes within its limit.
inline ::testing::AssertionResult budgets_respected(const Stats& stats) {
  for (const auto& t : stats.tiers) {
    if (t.current_bytes > t.limit_bytes || t.peak_bytes > t.limit_bytes ||
        t.current_bytes + t.cached_bytes > t.limit_bytes)
      return ::testing::AssertionFailure()
             << t.name << ": current " << t.current_bytes << " + cached " << t.cached_bytes
             << ", peak " << t.peak_bytes << " over the limit " << t.limit_bytes;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace tensortier::test
