// Which tiers a configuration asks for on a topology (the plan: pure, works on
// an hwloc XML of another machine), and opening them on this machine. Order:
// HBM, then DRAM NUMA nodes, then PMem (KMEM-DAX nodes or the file/devdax tier).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensortier/backend.hpp"
#include "tensortier/config.hpp"
#include "tensortier/topology.hpp"

namespace tensortier {

struct TierPlan {
  std::string name;                 // as the backend will name it: "dram0", "pmem_file", ...
  TierKind kind = TierKind::dram;
  int numa_node = -1;               // -1 for the file/devdax tier
  std::uint64_t capacity_bytes = 0; // hwloc node size, or the PMem file size asked for
  std::uint64_t limit_bytes = 0;    // budget tensortier keeps to in this tier
  std::vector<unsigned> local_cpus;
  std::optional<std::uint64_t> bandwidth_mbps;  // hwloc memattrs, when published
  std::optional<std::uint64_t> latency_ns;
  PmemSpec pmem;                    // for the file/devdax tier
};

struct Tier {
  TierPlan plan;
  std::unique_ptr<Backend> backend;
};

// DRAM budget when TENSORTIER_DRAM_LIMIT is unset: physical memory (NUMA node
// sizes under-report on VMs), capped by the cgroup memory limit, less 10% for
// the rest of the process.
std::uint64_t default_dram_limit_bytes();  // see plan_tiers for XML topologies

// The DRAM budget is split over DRAM nodes in proportion to their hwloc size;
// HBM and KMEM-DAX nodes get their own size. Errors name the variable.
Result<std::vector<TierPlan>> plan_tiers(const Config& config, const Topology& topology);

// Opens a backend per plan entry on this machine. Errors name the variable
// behind the failing tier ("TENSORTIER_PMEM='file:/nope': ...").
Result<std::vector<Tier>> open_tiers(std::vector<TierPlan> plans);

}  // namespace tensortier
