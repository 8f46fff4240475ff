#include "preload/bootstrap_allocator.hpp"

#include <atomic>

namespace tensortier::preload::bootstrap {

alignas(4096) unsigned char g_arena[kArenaBytes];

namespace {

std::atomic<std::size_t> g_used{0};
constexpr std::size_t kHeader = 16;  // the requested size, right before the pointer

}  // namespace

void* allocate(std::size_t bytes, std::size_t alignment) noexcept {
  if (alignment < kHeader) alignment = kHeader;
  if (alignment > 4096) alignment = 4096;
  if (bytes > kArenaBytes) return nullptr;
  std::size_t used = g_used.load(std::memory_order_relaxed);
  for (;;) {
    const std::size_t start = (used + kHeader + alignment - 1) / alignment * alignment;
    const std::size_t end = start + bytes;
    if (end > kArenaBytes) return nullptr;
    if (g_used.compare_exchange_weak(used, end, std::memory_order_relaxed)) {
      *reinterpret_cast<std::size_t*>(g_arena + start - kHeader) = bytes;
      return g_arena + start;
    }
  }
}

std::size_t usable_size(const void* ptr) noexcept {
  return *reinterpret_cast<const std::size_t*>(static_cast<const unsigned char*>(ptr) - kHeader);
}

}  // namespace tensortier::preload::bootstrap
