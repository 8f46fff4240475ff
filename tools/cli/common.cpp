#include <cstdio>
#include <fstream>
#include <iostream>

#include "commands.hpp"

namespace tensortier::cli {
namespace {

template <typename T>
nlohmann::json optional_json(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

std::string optional_text(const std::optional<std::uint64_t>& value, const char* unit) {
  return value ? std::to_string(*value) + unit : "-";
}

}  // namespace

TierBytes tier_bytes(const Stats& stats) {
  TierBytes b;
  for (const TierStats& t : stats.tiers) {
    const bool pmem = t.kind.rfind("pmem", 0) == 0;
    (pmem ? b.pmem : b.dram) += t.current_bytes;
    (pmem ? b.pmem_peak : b.dram_peak) += t.peak_bytes;
    (pmem ? b.pmem_peak_live : b.dram_peak_live) += t.peak_live_bytes;
    if (!pmem) {
      b.dram_cached += t.cached_bytes;
      b.dram_limit += t.limit_bytes;
    }
  }
  return b;
}

nlohmann::json tier_stats_json(const Stats& stats) {
  nlohmann::json tiers = nlohmann::json::array();
  for (const TierStats& t : stats.tiers)
    tiers.push_back({{"name", t.name},
                     {"kind", t.kind},
                     {"limit_bytes", t.limit_bytes},
                     {"current_bytes", t.current_bytes},
                     {"peak_bytes", t.peak_bytes},
                     {"peak_live_bytes", t.peak_live_bytes}});
  return tiers;
}

std::string short_bytes(std::uint64_t b) {
  char buf[32];
  const double v = static_cast<double>(b);
  if (b >= (1ULL << 40)) std::snprintf(buf, sizeof buf, "%.2f TiB", v / 1099511627776.0);
  else if (b >= (1ULL << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", v / 1073741824.0);
  else if (b >= (1ULL << 20)) std::snprintf(buf, sizeof buf, "%.1f MiB", v / 1048576.0);
  else std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(b));
  return buf;
}

nlohmann::json dice_json(const std::vector<double>& dice, const std::vector<std::string>& names) {
  nlohmann::json j = nlohmann::json::object();
  for (std::size_t c = 0; c < dice.size() && c < names.size(); ++c) j[names[c]] = dice[c];
  return j;
}

nlohmann::json target_json(const MemoryTarget& t) {
  return {{"numa_node", t.numa_node},
          {"kind", memory_kind_name(t.kind)},
          {"subtype", t.subtype},
          {"capacity_bytes", t.capacity_bytes},
          {"local_cpus", t.local_cpus},
          {"bandwidth_mbps", optional_json(t.bandwidth_mbps)},
          {"read_bandwidth_mbps", optional_json(t.read_bandwidth_mbps)},
          {"write_bandwidth_mbps", optional_json(t.write_bandwidth_mbps)},
          {"latency_ns", optional_json(t.latency_ns)},
          {"read_latency_ns", optional_json(t.read_latency_ns)},
          {"write_latency_ns", optional_json(t.write_latency_ns)}};
}

nlohmann::json tier_json(const TierPlan& plan, const Backend* backend) {
  nlohmann::json j = {{"name", plan.name},
                      {"kind", tier_kind_name(plan.kind)},
                      {"numa_node", plan.numa_node >= 0 ? nlohmann::json(plan.numa_node)
                                                        : nlohmann::json(nullptr)},
                      {"capacity_bytes", plan.capacity_bytes},
                      {"limit_bytes", plan.limit_bytes},
                      {"local_cpus", plan.local_cpus},
                      {"bandwidth_mbps", optional_json(plan.bandwidth_mbps)},
                      {"latency_ns", optional_json(plan.latency_ns)},
                      {"opened", backend != nullptr}};
  if (backend != nullptr) {
    const TierInfo& info = backend->info();
    j["medium"] = info.medium;
    j["granularity"] = info.granularity;
    j["alignment_bytes"] = info.alignment_bytes;
    j["persistent"] = info.persistent;
    j["path"] = info.path.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.path);
  }
  return j;
}

void print_tier_table(const std::vector<TierPlan>& plans,
                      const std::vector<const Backend*>& backends) {
  std::printf("%-12s %-11s %-4s %-10s %-10s %-10s %-8s %-9s %-10s %s\n", "tier", "kind", "node",
              "capacity", "limit", "bandwidth", "latency", "medium", "granular.", "path");
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const TierPlan& p = plans[i];
    const Backend* b = i < backends.size() ? backends[i] : nullptr;
    const std::string node = p.numa_node >= 0 ? std::to_string(p.numa_node) : "-";
    std::printf("%-12s %-11s %-4s %-10s %-10s %-10s %-8s %-9s %-10s %s\n", p.name.c_str(),
                tier_kind_name(p.kind), node.c_str(), format_bytes(p.capacity_bytes).c_str(),
                format_bytes(p.limit_bytes).c_str(),
                optional_text(p.bandwidth_mbps, "MB/s").c_str(),
                optional_text(p.latency_ns, "ns").c_str(),
                b ? b->info().medium.c_str() : "(plan)", b ? b->info().granularity.c_str() : "-",
                b && !b->info().path.empty() ? b->info().path.c_str() : "");
  }
}

Result<Topology> load_topology(const Config& config) {
  auto topology = Topology::load(config.topology_xml);
  if (!topology && !config.topology_xml.empty())
    return Result<Topology>(topology.status().with_context(
        "TENSORTIER_TOPOLOGY_XML='" + config.topology_xml + "'"));
  return topology;
}

int fail(const Status& status) {
  std::fprintf(stderr, "tensortier: %s\n", status.message().c_str());
  return status.code() == Errc::invalid_argument ? 2 : 1;
}

bool write_json(const std::string& path, const nlohmann::json& doc) {
  if (path == "-") {
    std::cout << doc.dump(2) << "\n";
    return true;
  }
  std::ofstream out(path);
  out << doc.dump(2) << "\n";
  out.close();
  if (!out) {
    std::fprintf(stderr, "tensortier: cannot write JSON report to '%s'\n", path.c_str());
    return false;
  }
  return true;
}

}  // namespace tensortier::cli
