// The file PMem backend when libpmem2 is switched off at build time: every
// open reports how to get it, so a PMem spec fails cleanly instead of silently
// falling back to DRAM.
#include "tensortier/backend.hpp"

namespace tensortier {

Result<std::unique_ptr<Backend>> open_pmem_file_backend(const PmemSpec& /*spec*/,
                                                        bool /*remove_at_exit*/) {
  return Status(Errc::not_supported,
                "built without libpmem2 (TENSORTIER_WITH_PMEM2=OFF; apt-get install libpmem2-dev)");
}

bool pmem_file_supported() noexcept { return false; }

}  // namespace tensortier
