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
      move_pages_back(held, addr);
      return {};
    }
    held.push_back({out, len});
    at += len;
  }
  if (how.restore_write)
    for (const HeldPages& h : held) mprotect(h.addr, h.bytes, PROT_READ | PROT_WRITE);
  return held;
}

void move_pages_back(const std::vector<HeldPages>& held, void* dst) {
  char* at = static_cast<char*>(dst);
  for (const HeldPages& h : held) {
    (void)move_to(h.addr, h.bytes, at);
    at += h.bytes;
  }
}

bool move_pieces(void* from, const Pieces& pieces, void* to) {
  std::size_t off = 0;
  for (std::size_t k = 0; k < pieces.size(); off += pieces[k], ++k) {
    if (move_to(static_cast<char*>(from) + off, pieces[k], static_cast<char*>(to) + off) != nullptr)
      continue;
    while (k-- > 0) {  // back, leaving `to` mapped (no hole in the reserved range)
      off -= pieces[k];
      (void)mremap(static_cast<char*>(to) + off, pieces[k], pieces[k],
                   MREMAP_MAYMOVE | MREMAP_FIXED | kDontUnmap, static_cast<char*>(from) + off);
    }
    return false;
  }
  return true;
}

void* take_pages(void* addr, std::size_t bytes) {
  void* out = mremap(addr, bytes, bytes, MREMAP_MAYMOVE);
  return out == MAP_FAILED ? nullptr : out;
}

Pieces place_pages(void* dst, std::size_t bytes, std::vector<HeldPages>& held) {
  Pieces pieces;
  std::size_t off = 0;
  for (HeldPages& h : held) {
    std::size_t len = dst == nullptr ? 0 : std::min(bytes - off, h.bytes);
    if (off + len < bytes) len -= len % kHugePage;  // not the last: whole huge pages
    if (len > 0 && move_to(h.addr, len, static_cast<char*>(dst) + off) != nullptr) {
      pieces.push_back(len);
      off += len;
    } else if (len > 0) {
      (void)munmap(h.addr, len);
    }
    if (len < h.bytes) (void)munmap(static_cast<char*>(h.addr) + len, h.bytes - len);
  }
  held.clear();
  if (off < bytes && !pieces.empty()) pieces.push_back(bytes - off);  // dst's own pages
  if (pieces.size() == 1) pieces.clear();
  return pieces;
}

}  // namespace tensortier::detail
