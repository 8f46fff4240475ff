// hwloc discovery of memory targets: every NUMA node becomes a MemoryTarget
// with its kind, capacity, local CPUs, memory attributes and NUMA distances.
#include "tensortier/topology.hpp"

#include <hwloc.h>
#include <strings.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <system_error>

#include "topology/xml_guard.hpp"

namespace tensortier {
namespace {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// Owns one hwloc topology for the duration of a discovery.
class HwlocTopology {
 public:
  HwlocTopology() = default;
  HwlocTopology(const HwlocTopology&) = delete;
  HwlocTopology& operator=(const HwlocTopology&) = delete;
  ~HwlocTopology() {
    if (topology_ != nullptr) hwloc_topology_destroy(topology_);
  }
  Status init() {
    if (hwloc_topology_init(&topology_) < 0) {
      topology_ = nullptr;
      return Status(Errc::io_error, "hwloc_topology_init failed: " + errno_text(errno));
    }
    return Status::ok();
  }
  hwloc_topology_t get() const noexcept { return topology_; }

 private:
  hwloc_topology_t topology_ = nullptr;
};

bool equals_ignore_case(const char* a, const char* b) { return a != nullptr && strcasecmp(a, b) == 0; }

// hwloc names the medium in the subtype; older exports only in the DAX info.
MemoryKind kind_of(hwloc_obj_t node) {
  const char* subtype = node->subtype;
  if (equals_ignore_case(subtype, "NVM")) return MemoryKind::nvm;
  if (equals_ignore_case(subtype, "HBM") || equals_ignore_case(subtype, "MCDRAM")) return MemoryKind::hbm;
  if (equals_ignore_case(subtype, "DRAM")) return MemoryKind::dram;
  if (equals_ignore_case(hwloc_obj_get_info_by_name(node, "DAXType"), "NVM")) return MemoryKind::nvm;
  return MemoryKind::dram;
}

// The attribute as seen from the node's own CPUs; unset when unpublished.
std::optional<std::uint64_t> memattr(hwloc_topology_t topology, hwloc_memattr_id_t id, hwloc_obj_t node) {
  if (node->cpuset == nullptr || hwloc_bitmap_iszero(node->cpuset)) return std::nullopt;
  hwloc_location initiator{};
  initiator.type = HWLOC_LOCATION_TYPE_CPUSET;
  initiator.location.cpuset = node->cpuset;
  hwloc_uint64_t value = 0;
  if (hwloc_memattr_get_value(topology, id, node, &initiator, 0, &value) < 0) return std::nullopt;
  return static_cast<std::uint64_t>(value);
}

std::vector<unsigned> local_cpus(hwloc_topology_t topology, hwloc_obj_t node) {
  std::vector<unsigned> cpus;
  if (node->cpuset == nullptr) return cpus;
  // Only PUs that exist in the topology, not every bit a cpuset may carry.
  hwloc_bitmap_t present = hwloc_bitmap_alloc();
  if (present == nullptr) return cpus;
  hwloc_bitmap_and(present, node->cpuset, hwloc_topology_get_topology_cpuset(topology));
  for (int cpu = hwloc_bitmap_first(present); cpu >= 0; cpu = hwloc_bitmap_next(present, cpu))
    cpus.push_back(static_cast<unsigned>(cpu));
  hwloc_bitmap_free(present);
  return cpus;
}

MemoryTarget make_target(hwloc_topology_t topology, hwloc_obj_t node) {
  MemoryTarget target;
  target.numa_node = node->os_index;
  target.kind = kind_of(node);
  target.subtype = node->subtype != nullptr ? node->subtype : "";
  target.capacity_bytes = node->attr != nullptr ? node->attr->numanode.local_memory : 0;
  target.local_cpus = local_cpus(topology, node);
  target.bandwidth_mbps = memattr(topology, HWLOC_MEMATTR_ID_BANDWIDTH, node);
  target.read_bandwidth_mbps = memattr(topology, HWLOC_MEMATTR_ID_READ_BANDWIDTH, node);
  target.write_bandwidth_mbps = memattr(topology, HWLOC_MEMATTR_ID_WRITE_BANDWIDTH, node);
  target.latency_ns = memattr(topology, HWLOC_MEMATTR_ID_LATENCY, node);
  target.read_latency_ns = memattr(topology, HWLOC_MEMATTR_ID_READ_LATENCY, node);
  target.write_latency_ns = memattr(topology, HWLOC_MEMATTR_ID_WRITE_LATENCY, node);
  return target;
}

// The relative-latency NUMA matrix (SLIT-like) in `nodes` order; empty when
// none is published or it leaves out one of the nodes.
std::vector<std::vector<std::uint64_t>> numa_distances(hwloc_topology_t topology,
                                                       const std::vector<hwloc_obj_t>& nodes) {
  unsigned count = 0;
  const unsigned long kind = HWLOC_DISTANCES_KIND_MEANS_LATENCY;
  if (hwloc_distances_get_by_type(topology, HWLOC_OBJ_NUMANODE, &count, nullptr, kind, 0) < 0 || count == 0)
    return {};
  std::vector<hwloc_distances_s*> matrices(count, nullptr);
  if (hwloc_distances_get_by_type(topology, HWLOC_OBJ_NUMANODE, &count, matrices.data(), kind, 0) < 0)
    return {};
  matrices.resize(std::min<std::size_t>(count, matrices.size()));

  // Prefer the OS-provided "NUMALatency" matrix when several are published.
  hwloc_distances_s* chosen = matrices.empty() ? nullptr : matrices.front();
  for (hwloc_distances_s* m : matrices) {
    const char* name = hwloc_distances_get_name(topology, m);
    if (name != nullptr && std::string(name) == "NUMALatency") {
      chosen = m;
      break;
    }
  }

  std::vector<std::vector<std::uint64_t>> result;
  if (chosen != nullptr) {
    std::vector<int> index(nodes.size(), -1);
    bool complete = true;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      index[i] = hwloc_distances_obj_index(chosen, nodes[i]);
      complete = complete && index[i] >= 0;
    }
    if (complete) {
      result.assign(nodes.size(), std::vector<std::uint64_t>(nodes.size(), 0));
      for (std::size_t i = 0; i < nodes.size(); ++i)
        for (std::size_t j = 0; j < nodes.size(); ++j)
          result[i][j] = chosen->values[static_cast<std::size_t>(index[i]) * chosen->nbobjs +
                                        static_cast<std::size_t>(index[j])];
    }
  }
  for (hwloc_distances_s* m : matrices) hwloc_distances_release(topology, m);
  return result;
}

Topology build_topology(hwloc_topology_t topology, std::string source) {
  std::vector<hwloc_obj_t> nodes;
  for (hwloc_obj_t node = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_NUMANODE, nullptr); node != nullptr;
       node = hwloc_get_next_obj_by_type(topology, HWLOC_OBJ_NUMANODE, node))
    nodes.push_back(node);
  // OS index order, as numactl and the kernel number them.
  std::sort(nodes.begin(), nodes.end(),
            [](hwloc_obj_t a, hwloc_obj_t b) { return a->os_index < b->os_index; });

