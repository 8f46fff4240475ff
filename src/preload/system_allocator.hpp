// The system allocator: the next definitions of the malloc family after this
// library (glibc's, or another preloaded allocator's), found with
// dlsym(RTLD_NEXT). Until the lookup has finished (and during it: dlsym may
// allocate) calls are served by the bootstrap arena.
#pragma once

#include <atomic>
#include <cstddef>

namespace tensortier::preload {

struct SystemFunctions {
  void* (*malloc)(std::size_t) = nullptr;
  void* (*calloc)(std::size_t, std::size_t) = nullptr;
  void* (*realloc)(void*, std::size_t) = nullptr;
  void (*free)(void*) = nullptr;
  int (*posix_memalign)(void**, std::size_t, std::size_t) = nullptr;
  void* (*aligned_alloc)(std::size_t, std::size_t) = nullptr;
  void* (*memalign)(std::size_t, std::size_t) = nullptr;
  void* (*valloc)(std::size_t) = nullptr;
  void* (*pvalloc)(std::size_t) = nullptr;
  std::size_t (*malloc_usable_size)(void*) = nullptr;
};

extern SystemFunctions g_system;
extern std::atomic<bool> g_system_ready;

// Looks the functions up once; nullptr while that is in progress (on this
// thread or another) or when it failed.
const SystemFunctions* resolve_system_functions() noexcept;

inline const SystemFunctions* system_functions() noexcept {
  if (__builtin_expect(g_system_ready.load(std::memory_order_acquire), 1)) return &g_system;
  return resolve_system_functions();
}

// The malloc family of the system allocator, with the bootstrap fallback.
void* system_malloc(std::size_t bytes) noexcept;
void* system_calloc(std::size_t count, std::size_t bytes) noexcept;
void* system_realloc(void* ptr, std::size_t bytes) noexcept;
void system_free(void* ptr) noexcept;
int system_posix_memalign(void** out, std::size_t alignment, std::size_t bytes) noexcept;
void* system_aligned_alloc(std::size_t alignment, std::size_t bytes) noexcept;
void* system_memalign(std::size_t alignment, std::size_t bytes) noexcept;
void* system_valloc(std::size_t bytes) noexcept;
void* system_pvalloc(std::size_t bytes) noexcept;
std::size_t system_usable_size(void* ptr) noexcept;

}  // namespace tensortier::preload
