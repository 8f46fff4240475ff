// mremap-based page moves (page_moves.hpp).
#include "core/page_moves.hpp"

#include <sys/mman.h>

#include <algorithm>

namespace tensortier::detail {

void* move_pages_out(void* addr, std::size_t bytes, MoveOut how) {
  constexpr int kDontUnmap = 4;  // MREMAP_DONTUNMAP; not in Debian 12's headers
  if (how.guard_readers) mprotect(addr, bytes, PROT_NONE);
  // glibc reads new_address from the varargs whenever FIXED or DONTUNMAP is
  // set: pass it, or the kernel sees a stray register and says EINVAL.
  void* out = mremap(addr, bytes, bytes, MREMAP_MAYMOVE | kDontUnmap, nullptr);
  if (out == MAP_FAILED) return nullptr;
  if (how.restore_write) mprotect(out, bytes, PROT_READ | PROT_WRITE);
  return out;
}

void* take_pages(void* addr, std::size_t bytes) {
  void* out = mremap(addr, bytes, bytes, MREMAP_MAYMOVE);
  return out == MAP_FAILED ? nullptr : out;
}

void place_pages(void* dst, std::size_t bytes, std::vector<HeldPages>& held) {
  std::size_t off = 0;
  for (HeldPages& h : held) {
    const std::size_t len = dst == nullptr ? 0 : std::min(bytes - off, h.bytes);
    if (len > 0 && mremap(h.addr, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
                          static_cast<char*>(dst) + off) != MAP_FAILED)
      off += len;
    else if (len > 0)
      (void)munmap(h.addr, len);
    if (len < h.bytes) (void)munmap(static_cast<char*>(h.addr) + len, h.bytes - len);
  }
  held.clear();
}

}  // namespace tensortier::detail
