// The interposed malloc family (the only symbols the library exports). Small
// requests take one compare and a tail call into the system allocator; the
// rest is routing.cpp. Semantics are glibc's: malloc(0) is a unique pointer
// (small, so the system allocator's), free(NULL) does nothing, realloc(p, 0)
// frees, posix_memalign returns EINVAL for a bad alignment and ENOMEM when
// full and leaves *out untouched on error.
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

#include "preload/bootstrap_allocator.hpp"
#include "preload/context.hpp"
#include "preload/fork_handling.hpp"
#include "preload/routing.hpp"
#include "preload/system_allocator.hpp"

using tensortier::preload::Attempt;
using tensortier::preload::Context;
namespace pl = tensortier::preload;
namespace bootstrap = tensortier::preload::bootstrap;

#define TT_EXPORT extern "C" __attribute__((visibility("default")))
#define TT_LIKELY(x) __builtin_expect(!!(x), 1)

namespace {

inline bool small(std::size_t bytes) { return bytes < Context::get().min_size(); }

inline bool is_power_of_two(std::size_t x) { return x != 0 && (x & (x - 1)) == 0; }

std::size_t page_bytes() {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// The large-request halves stay out of line, so the small paths compile to
// a compare and a tail jump.
__attribute__((noinline)) void* malloc_large(size_t bytes) noexcept {
  if (Attempt a = pl::tiers_allocate(bytes, 16, false); a.served) return a.ptr;
  return pl::system_malloc(bytes);
}

__attribute__((noinline)) void* calloc_large(size_t count, size_t bytes, size_t total) noexcept {
  if (Attempt a = pl::tiers_allocate(total, 16, true); a.served) return a.ptr;
  return pl::system_calloc(count, bytes);
}

}  // namespace

TT_EXPORT void* malloc(size_t bytes) noexcept {
  if (TT_LIKELY(small(bytes))) return pl::system_malloc(bytes);
  return malloc_large(bytes);
}

TT_EXPORT void free(void* ptr) noexcept {
  if (Context::get().manages(ptr)) return pl::tiers_free(ptr);
  pl::system_free(ptr);  // NULL and bootstrap pointers: nothing
}

TT_EXPORT void* calloc(size_t count, size_t bytes) noexcept {
  size_t total;
  if (__builtin_mul_overflow(count, bytes, &total) || TT_LIKELY(small(total)))
    return pl::system_calloc(count, bytes);  // the system reports the overflow
  return calloc_large(count, bytes, total);
}

TT_EXPORT void* realloc(void* ptr, size_t bytes) noexcept {
  if (ptr == nullptr) return malloc(bytes);
  Context& ctx = Context::get();
  if (ctx.manages(ptr)) return pl::tiers_realloc(ptr, bytes);
  if (bootstrap::owns(ptr)) {
    if (bytes == 0) return nullptr;  // freed (a no-op for the arena)
    void* moved = malloc(bytes);
    if (moved != nullptr) {
      const size_t old = bootstrap::usable_size(ptr);
      std::memcpy(moved, ptr, old < bytes ? old : bytes);
    }
    return moved;
  }
  if (TT_LIKELY(small(bytes))) return pl::system_realloc(ptr, bytes);
  return pl::realloc_into_tiers(ptr, bytes);
}

TT_EXPORT int posix_memalign(void** out, size_t alignment, size_t bytes) noexcept {
  if (!is_power_of_two(alignment) || alignment % sizeof(void*) != 0) return EINVAL;
  if (TT_LIKELY(small(bytes))) return pl::system_posix_memalign(out, alignment, bytes);
  const int saved_errno = errno;
  if (Attempt a = pl::tiers_allocate(bytes, alignment, false); a.served) {
    errno = saved_errno;  // posix_memalign reports through its result only
    if (a.ptr == nullptr) return ENOMEM;
    *out = a.ptr;
    return 0;
  }
  return pl::system_posix_memalign(out, alignment, bytes);
}

TT_EXPORT void* aligned_alloc(size_t alignment, size_t bytes) noexcept {
  if (TT_LIKELY(small(bytes)) || !is_power_of_two(alignment))
    return pl::system_aligned_alloc(alignment, bytes);
  if (Attempt a = pl::tiers_allocate(bytes, alignment, false); a.served) return a.ptr;
  return pl::system_aligned_alloc(alignment, bytes);
}

TT_EXPORT void* memalign(size_t alignment, size_t bytes) noexcept {
  if (TT_LIKELY(small(bytes)) || !is_power_of_two(alignment))
    return pl::system_memalign(alignment, bytes);
  if (Attempt a = pl::tiers_allocate(bytes, alignment, false); a.served) return a.ptr;
  return pl::system_memalign(alignment, bytes);
}

TT_EXPORT void* valloc(size_t bytes) noexcept {
  if (TT_LIKELY(small(bytes))) return pl::system_valloc(bytes);
  if (Attempt a = pl::tiers_allocate(bytes, page_bytes(), false); a.served) return a.ptr;
  return pl::system_valloc(bytes);
}

// glibc 2.36's own pvalloc rounds with -(pagesize - 1) and gives pvalloc(0)
// a 1-byte block; this one rounds up to whole pages as documented.
TT_EXPORT void* pvalloc(size_t bytes) noexcept {
  const size_t page = page_bytes();
  size_t rounded;
  if (__builtin_add_overflow(bytes, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded = rounded / page * page;
  if (rounded == 0) rounded = page;
  if (!TT_LIKELY(small(rounded)))
    if (Attempt a = pl::tiers_allocate(rounded, page, false); a.served) return a.ptr;
  return pl::system_memalign(page, rounded);
}

TT_EXPORT size_t malloc_usable_size(void* ptr) noexcept {
  if (Context::get().manages(ptr)) return pl::tiers_usable_size(ptr);
  return pl::system_usable_size(ptr);  // NULL: 0
}
