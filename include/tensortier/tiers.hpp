// Opening the tiers a configuration asks for on a topology: DRAM NUMA nodes
// first (HBM before DRAM), then PMem. Used by the CLI and, later, the core.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tensortier/backend.hpp"
#include "tensortier/config.hpp"
#include "tensortier/topology.hpp"

namespace tensortier {

struct Tier {
  std::unique_ptr<Backend> backend;
  std::uint64_t limit_bytes = 0;  // budget of this tier (<= backend capacity)
  // hwloc attributes of the backing NUMA node, when known.
  std::optional<std::uint64_t> bandwidth_mbps;
  std::optional<std::uint64_t> latency_ns;
};

// DRAM budget when TENSORTIER_DRAM_LIMIT is unset: physical memory (the NUMA
// node sizes alone under-report on VMs), capped by a cgroup memory limit, less
// a 10% reserve for the rest of the process.
std::uint64_t default_dram_limit_bytes();

// Opens every tier. Errors name the variable that caused them
// ("TENSORTIER_PMEM='file:/nope': directory does not exist ...").
Result<std::vector<Tier>> open_tiers(const Config& config, const Topology& topology);

}  // namespace tensortier
