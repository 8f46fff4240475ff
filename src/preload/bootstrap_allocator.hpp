// Bootstrap allocator: serves the allocations made before the system
// allocator is found (dlsym(RTLD_NEXT) itself may calloc, and ld.so or other
// constructors may call malloc before ours ran). A static bump arena: never
// reused, so its memory is zero until handed out (calloc), and free of one of
// its pointers is a no-op.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tensortier::preload::bootstrap {

inline constexpr std::size_t kArenaBytes = std::size_t{1} << 20;
extern unsigned char g_arena[kArenaBytes] __attribute__((visibility("hidden")));

// Zeroed memory of `bytes` aligned to `alignment` (a power of two, at most
// 4 KiB; larger is clamped); nullptr when the arena is exhausted.
void* allocate(std::size_t bytes, std::size_t alignment) noexcept;

inline bool owns(const void* ptr) noexcept {
  return reinterpret_cast<std::uintptr_t>(ptr) - reinterpret_cast<std::uintptr_t>(g_arena) <
         kArenaBytes;
}

// The size requested for a pointer of the arena.
std::size_t usable_size(const void* ptr) noexcept;

}  // namespace tensortier::preload::bootstrap
