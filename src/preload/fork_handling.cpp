#include "preload/fork_handling.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "preload/context.hpp"
#include "preload/reentrancy.hpp"

namespace tensortier::preload {
namespace {

void prepare() {
  Context::get().op_lock().lock();  // waits for operations (and a creation) in flight
  t_holds_op_lock_exclusively = true;
}

void parent() {
  t_holds_op_lock_exclusively = false;
  Context::get().op_lock().unlock();
}

struct Mapping {
  std::uintptr_t begin = 0, end = 0;
  int prot = 0;
  bool shared = false;
};

// Parses one /proc/self/maps line: "begin-end rwsp offset dev inode path".
bool parse_line(const char* line, Mapping& m) {
  char* p = nullptr;
  m.begin = std::strtoull(line, &p, 16);
  if (*p != '-') return false;
  m.end = std::strtoull(p + 1, &p, 16);
  if (*p != ' ' || std::strlen(p) < 5) return false;
  m.prot = (p[1] == 'r' ? PROT_READ : 0) | (p[2] == 'w' ? PROT_WRITE : 0) |
           (p[3] == 'x' ? PROT_EXEC : 0);
  m.shared = p[4] == 's';
  return true;
}

// Calls visit(mapping) for each mapping of the process; stops when it returns false.
template <typename Visit>
void for_each_mapping(Visit visit) {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[8192];
  std::size_t have = 0;
  for (;;) {
    const ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) break;
    have += static_cast<std::size_t>(n);
    buf[have] = '\0';
    char* line = buf;
    char* nl;
    bool more = true;
    while (more && (nl = std::strchr(line, '\n')) != nullptr) {
      *nl = '\0';
      Mapping m;
      if (parse_line(line, m)) more = visit(m);
      line = nl + 1;
    }
    if (!more) break;
    have = static_cast<std::size_t>(buf + have - line);
    std::memmove(buf, line, have);
    if (have == sizeof buf - 1) have = 0;  // a line longer than the buffer: drop it
  }
  close(fd);
}

// Replaces a shared file mapping by a private copy at the same address.
bool privatize(const Mapping& m) {
  void* addr = reinterpret_cast<void*>(m.begin);
  const std::size_t bytes = m.end - m.begin;
  if (!(m.prot & PROT_READ) && mprotect(addr, bytes, PROT_READ) != 0) return false;
  void* copy = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (copy == MAP_FAILED) return false;
  std::memcpy(copy, addr, bytes);
  if (mremap(copy, bytes, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, addr) == MAP_FAILED) {
    munmap(copy, bytes);
    return false;
  }
  return true;
}

// Makes every inherited block private and unguarded (see the header).
void detach_from_tiers(Allocator& allocator) {
  // Privatizing changes the maps being read: collect a batch, then act, and
  // rescan until a scan finds nothing left to do.
  constexpr int kBatch = 256;
  for (int round = 0; round < 1000; ++round) {
    Mapping batch[kBatch];
    int count = 0;
    for_each_mapping([&](const Mapping& m) {
      if (!allocator.owns(reinterpret_cast<const void*>(m.begin))) return true;
      if (m.shared) {
        batch[count++] = m;  // a PMem extent (the only shared mappings in the range)
      } else if (m.prot == 0 && allocator.tier_of(reinterpret_cast<const void*>(m.begin)) >= 0) {
        batch[count++] = m;  // a guarded anonymous block (KMEM-DAX tier)
      }
      return count < kBatch;
    });
    if (count == 0) return;
    int done = 0;
    for (int i = 0; i < count; ++i) {
      const Mapping& m = batch[i];
      if (m.shared ? privatize(m)
                   : mprotect(reinterpret_cast<void*>(m.begin), m.end - m.begin,
                              PROT_READ | PROT_WRITE) == 0)
        ++done;
    }
    if (done == 0) {
      Context::report("fork child: cannot copy the blocks held in PMem into private memory; "
                      "the child shares them with its parent");
      return;
    }
  }
}

void child() {
  t_holds_op_lock_exclusively = false;
  Context& ctx = Context::get();
  ctx.op_lock().reset();
  const int state = ctx.state();
  if (state == Context::kUnset || state == Context::kUntiered) return;  // nothing inherited
  // kCreating: the creating thread is gone with its half-made tiers.
  ctx.mark_forked_child();
  if (Allocator* a = ctx.existing_allocator()) {
    InsideGuard inside;
    detach_from_tiers(*a);
  }
}

}  // namespace

void register_fork_handlers() noexcept { pthread_atfork(&prepare, &parent, &child); }

void release_inherited_block(void* ptr) noexcept {
  Allocator* a = Context::get().existing_allocator();
  if (a == nullptr) return;
  InsideGuard inside;
  std::size_t bytes = 0;
  try {
    bytes = a->block_bytes(ptr);  // the core's table, read only
  } catch (...) {
  }
  // The parent's mapping is not ours to touch; dropping the child's copy frees its memory.
  if (bytes > 0)
    mmap(ptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

}  // namespace tensortier::preload
