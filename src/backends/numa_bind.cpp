// NUMA binding through libnuma's mbind(2) wrapper. libnuma's convenience calls
// (numa_tonode_memory, numa_allocate_nodemask) print warnings or exit(1) on
// failure, so only the raw syscall wrapper and read-only queries are used.
#include <numa.h>
#include <numaif.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <vector>

#include "backends/numa_bind.hpp"
#include "tensortier/backend.hpp"

namespace tensortier {

bool dram_numa_binding_supported() noexcept { return true; }

namespace detail {
namespace {

// Kernels without NUMA support (numa_available() < 0) have exactly node 0.
bool kernel_has_numa() { return numa_available() >= 0; }

// "0-1,3" style list of the nodes this process may allocate on.
std::string allowed_nodes_text() {
  if (!kernel_has_numa()) return "0";
  std::string text;
  const int max_node = numa_max_node();
  for (int node = 0; node <= max_node; ++node) {
    if (!numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(node))) continue;
    int last = node;
    while (last + 1 <= max_node &&
           numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(last + 1))) {
      ++last;
    }
    if (!text.empty()) text += ',';
    text += std::to_string(node);
    if (last > node) text += '-' + std::to_string(last);
    node = last;
  }
  return text.empty() ? "none" : text;
}

// mbind with a one-node mask. The mask is sized for every possible node, and
// maxnode is one more than its bit count (the kernel drops the last bit).
Status mbind_to_node(void* addr, std::size_t bytes, int node, unsigned flags, const char* what) {
  constexpr std::size_t kBitsPerWord = sizeof(unsigned long) * CHAR_BIT;
  const std::size_t possible = static_cast<std::size_t>(numa_num_possible_nodes());
  const std::size_t nbits = std::max(possible, static_cast<std::size_t>(node) + 1);
  std::vector<unsigned long> mask((nbits + kBitsPerWord - 1) / kBitsPerWord, 0UL);
  const auto bit = static_cast<std::size_t>(node);
  mask[bit / kBitsPerWord] |= 1UL << (bit % kBitsPerWord);
  if (mbind(addr, bytes, MPOL_BIND, mask.data(), mask.size() * kBitsPerWord + 1, flags) == 0) {
    return Status::ok();
  }
  const int err = errno;
  const std::string message = std::string(what) + " of " + std::to_string(bytes) +
                              " bytes to NUMA node " + std::to_string(node) +
                              " failed: " + std::strerror(err);
  if (err == ENOMEM) return Status(Errc::no_space, message);
  return Status(Errc::io_error, message);
}

}  // namespace

Status numa_check_node(int node) {
  const bool exists =
      node >= 0 && (kernel_has_numa()
                        ? node <= numa_max_node() &&
                              numa_bitmask_isbitset(numa_all_nodes_ptr, static_cast<unsigned>(node))
                        : node == 0);
  if (exists) return Status::ok();
  return Status(Errc::invalid_argument, "NUMA node " + std::to_string(node) +
                                            " does not exist or is not allowed for this process "
                                            "(nodes with memory: " +
                                            allowed_nodes_text() + ")");
}

Status numa_bind_range(void* addr, std::size_t bytes, int node) {
  // Without kernel NUMA support all memory is node 0's already.
  if (!kernel_has_numa()) return Status::ok();
  return mbind_to_node(addr, bytes, node, 0, "binding (mbind MPOL_BIND)");
}

Status numa_move_range_to_node(void* addr, std::size_t bytes, int node) {
  if (!kernel_has_numa()) {
    return Status(Errc::not_supported, "moving pages between NUMA nodes: the kernel has no NUMA "
                                       "support (numa_available() < 0)");
  }
  if (Status exists = numa_check_node(node); !exists) return exists;
  return mbind_to_node(addr, bytes, node, MPOL_MF_MOVE | MPOL_MF_STRICT,
                       "moving pages (mbind MPOL_MF_MOVE)");
}

}  // namespace detail
}  // namespace tensortier
