// Which NUMA nodes are KMEM-DAX memory: dax devices bound to the kmem driver,
// read from sysfs (private to backends/; tests use it to find such a node).
#pragma once

#include <vector>

namespace tensortier::detail {

// Sorted OS indexes; empty when the machine has none or sysfs does not say.
std::vector<int> kmem_dax_nodes();

}  // namespace tensortier::detail
