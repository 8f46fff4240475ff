// Tier planning (pure, from a Config and a Topology) and opening the planned
// backends on this machine.
#include "tensortier/tiers.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tensortier {
namespace {

// The memory limit of this process's cgroup (v1 memory controller or v2
// memory.max), when there is one.
std::optional<std::uint64_t> cgroup_memory_limit() {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    // "ID:controllers:path"; v1 memory has "memory" among the controllers, v2 has "".
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    std::string file;
    if (controllers.find("memory") != std::string::npos)
      file = "/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes";
    else if (controllers.empty())
      file = "/sys/fs/cgroup" + path + "/memory.max";
    else
      continue;
    std::ifstream in(file);
    std::string value;
    if (!(in >> value) || value == "max") continue;
    try {
      const std::uint64_t limit = std::stoull(value);
      if (limit < (1ULL << 60)) return limit;  // v1 reports "no limit" as ~2^63
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> memattr_bandwidth(const MemoryTarget& t) {
  return t.bandwidth_mbps ? t.bandwidth_mbps : t.read_bandwidth_mbps;
}
std::optional<std::uint64_t> memattr_latency(const MemoryTarget& t) {
  return t.latency_ns ? t.latency_ns : t.read_latency_ns;
}

TierPlan node_plan(const MemoryTarget& t, TierKind kind, const char* prefix,
                   std::uint64_t limit) {
  TierPlan plan;
  plan.name = prefix + std::to_string(t.numa_node);
  plan.kind = kind;
  plan.numa_node = static_cast<int>(t.numa_node);
  plan.capacity_bytes = t.capacity_bytes;
  plan.limit_bytes = limit;
  plan.local_cpus = t.local_cpus;
  plan.bandwidth_mbps = memattr_bandwidth(t);
  plan.latency_ns = memattr_latency(t);
  return plan;
}

std::uint64_t round_down_to_page(std::uint64_t bytes) {
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return bytes / page * page;
}

}  // namespace

std::uint64_t default_dram_limit_bytes() {
  const auto pages = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES));
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  std::uint64_t physical = pages * page;
  if (auto cgroup = cgroup_memory_limit()) physical = std::min(physical, *cgroup);
  return round_down_to_page(physical / 10 * 9);
}

Result<std::vector<TierPlan>> plan_tiers(const Config& config, const Topology& topology) {
  std::vector<TierPlan> plans;
  std::vector<const MemoryTarget*> dram;
  for (const auto& t : topology.targets()) {
    if (t.kind == MemoryKind::hbm)
      plans.push_back(node_plan(t, TierKind::hbm, "hbm", round_down_to_page(t.capacity_bytes)));
    if (t.kind == MemoryKind::dram) dram.push_back(&t);
  }
  if (dram.empty())
    return Result<std::vector<TierPlan>>(
        Errc::invalid_argument,
        "topology " + topology.source() + " has no DRAM NUMA node; check TENSORTIER_TOPOLOGY_XML");

  std::uint64_t total_capacity = 0;
  for (const auto* t : dram) total_capacity += t->capacity_bytes;
  // This machine's default, or, for another machine's XML, its DRAM less 10%.
  const std::uint64_t budget = config.dram_limit_bytes.value_or(
      topology.source() == "live" || total_capacity == 0
          ? default_dram_limit_bytes()
          : round_down_to_page(total_capacity / 10 * 9));
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  if (budget < page * dram.size())
    return Result<std::vector<TierPlan>>(
        Errc::invalid_argument,
        "TENSORTIER_DRAM_LIMIT='" + std::to_string(budget) + "': smaller than one page per DRAM node (" +
            std::to_string(dram.size()) + " nodes); accepted: at least " +
            std::to_string(page * dram.size()) + " bytes");
  std::uint64_t given = 0;
  for (std::size_t i = 0; i < dram.size(); ++i) {
    std::uint64_t share;
    if (i + 1 == dram.size())
      share = budget - given;  // the last node takes the rounding remainder
    else if (total_capacity == 0)
      share = round_down_to_page(budget / dram.size());
    else
      share = round_down_to_page(static_cast<std::uint64_t>(
          static_cast<long double>(budget) * dram[i]->capacity_bytes / total_capacity));
    given += share;
    plans.push_back(node_plan(*dram[i], TierKind::dram, "dram", share));
  }

  switch (config.pmem.scheme) {
    case PmemSpec::Scheme::none:
      break;
    case PmemSpec::Scheme::kmem: {
      bool any = false;
      for (const auto& t : topology.targets()) {
        if (t.kind != MemoryKind::nvm) continue;
        plans.push_back(
            node_plan(t, TierKind::pmem_kmem, "pmem_kmem", round_down_to_page(t.capacity_bytes)));
        any = true;
      }
      if (!any)
        return Result<std::vector<TierPlan>>(
            Errc::not_supported,
            "TENSORTIER_PMEM='kmem': topology " + topology.source() +
                " has no NVM (KMEM-DAX) NUMA node; accepted here: file:/dir[,size=N], "
                "devdax:/dev/daxX.Y, none");
      break;
    }
    case PmemSpec::Scheme::temp_file:
    case PmemSpec::Scheme::file:
    case PmemSpec::Scheme::devdax: {
      TierPlan plan;
      const bool devdax = config.pmem.scheme == PmemSpec::Scheme::devdax;
      plan.name = devdax ? "pmem_devdax" : "pmem_file";
      plan.kind = devdax ? TierKind::pmem_devdax : TierKind::pmem_file;
      plan.capacity_bytes = config.pmem.size_bytes.value_or(devdax ? 0 : kDefaultPmemFileBytes);
      plan.limit_bytes = plan.capacity_bytes;
      plan.pmem = config.pmem;
      plans.push_back(std::move(plan));
      break;
    }
  }
  return plans;
}

Result<std::vector<Tier>> open_tiers(std::vector<TierPlan> plans) {
  std::vector<Tier> tiers;
  for (auto& plan : plans) {
    Result<std::unique_ptr<Backend>> backend(Errc::internal, "unopened");
    std::string context;
    switch (plan.kind) {
      case TierKind::dram:
      case TierKind::hbm:
        backend = open_dram_backend(plan.numa_node, plan.limit_bytes, plan.kind);
        context = "NUMA node " + std::to_string(plan.numa_node) + " (" + plan.name + ")";
        break;
      case TierKind::pmem_kmem:
        backend = open_pmem_kmem_backend(static_cast<unsigned>(plan.numa_node), plan.limit_bytes);
        context = "TENSORTIER_PMEM='kmem'";
        break;
      case TierKind::pmem_file:
      case TierKind::pmem_devdax:
        // tensortier uses PMem as volatile capacity: its file is unlinked right
        // after creation, so nothing is left behind, whatever ends the process.
        backend = open_pmem_file_backend(plan.pmem, /*remove_at_exit=*/true);
        context = "TENSORTIER_PMEM='" + pmem_spec_text(plan.pmem) + "'";
        break;
    }
    if (!backend) return Result<std::vector<Tier>>(backend.status().with_context(context));
    // The opened backend knows the real size (devdax, a clamped default file).
    const auto& info = (*backend)->info();
    if (plan.kind == TierKind::pmem_file || plan.kind == TierKind::pmem_devdax) {
      plan.capacity_bytes = info.capacity_bytes;
      plan.limit_bytes = info.capacity_bytes;
    }
    plan.name = info.name;
    tiers.push_back(Tier{std::move(plan), std::move(*backend)});
  }
  return tiers;
}

}  // namespace tensortier
