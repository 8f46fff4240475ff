// Moving the pages of a mapping elsewhere with mremap, without copying them:
// how the allocator keeps a block's pages when its storage changes (migration
// spares, freed PMem extents kept for reuse, pages recycled into new blocks).
// A range inside the allocator's reserved virtual range must never become a
// hole, even for a moment (another thread's kernel-chosen mapping could land
// in it): pages leave such a range with move_pages_out().
//
// A block whose pages were recycled from several freed blocks is several
// mappings side by side (its Pieces): one mremap moves pages within one
// mapping only (Linux before 6.17), so such a block's pages move piece by
// piece.
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

// The lengths of the consecutive mappings a range is made of, in order; empty
// for a range that is one mapping.
using Pieces = std::vector<std::size_t>;

// Pages moved out of their mapping, waiting for a new place.
struct HeldPages {
  void* addr;
  std::size_t bytes;
};

// Moves the pages at [addr, addr + bytes) (made of `pieces`) to
// kernel-chosen addresses, leaving empty mappings at addr
// (MREMAP_DONTUNMAP). Returns the pages' new places, one per piece in order;
// empty when the kernel cannot (MREMAP_DONTUNMAP needs Linux 5.13), with
// any piece already out moved back.
std::vector<HeldPages> move_pages_out(void* addr, std::size_t bytes, const Pieces& pieces,
                                      MoveOut how);

// Moves held pages into [dst, ...) in order (MREMAP_FIXED, replacing what is
// mapped there): back where move_pages_out() took them from, or an extent of
// several mappings into place (with pieces_at). False when one cannot move,
// with the ones already moved moved back (dst stays mapped).
bool move_pages_in(const std::vector<HeldPages>& held, void* dst);

// The consecutive mappings `pieces` at addr, as ranges for move_pages_in.
std::vector<HeldPages> pieces_at(void* addr, const Pieces& pieces);

// Moves the pages of a mapping outside the reserved range (a spare) to a
// kernel-chosen address; nullptr when mremap fails.
void* take_pages(void* addr, std::size_t bytes);

// Moves held pages into [dst, dst + bytes) in order (replacing what is mapped
// there) and leaves in `held` whatever is left of them, still mapped, for
// the caller to keep or unmap; `dst` nullptr: places nothing. Every held
// range but the one that completes dst goes in by whole 2 MiB (so huge pages
// stay whole; dst is 2 MiB aligned when that large). Returns the pieces dst
// is made of afterwards (empty: one mapping, as when one held range covers it
// or none is placed); a part no held range covers keeps dst's own pages.
Pieces place_pages(void* dst, std::size_t bytes, std::vector<HeldPages>& held);

}  // namespace tensortier::detail
