// One interface over every memory source (DRAM NUMA node, file/devdax PMem
// through libpmem2, KMEM-DAX NUMA node through memkind). A backend hands out
// page-granular extents of backing storage mapped read-write at an address;
// the mapping of an extent can be moved to another address without copying, so
// the core can migrate a block between backends and keep its address stable:
//   dst.allocate(bytes) -> dst.copy_in(copy of the block) -> dst.move(ext, block_addr)
// (mremap MREMAP_FIXED replaces the source pages in one step). Between two
// NUMA-node backends (DRAM, HBM, KMEM-DAX) there is no copy at all:
//   dst.adopt(block's extent) -> src.release(extent with addr = nullptr)
// and the kernel migrates the pages in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "tensortier/config.hpp"
#include "tensortier/status.hpp"

namespace tensortier {

enum class TierKind { dram, hbm, pmem_file, pmem_devdax, pmem_kmem };

const char* tier_kind_name(TierKind kind) noexcept;

struct TierInfo {
  std::string name;         // unique and says the medium: "dram0", "pmem_file", "pmem_kmem2"
  TierKind kind = TierKind::dram;
  std::string medium;       // "anonymous", "fsdax", "emulated", "devdax", "kmem"
  int numa_node = -1;       // OS NUMA node; -1 for file-backed tiers
  std::uint64_t capacity_bytes = 0;   // storage this backend can hold
  std::size_t alignment_bytes = 0;    // extents are multiples of it and aligned to it
  std::string granularity;  // libpmem2 persistence granularity: "byte", "cache_line", "page";
                            // "none" for volatile memory
  std::string path;         // PMem file or device; "" otherwise
  bool persistent = false;  // copies into it are persisted
};

// A piece of backing storage and where it is mapped now.
struct Extent {
  void* addr = nullptr;       // current mapping; nullptr once the caller unmapped it
  std::size_t bytes = 0;      // multiple of TierInfo::alignment_bytes
  std::uint64_t offset = 0;   // backend-private (file offset for file PMem)
};

struct AllocateOptions {
  void* at = nullptr;     // map here with MAP_FIXED (aligned); nullptr: the backend picks
  bool populate = false;  // pre-fault the pages (MAP_POPULATE or equivalent)
};

class Backend {
 public:
  virtual ~Backend() = default;
  Backend() = default;
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  virtual const TierInfo& info() const noexcept = 0;

  // Bytes of storage currently handed out (after rounding to alignment).
  virtual std::uint64_t used_bytes() const noexcept = 0;

  // New storage of at least `bytes`, rounded up to alignment_bytes, mapped
  // read-write. Big extents (>= 2 MiB) of anonymous memory are 2 MiB aligned.
  // Out of storage (ENOSPC, ENOMEM, capacity) is Errc::no_space, with nothing
  // left allocated. Thread-safe.
  virtual Result<Extent> allocate(std::size_t bytes, const AllocateOptions& options = {}) = 0;

  // Moves the mapping of `extent` to `to` (page aligned), replacing whatever is
  // mapped there, without copying; updates extent.addr. Thread-safe.
  virtual Status move(Extent& extent, void* to) = 0;

  // Frees the storage and unmaps extent.addr when it is non-null (callers that
  // already replaced the mapping set addr to nullptr first). File storage is
  // punched out. Thread-safe; never fails.
  virtual void release(Extent& extent) noexcept = 0;

  // Takes over `extent`, another NUMA-node backend's anonymous storage mapped
  // at extent.addr, by migrating its pages onto this backend's node where
  // they are (mbind MPOL_MF_MOVE): the address and the content stay, no byte
  // is copied through user space, and writers may keep writing meanwhile
  // (the kernel holds a page's accesses while it moves). Charged to this
  // backend's budget; the source then releases its extent with addr = nullptr.
  // Errc::not_supported for storage that is not NUMA-node memory (file PMem,
  // devdax) or without libnuma; Errc::no_space over the budget; an error when
  // the kernel could not move every page (pages shared with another process
  // after fork) — the caller then copies instead.
  virtual Result<Extent> adopt(const Extent& extent) {
    (void)extent;
    return Status(Errc::not_supported,
                  info().name + ": cannot take over another tier's pages in place");
  }

  // Copies `bytes` from src into the extent at `offset` with the medium's best
  // copy (libpmem2 memcpy with NOFLUSH, then one persist at the end for PMem
  // when `persist` is Persist::yes). The tiering core uses PMem as volatile
  // capacity and skips the persist: an msync per migration only costs.
  enum class Persist { yes, no };
  virtual Status copy_in(const Extent& dst, std::size_t offset, const void* src,
                         std::size_t bytes, Persist persist) = 0;
  Status copy_in(const Extent& dst, std::size_t offset, const void* src, std::size_t bytes) {
    return copy_in(dst, offset, src, bytes, Persist::yes);
  }
};

// DRAM: anonymous memory bound to one NUMA node (libnuma mbind; the _none twin
// leaves it unbound). capacity_bytes is the budget the caller gives.
Result<std::unique_ptr<Backend>> open_dram_backend(int numa_node, std::uint64_t capacity_bytes,
                                                   TierKind kind = TierKind::dram);

// File PMem through libpmem2: a file of `size_bytes` created in `dir` (FS-DAX if
// the filesystem supports it, emulated otherwise; unlinked right after creation
// when `remove_at_exit`); or, when spec.path is an existing regular file, that
// file in place (its size or the first size_bytes; never truncated, punched or
// removed); or, with spec.scheme == devdax, the device itself.
Result<std::unique_ptr<Backend>> open_pmem_file_backend(const PmemSpec& spec, bool remove_at_exit);

// KMEM-DAX PMem: an NVM NUMA node, checked with memkind (MEMKIND_DAX_KMEM must
// be available) and bound like DRAM so pages can be rebound in place.
// Errc::not_supported with the reason when the machine has no KMEM-DAX memory
// or memkind is absent.
Result<std::unique_ptr<Backend>> open_pmem_kmem_backend(unsigned numa_node,
                                                        std::uint64_t capacity_bytes);

// Whether each optional library was compiled in (false in the _none twins).
bool dram_numa_binding_supported() noexcept;
bool pmem_file_supported() noexcept;
bool pmem_kmem_supported() noexcept;

}  // namespace tensortier