  std::vector<MemoryTarget> targets;
  targets.reserve(nodes.size());
  for (hwloc_obj_t node : nodes) targets.push_back(make_target(topology, node));

  const int pus = hwloc_get_nbobjs_by_type(topology, HWLOC_OBJ_PU);
  return Topology(std::move(targets), numa_distances(topology, nodes),
                  pus > 0 ? static_cast<unsigned>(pus) : 0u, std::move(source));
}

}  // namespace

const char* memory_kind_name(MemoryKind kind) noexcept {
  switch (kind) {
    case MemoryKind::dram: return "dram";
    case MemoryKind::hbm: return "hbm";
    case MemoryKind::nvm: return "nvm";
  }
  return "unknown";
}

Result<Topology> Topology::discover() {
  // hwloc itself would load HWLOC_XMLFILE here, bypassing the crash guard.
  if (const char* env_xml = std::getenv("HWLOC_XMLFILE"); env_xml != nullptr && *env_xml != '\0') {
    Result<Topology> from_env = load_xml(env_xml);
    if (!from_env) return from_env.status().with_context("HWLOC_XMLFILE");
    return from_env;
  }
  std::lock_guard<std::mutex> lock(topology_detail::hwloc_lock());
  HwlocTopology topology;
  if (Status s = topology.init(); !s) return s;
  if (hwloc_topology_load(topology.get()) < 0)
    return Status(Errc::io_error, "hwloc could not discover the live machine: " + errno_text(errno));
  return build_topology(topology.get(), "live");
}

Result<Topology> Topology::load_xml(const std::string& path) {
  Result<std::string> xml = topology_detail::read_probed_topology_xml(path);
  if (!xml) return xml.status();
  std::lock_guard<std::mutex> lock(topology_detail::hwloc_lock());
  HwlocTopology topology;
  if (Status s = topology.init(); !s) return s;
  // The probed bytes, not the path again: the file may change in between.
  if (hwloc_topology_set_xmlbuffer(topology.get(), xml->c_str(), static_cast<int>(xml->size() + 1)) < 0 ||
      hwloc_topology_load(topology.get()) < 0)
    return Status(Errc::invalid_argument,
                  "hwloc could not load topology XML '" + path + "': " + errno_text(errno));
  return build_topology(topology.get(), path);
}

Result<Topology> Topology::load(const std::string& xml_path) {
  return xml_path.empty() ? discover() : load_xml(xml_path);
}

const MemoryTarget* Topology::find_node(unsigned numa_node) const noexcept {
  for (const MemoryTarget& target : targets_)
    if (target.numa_node == numa_node) return &target;
  return nullptr;
}

}  // namespace tensortier
