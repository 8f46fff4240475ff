// Twin of pmem_kmem.cpp for builds without memkind (TENSORTIER_WITH_MEMKIND=OFF).
#include <string>

#include "tensortier/backend.hpp"

namespace tensortier {

bool pmem_kmem_supported() noexcept { return false; }

Result<std::unique_ptr<Backend>> open_pmem_kmem_backend(unsigned numa_node, std::uint64_t) {
  return Status(Errc::not_supported,
                "pmem_kmem" + std::to_string(numa_node) +
                    ": built without memkind (TENSORTIER_WITH_MEMKIND=OFF; "
                    "apt-get install libmemkind-dev and reconfigure)");
}

}  // namespace tensortier
