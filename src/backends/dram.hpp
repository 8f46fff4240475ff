// The anonymous-memory backend behind DRAM, HBM and KMEM-DAX tiers (private to
// backends/): all three are NUMA nodes, differing only in what they are called.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tensortier/backend.hpp"

namespace tensortier::detail {

struct AnonymousBackendSpec {
  int numa_node = 0;
  std::uint64_t capacity_bytes = 0;  // the budget: allocations beyond it are Errc::no_space
  TierKind kind = TierKind::dram;
  std::string name;    // TierInfo::name, e.g. "dram0", "pmem_kmem2"
  std::string medium;  // TierInfo::medium, e.g. "anonymous", "kmem"
};

// Validates the node and capacity, then opens the backend.
Result<std::unique_ptr<Backend>> open_anonymous_backend(AnonymousBackendSpec spec);

}  // namespace tensortier::detail
