// Twin of numa_bind.cpp for builds without libnuma (TENSORTIER_WITH_NUMA=OFF):
// memory stays wherever the kernel's default policy places it, and moving
// pages between nodes is reported as not supported.
#include <filesystem>
#include <string>
#include <system_error>

#include "backends/numa_bind.hpp"
#include "tensortier/backend.hpp"

namespace tensortier {

bool dram_numa_binding_supported() noexcept { return false; }

namespace detail {

Status numa_check_node(int node) {
  // Without libnuma, sysfs still says which nodes exist; a kernel without
  // NUMA (no sysfs node directory) has node 0 only.
  const std::string sysfs = "/sys/devices/system/node/node";
  std::error_code ec;
  const bool sysfs_has_nodes = std::filesystem::exists(sysfs + "0", ec);
  const bool exists =
      node >= 0 &&
      (sysfs_has_nodes ? std::filesystem::exists(sysfs + std::to_string(node), ec) : node == 0);
  if (exists) return Status::ok();
  return Status(Errc::invalid_argument,
                "NUMA node " + std::to_string(node) +
                    " does not exist (see /sys/devices/system/node)");
}

Status numa_bind_range(void*, std::size_t, int) { return Status::ok(); }

Status numa_move_range_to_node(void*, std::size_t, int) {
  return Status(Errc::not_supported,
                "moving pages between NUMA nodes: built without libnuma "
                "(TENSORTIER_WITH_NUMA=OFF; apt-get install libnuma-dev)");
}

}  // namespace detail
}  // namespace tensortier
