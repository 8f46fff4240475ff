// Moving the pages of a mapping elsewhere with mremap, without copying them:
// how the allocator keeps a block's pages when its storage changes (migration
// spares, freed PMem extents kept for reuse, pages recycled into new blocks).
// A range inside the allocator's reserved virtual range must never become a
// hole, even for a moment (another thread's kernel-chosen mapping could land
// in it): pages leave such a range with move_pages_out().
#pragma once

#include <cstddef>
#include <vector>

namespace tensortier::detail {

// How pages leave a range of the reserved virtual range.
struct MoveOut {
  // A live block's anonymous pages behind the write barrier: once they are
  // out, the range left behind reads as zero-filled pages (mremap(2)), so it
  // is PROT_NONE meanwhile and readers wait at the barrier for the new
  // storage. Not needed for a freed block (nobody reads it) nor for a shared
  // file mapping (the range left behind still maps the file: readers read
  // the same data). Each mprotect walks every page table entry of the range.
  bool guard_readers = false;
  // The pages carry the barrier's PROT_READ: make them writable again.
  bool restore_write = false;
};

// Moves the pages at [addr, addr + bytes) (one mapping) to a kernel-chosen
// address, leaving an empty mapping at addr (MREMAP_DONTUNMAP). Returns the
// pages' new address, nullptr when the kernel cannot (MREMAP_DONTUNMAP needs
// Linux 5.13).
void* move_pages_out(void* addr, std::size_t bytes, MoveOut how);

// Pages moved out of their mapping, waiting for a new place.
struct HeldPages {
  void* addr;
  std::size_t bytes;
};

// Moves the pages of a mapping outside the reserved range (a spare) to a
// kernel-chosen address; nullptr when mremap fails.
void* take_pages(void* addr, std::size_t bytes);

// Moves held pages into [dst, dst + bytes) in order (replacing what is mapped
// there) and unmaps whatever is left of them; `dst` nullptr: just unmaps.
// With one held range at least `bytes` long, dst stays a single mapping.
void place_pages(void* dst, std::size_t bytes, std::vector<HeldPages>& held);

}  // namespace tensortier::detail
