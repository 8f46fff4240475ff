// Memory targets of the machine (or of an hwloc XML file): DRAM, HBM and NVM
// (KMEM-DAX) NUMA nodes with capacity, local CPUs and, where published, the
// bandwidth/latency memory attributes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tensortier/status.hpp"

namespace tensortier {

enum class MemoryKind { dram, hbm, nvm };

const char* memory_kind_name(MemoryKind kind) noexcept;

struct MemoryTarget {
  unsigned numa_node = 0;        // OS index of the NUMA node
  MemoryKind kind = MemoryKind::dram;
  std::string subtype;           // hwloc subtype as published ("" when none)
  std::uint64_t capacity_bytes = 0;
  std::vector<unsigned> local_cpus;  // OS indexes of the PUs local to the node
  // hwloc memattrs, relative to the node's local CPUs; unset when unpublished.
  std::optional<std::uint64_t> bandwidth_mbps;        // MiB/s as hwloc reports
  std::optional<std::uint64_t> read_bandwidth_mbps;
  std::optional<std::uint64_t> write_bandwidth_mbps;
  std::optional<std::uint64_t> latency_ns;
  std::optional<std::uint64_t> read_latency_ns;
  std::optional<std::uint64_t> write_latency_ns;
};

class Topology {
 public:
  // The live machine, through hwloc.
  static Result<Topology> discover();
  // An hwloc XML file. A malformed, unreadable or hwloc-crashing file gives an
  // error status naming the path; it never crashes the caller.
  static Result<Topology> load_xml(const std::string& path);
  // discover() or load_xml(xml_path) when xml_path is non-empty.
  static Result<Topology> load(const std::string& xml_path);

  const std::vector<MemoryTarget>& targets() const noexcept { return targets_; }
  // Relative NUMA distances (targets() order x targets() order); empty when the
  // source publishes none.
  const std::vector<std::vector<std::uint64_t>>& distances() const noexcept { return distances_; }
  unsigned cpu_count() const noexcept { return cpu_count_; }
  const std::string& source() const noexcept { return source_; }  // "live" or the XML path

  // The target with this OS NUMA index, or nullptr.
  const MemoryTarget* find_node(unsigned numa_node) const noexcept;

  // For building topologies in code (tests).
  Topology(std::vector<MemoryTarget> targets, std::vector<std::vector<std::uint64_t>> distances,
           unsigned cpu_count, std::string source)
      : targets_(std::move(targets)),
        distances_(std::move(distances)),
        cpu_count_(cpu_count),
        source_(std::move(source)) {}

 private:
  std::vector<MemoryTarget> targets_;
  std::vector<std::vector<std::uint64_t>> distances_;
  unsigned cpu_count_ = 0;
  std::string source_;
};

}  // namespace tensortier
