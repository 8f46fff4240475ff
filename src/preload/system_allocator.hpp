// The system allocator: the next definitions of the malloc family after this
// library (glibc's, or another preloaded allocator's), found with
// dlsym(RTLD_NEXT). The hot four are called through pointers that start out
// at bootstrap functions: the first call looks everything up and swaps the
// pointers; calls made before that has finished (dlsym itself may allocate,
// on this thread or another) are served by the bootstrap arena. So a small
// malloc costs one load and an indirect jump here, with no "ready?" test.
#pragma once

#include <atomic>
#include <cstddef>

#include "preload/bootstrap_allocator.hpp"

#define TT_HIDDEN __attribute__((visibility("hidden")))

namespace tensortier::preload {

// noexcept types: a call through them can be a tail jump from a noexcept caller.
struct HotFunctions {
  std::atomic<void* (*)(std::size_t) noexcept> malloc;
  std::atomic<void* (*)(std::size_t, std::size_t) noexcept> calloc;
  std::atomic<void* (*)(void*, std::size_t) noexcept> realloc;
  std::atomic<void (*)(void*) noexcept> free;
};
extern HotFunctions g_hot TT_HIDDEN;

// Looks the functions up once (the library constructor calls it early).
// False while that is in progress, on this thread or another, or when it failed.
bool resolve_system_functions() noexcept;

inline void* system_malloc(std::size_t bytes) noexcept {
  return g_hot.malloc.load(std::memory_order_relaxed)(bytes);
}
inline void* system_calloc(std::size_t count, std::size_t bytes) noexcept {
  return g_hot.calloc.load(std::memory_order_relaxed)(count, bytes);
}
inline void* system_realloc(void* ptr, std::size_t bytes) noexcept {
  return g_hot.realloc.load(std::memory_order_relaxed)(ptr, bytes);
}
// NULL and bootstrap pointers are nothing to free.
inline void system_free(void* ptr) noexcept {
  if (bootstrap::owns(ptr)) return;
  g_hot.free.load(std::memory_order_relaxed)(ptr);
}

// The rest of the family (pvalloc is memalign of whole pages: see entry_points.cpp).
int system_posix_memalign(void** out, std::size_t alignment, std::size_t bytes) noexcept;
void* system_aligned_alloc(std::size_t alignment, std::size_t bytes) noexcept;
void* system_memalign(std::size_t alignment, std::size_t bytes) noexcept;
void* system_valloc(std::size_t bytes) noexcept;
std::size_t system_usable_size(void* ptr) noexcept;

}  // namespace tensortier::preload
