// KMEM-DAX PMem: persistent memory the kernel onlined as a CPU-less NUMA node
// (daxctl reconfigure-device --mode=system-ram). memkind only answers whether
// such memory exists; the memory itself is handled like DRAM (anonymous and
// NUMA-bound), so pages can later be rebound in place between nodes.
#include <memkind.h>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "backends/dram.hpp"
#include "backends/kmem_nodes.hpp"

namespace tensortier {
namespace {

std::string join(const std::vector<int>& nodes) {
  std::string text;
  for (int node : nodes) text += (text.empty() ? "" : ",") + std::to_string(node);
  return text;
}

}  // namespace

bool pmem_kmem_supported() noexcept { return true; }

Result<std::unique_ptr<Backend>> open_pmem_kmem_backend(unsigned numa_node,
                                                        std::uint64_t capacity_bytes) {
  const std::string name = "pmem_kmem" + std::to_string(numa_node);
  if (const int err = memkind_check_available(MEMKIND_DAX_KMEM); err != 0) {
    char reason[MEMKIND_ERROR_MESSAGE_SIZE] = {};
    memkind_error_message(err, reason, sizeof reason);
    return Status(Errc::not_supported,
                  name + ": KMEM-DAX memory not available (memkind: " + reason +
                      "); configure a PMem namespace as a NUMA node with "
                      "'daxctl reconfigure-device --mode=system-ram daxX.Y'");
  }
  if (numa_node > static_cast<unsigned>(INT_MAX)) {
    return Status(Errc::invalid_argument, name + ": NUMA node index out of range");
  }
  const std::vector<int> kmem_nodes = detail::kmem_dax_nodes();
  if (!kmem_nodes.empty() &&
      std::find(kmem_nodes.begin(), kmem_nodes.end(), static_cast<int>(numa_node)) ==
          kmem_nodes.end()) {
    return Status(Errc::invalid_argument, name + ": NUMA node " + std::to_string(numa_node) +
                                              " is not a KMEM-DAX node (KMEM-DAX nodes: " +
                                              join(kmem_nodes) + ")");
  }
  detail::AnonymousBackendSpec spec;
  spec.numa_node = static_cast<int>(numa_node);
  spec.capacity_bytes = capacity_bytes;
  spec.kind = TierKind::pmem_kmem;
  spec.name = name;
  spec.medium = "kmem";
  return detail::open_anonymous_backend(std::move(spec));
}

}  // namespace tensortier
