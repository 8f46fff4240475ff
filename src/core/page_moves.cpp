// mremap-based page moves (page_moves.hpp).
#include "core/page_moves.hpp"

#include <sys/mman.h>

#include <algorithm>

namespace tensortier::detail {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr int kDontUnmap = 4;  // MREMAP_DONTUNMAP; not in Debian 12's headers

void* move_to(void* from, std::size_t bytes, void* to) {
  void* out = mremap(from, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  return out == MAP_FAILED ? nullptr : out;
}

}  // namespace

std::vector<HeldPages> move_pages_out(void* addr, std::size_t bytes, const Pieces& pieces,
                                      MoveOut how) {
  if (how.guard_readers) mprotect(addr, bytes, PROT_NONE);
  const Pieces whole{bytes};
  std::vector<HeldPages> held;
  char* at = static_cast<char*>(addr);
  for (std::size_t len : pieces.empty() ? whole : pieces) {
    // glibc reads new_address from the varargs whenever FIXED or DONTUNMAP is
    // set: pass it, or the kernel sees a stray register and says EINVAL.
    void* out = mremap(at, len, len, MREMAP_MAYMOVE | kDontUnmap, nullptr);
    if (out == MAP_FAILED) {
      (void)move_pages_in(held, addr);
      return {};
    }
    held.push_back({out, len});
    at += len;
  }
  if (how.restore_write)
    for (const HeldPages& h : held) mprotect(h.addr, h.bytes, PROT_READ | PROT_WRITE);
  return held;
}

bool move_pages_in(const std::vector<HeldPages>& held, void* dst) {
  char* at = static_cast<char*>(dst);
  for (std::size_t k = 0; k < held.size(); at += held[k].bytes, ++k) {
    if (move_to(held[k].addr, held[k].bytes, at) != nullptr) continue;
    while (k-- > 0) {  // back, leaving dst mapped (no hole in the reserved range)
      at -= held[k].bytes;
      (void)mremap(at, held[k].bytes, held[k].bytes, MREMAP_MAYMOVE | MREMAP_FIXED | kDontUnmap,
                   held[k].addr);
    }
    return false;
  }
  return true;
}

std::vector<HeldPages> pieces_at(void* addr, const Pieces& pieces) {
  std::vector<HeldPages> ranges;
  char* at = static_cast<char*>(addr);
  for (std::size_t len : pieces) {
    ranges.push_back({at, len});
    at += len;
  }
  return ranges;
}

void* take_pages(void* addr, std::size_t bytes) {
  void* out = mremap(addr, bytes, bytes, MREMAP_MAYMOVE);
  return out == MAP_FAILED ? nullptr : out;
}

Pieces place_pages(void* dst, std::size_t bytes, std::vector<HeldPages>& held) {
  Pieces pieces;
  std::vector<HeldPages> left;
  std::size_t off = 0;
  for (const HeldPages& h : held) {
    std::size_t len = dst == nullptr ? 0 : std::min(bytes - off, h.bytes);
    if (off + len < bytes) len -= len % kHugePage;  // not the last: whole huge pages
    if (len > 0 && move_to(h.addr, len, static_cast<char*>(dst) + off) != nullptr) {
      pieces.push_back(len);
      off += len;
    } else {
      len = 0;
    }
    if (len < h.bytes) left.push_back({static_cast<char*>(h.addr) + len, h.bytes - len});
  }
  held = std::move(left);
  if (off < bytes && !pieces.empty()) pieces.push_back(bytes - off);  // dst's own pages
  if (pieces.size() == 1) pieces.clear();
  return pieces;
}

}  // namespace tensortier::detail
