// `tensortier topo [--json]`: the memory targets and the tiers this process
// would use. On an XML topology (another machine) only the PMem file tier can
// be opened here; node tiers are shown as planned.
#include <cstdio>
#include <iostream>

#include "commands.hpp"

namespace tensortier::cli {

int run_topo(const Config& config, const TopoOptions& options) {
  auto topology = load_topology(config);
  if (!topology) return fail(topology.status());
  auto plans = plan_tiers(config, *topology);
  if (!plans) return fail(plans.status());

  const bool live = topology->source() == "live";
  std::vector<TierPlan> openable;
  for (const auto& p : *plans)
    if (live || p.numa_node < 0) openable.push_back(p);
  auto opened = open_tiers(openable);
  if (!opened) return fail(opened.status());

  // Plans, with the opened backend (and its real size) where there is one.
  std::vector<TierPlan> shown;
  std::vector<const Backend*> backends;
  std::size_t next_opened = 0;
  for (const auto& p : *plans) {
    if (live || p.numa_node < 0) {
      const Tier& tier = (*opened)[next_opened++];
      shown.push_back(tier.plan);
      backends.push_back(tier.backend.get());
    } else {
      shown.push_back(p);
      backends.push_back(nullptr);
    }
  }

  if (options.json) {
    nlohmann::json targets = nlohmann::json::array();
    for (const auto& t : topology->targets()) targets.push_back(target_json(t));
    nlohmann::json tiers = nlohmann::json::array();
    for (std::size_t i = 0; i < shown.size(); ++i) tiers.push_back(tier_json(shown[i], backends[i]));
    nlohmann::json doc = {{"topology",
                           {{"source", topology->source()},
                            {"cpus", topology->cpu_count()},
                            {"targets", targets},
                            {"distances", topology->distances()}}},
                          {"tiers", tiers}};
    std::cout << doc.dump(2) << "\n";
    return 0;
  }

  std::printf("topology: %s, %u CPUs, %zu memory targets\n", topology->source().c_str(),
              topology->cpu_count(), topology->targets().size());
  for (const auto& t : topology->targets()) {
    std::printf("  node %-3u %-4s %-10s cpus %zu%s%s\n", t.numa_node, memory_kind_name(t.kind),
                format_bytes(t.capacity_bytes).c_str(), t.local_cpus.size(),
                t.bandwidth_mbps ? (", " + std::to_string(*t.bandwidth_mbps) + " MB/s").c_str() : "",
                t.latency_ns ? (", " + std::to_string(*t.latency_ns) + " ns").c_str() : "");
  }
  std::printf("tiers (in placement order):\n");
  print_tier_table(shown, backends);
  return 0;
}

}  // namespace tensortier::cli
