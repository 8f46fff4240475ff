// Allocator statistics, and their JSON form (TENSORTIER_STATS, docs/stats.md):
// {"tiers":[{"name","kind","limit_bytes","current_bytes","peak_bytes"}],
//  "migrations":{"demotions","promotions","bytes_demoted","bytes_promoted"}, ...}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tensortier {

struct TierStats {
  std::string name;
  std::string kind;
  std::uint64_t limit_bytes = 0;
  std::uint64_t current_bytes = 0;  // bytes of live blocks in this tier
  std::uint64_t peak_bytes = 0;     // highest current_bytes + cached_bytes seen
  std::uint64_t cached_bytes = 0;   // freed DRAM kept mapped for reuse (counts against the limit)
  std::uint64_t blocks = 0;
  std::uint64_t peak_live_bytes = 0;  // highest current_bytes seen (live blocks only)
};

struct Stats {
  std::vector<TierStats> tiers;
  std::uint64_t allocations = 0;
  std::uint64_t frees = 0;
  std::uint64_t failed_allocations = 0;
  std::uint64_t demotions = 0;
  std::uint64_t promotions = 0;
  std::uint64_t bytes_demoted = 0;
  std::uint64_t bytes_promoted = 0;
  std::uint64_t barrier_faults = 0;      // writers that waited for a move to finish
  std::uint64_t touch_faults = 0;        // touches of demoted blocks (promote_on_touch)
  std::uint64_t direct_accesses = 0;     // ... that left the block in PMem, opened for direct use
  double migration_seconds = 0;          // wall time spent copying (incl. throttle)
  double projected_optane_seconds = 0;   // the same bytes at the Optane throttle's bandwidth
  std::string policy;
};

// The JSON document of DESIGN.md (plus the extra counters).
std::string stats_to_json(const Stats& stats);

// Writes stats_to_json() to `path` ("-" = stderr). Reports a failure on
// stderr and returns false; never throws (it runs at exit).
bool write_stats_file(const Stats& stats, const std::string& path) noexcept;

}  // namespace tensortier
