// NUMA placement of anonymous memory ranges (private to backends/).
// numa_bind.cpp implements it with libnuma; numa_bind_none.cpp is the twin
// compiled when TENSORTIER_WITH_NUMA=OFF (binding then leaves memory where the
// kernel's default policy puts it).
#pragma once

#include <cstddef>

#include "tensortier/status.hpp"

namespace tensortier::detail {

// Ok when `node` is a NUMA node this process may allocate memory on;
// Errc::invalid_argument naming the node and the valid ones otherwise.
Status numa_check_node(int node);

// Sets an MPOL_BIND policy for `node` on [addr, addr + bytes) (page aligned).
// Call it before the pages are first touched: the policy decides where they
// fault in, it does not move pages already present.
Status numa_bind_range(void* addr, std::size_t bytes, int node);

// Rebinds [addr, addr + bytes) to `node` and migrates the pages already
// faulted in (MPOL_MF_MOVE), keeping their addresses: migration between two
// NUMA-node tiers without a copy through user space. Pages shared with another
// process are not moved and make it fail (MPOL_MF_STRICT).
// Errc::not_supported in the _none twin.
Status numa_move_range_to_node(void* addr, std::size_t bytes, int node);

}  // namespace tensortier::detail
