#include "preload/routing.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "preload/context.hpp"
#include "preload/fork_handling.hpp"
#include "preload/reentrancy.hpp"
#include "preload/system_allocator.hpp"

namespace tensortier::preload {
namespace {

// A free()/realloc() of a pointer in the range that is no live block's start
// (double free, interior pointer). glibc would abort; the library reports the
// first few and carries on.
void report_bad_pointer(const char* call, const Status& status) noexcept {
  static std::atomic<int> reported{0};
  if (reported.fetch_add(1, std::memory_order_relaxed) >= 8) return;
  try {
    Context::report(std::string(call) + ": " + status.message() + " (ignored)");
  } catch (...) {
  }
}

// calloc: fresh extents are zero, but a block reused from the DRAM cache is
// not. Pinned meanwhile, so no migration copies the dirty pages elsewhere.
void zero_block(Allocator& allocator, void* ptr, std::size_t bytes) {
  const bool pinned = static_cast<bool>(allocator.pin(ptr));
  const int tier = allocator.tier_of(ptr);
  const TierKind kind = tier >= 0 ? allocator.tiers()[tier].kind : TierKind::pmem_file;
  // Anonymous DRAM: dropping the pages makes them read as zero and costs
  // nothing for a fresh block. File PMem keeps its contents: write zeros.
  const bool anonymous = kind == TierKind::dram || kind == TierKind::hbm;
  if (!(pinned && anonymous && madvise(ptr, allocator.block_bytes(ptr), MADV_DONTNEED) == 0))
    std::memset(ptr, 0, bytes);
  if (pinned) allocator.unpin(ptr);
}

}  // namespace

Attempt tiers_allocate(std::size_t bytes, std::size_t alignment, bool zeroed) noexcept {
  if (alignment > kMaxManagedAlignment || (alignment & (alignment - 1)) != 0 ||
      inside_tensortier())
    return {};
  Context& ctx = Context::get();
  if (bytes < ctx.min_size()) return {};
  Allocator* allocator = ctx.allocator();
  if (allocator == nullptr) return {};
  const int saved_errno = errno;
  InsideGuard inside;
  SharedOpGuard op(ctx.op_lock());
  try {
    auto block = allocator->try_allocate(bytes, alignment < 16 ? 16 : alignment);
    if (!block) {
      errno = ENOMEM;  // no tier has room, or a size no tier can ever hold
      return {nullptr, true};
    }
    ctx.note_managed(*block);
    if (zeroed) zero_block(*allocator, *block, bytes);
    errno = saved_errno;
    return {*block, true};
  } catch (...) {
    errno = ENOMEM;
    return {nullptr, true};
  }
}

void tiers_free(void* ptr) noexcept {
  Context& ctx = Context::get();
  const int saved_errno = errno;  // free() keeps errno (POSIX 2024, glibc >= 2.33)
  if (ctx.forked_child()) {
    release_inherited_block(ptr);
  } else if (Allocator* allocator = ctx.existing_allocator()) {
    InsideGuard inside;
    SharedOpGuard op(ctx.op_lock());
    try {
      if (Status s = allocator->deallocate(ptr); !s) report_bad_pointer("free()", s);
    } catch (...) {
    }
  }
  errno = saved_errno;
}

std::size_t tiers_usable_size(void* ptr) noexcept {
  Allocator* allocator = Context::get().existing_allocator();
  if (allocator == nullptr) return 0;
  InsideGuard inside;
  SharedOpGuard op(Context::get().op_lock());
  try {
    return allocator->block_bytes(ptr);  // read only: also in a fork child
  } catch (...) {
    return 0;
  }
}

void* tiers_realloc(void* ptr, std::size_t bytes) noexcept {
  if (bytes == 0) {  // glibc: realloc(p, 0) frees p and returns NULL
    tiers_free(ptr);
    return nullptr;
  }
  const std::size_t old_bytes = tiers_usable_size(ptr);
  if (old_bytes == 0) {
    report_bad_pointer("realloc()",
                       Status(Errc::invalid_argument, "pointer is not the start of a live block"));
    errno = ENOMEM;
    return nullptr;
  }
  // In place while the block stays at least half used.
  if (bytes <= old_bytes && bytes >= old_bytes / 2 && bytes >= Context::get().min_size())
    return ptr;
  void* moved;
  if (Attempt attempt = tiers_allocate(bytes, 16, false); attempt.served) {
    if (attempt.ptr == nullptr) return nullptr;  // ENOMEM, ptr untouched
    moved = attempt.ptr;
  } else {
    moved = system_malloc(bytes);
    if (moved == nullptr) return nullptr;
  }
  // A demoted source faults here and is promoted (or read in place): no lock is held.
  std::memcpy(moved, ptr, old_bytes < bytes ? old_bytes : bytes);
  tiers_free(ptr);
  return moved;
}

void* realloc_into_tiers(void* ptr, std::size_t bytes) noexcept {
  const Attempt attempt = tiers_allocate(bytes, 16, false);
  if (!attempt.served) return system_realloc(ptr, bytes);
  if (attempt.ptr == nullptr) return nullptr;  // ENOMEM, ptr untouched
  const std::size_t old_bytes = system_usable_size(ptr);
  std::memcpy(attempt.ptr, ptr, old_bytes < bytes ? old_bytes : bytes);
  system_free(ptr);
  return attempt.ptr;
}

}  // namespace tensortier::preload
