#include "tensortier/backend.hpp"

namespace tensortier {

const char* tier_kind_name(TierKind kind) noexcept {
  switch (kind) {
    case TierKind::dram: return "dram";
    case TierKind::hbm: return "hbm";
    case TierKind::pmem_file: return "pmem_file";
    case TierKind::pmem_devdax: return "pmem_devdax";
    case TierKind::pmem_kmem: return "pmem_kmem";
  }
  // Only reachable through a cast from an out-of-range integer.
  return "unknown";
}

}  // namespace tensortier
