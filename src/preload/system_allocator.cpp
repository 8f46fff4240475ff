#include "preload/system_allocator.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

namespace tensortier::preload {
namespace {

void* boot_malloc(std::size_t bytes) noexcept;
void* boot_calloc(std::size_t count, std::size_t bytes) noexcept;
void* boot_realloc(void* ptr, std::size_t bytes) noexcept;
void boot_free(void* ptr) noexcept;

struct ColdFunctions {
  int (*posix_memalign)(void**, std::size_t, std::size_t) = nullptr;
  void* (*aligned_alloc)(std::size_t, std::size_t) = nullptr;
  void* (*memalign)(std::size_t, std::size_t) = nullptr;
  void* (*valloc)(std::size_t) = nullptr;
  std::size_t (*malloc_usable_size)(void*) = nullptr;
};
ColdFunctions g_cold;  // published by g_lookup_state == kDone
constexpr int kNotStarted = 0, kRunning = 1, kDone = 2, kFailed = 3;
std::atomic<int> g_lookup_state{kNotStarted};

template <typename F>
bool lookup(F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  return slot != nullptr;
}

std::size_t page_bytes() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

bool resolved() { return g_lookup_state.load(std::memory_order_acquire) == kDone; }

void* boot_malloc(std::size_t bytes) noexcept {
  if (resolve_system_functions()) return system_malloc(bytes);
  void* p = bootstrap::allocate(bytes == 0 ? 1 : bytes, 16);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* boot_calloc(std::size_t count, std::size_t bytes) noexcept {
  if (resolve_system_functions()) return system_calloc(count, bytes);
  std::size_t total;
  if (__builtin_mul_overflow(count, bytes, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = bootstrap::allocate(total == 0 ? 1 : total, 16);  // never reused: zero
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* boot_realloc(void* ptr, std::size_t bytes) noexcept {
  if (resolve_system_functions()) return system_realloc(ptr, bytes);
  void* p = bootstrap::allocate(bytes == 0 ? 1 : bytes, 16);
  if (p == nullptr) {
    errno = ENOMEM;
    return nullptr;
  }
  // Before the lookup only bootstrap pointers can exist.
  if (ptr != nullptr && bootstrap::owns(ptr)) {
    const std::size_t old = bootstrap::usable_size(ptr);
    std::memcpy(p, ptr, old < bytes ? old : bytes);
  }
  return p;
}

void boot_free(void* ptr) noexcept {
  // Before the lookup only bootstrap pointers (and NULL) can exist.
  if (resolve_system_functions()) system_free(ptr);
}

}  // namespace

HotFunctions g_hot{{&boot_malloc}, {&boot_calloc}, {&boot_realloc}, {&boot_free}};

bool resolve_system_functions() noexcept {
  int expected = kNotStarted;
  if (!g_lookup_state.compare_exchange_strong(expected, kRunning, std::memory_order_acq_rel))
    return expected == kDone;
  // Allocations dlsym makes meanwhile are served by the bootstrap arena.
  void* (*found_malloc)(std::size_t) noexcept = nullptr;
  void* (*found_calloc)(std::size_t, std::size_t) noexcept = nullptr;
  void* (*found_realloc)(void*, std::size_t) noexcept = nullptr;
  void (*found_free)(void*) noexcept = nullptr;
  ColdFunctions cold;
  const bool ok = lookup(found_malloc, "malloc") && lookup(found_calloc, "calloc") &&
                  lookup(found_realloc, "realloc") && lookup(found_free, "free") &&
                  lookup(cold.posix_memalign, "posix_memalign") &&
                  lookup(cold.malloc_usable_size, "malloc_usable_size");
  // Optional in other C libraries; emulated with posix_memalign when absent.
  lookup(cold.aligned_alloc, "aligned_alloc");
  lookup(cold.memalign, "memalign");
  lookup(cold.valloc, "valloc");
  if (!ok) {
    const char* text =
        "tensortier: cannot find the system malloc (dlsym RTLD_NEXT); allocations are served "
        "from a 1 MiB bootstrap arena\n";
    const ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
    (void)ignored;
    g_lookup_state.store(kFailed, std::memory_order_release);
    return false;
  }
  g_cold = cold;
  g_lookup_state.store(kDone, std::memory_order_release);
  g_hot.malloc.store(found_malloc, std::memory_order_relaxed);
  g_hot.calloc.store(found_calloc, std::memory_order_relaxed);
  g_hot.realloc.store(found_realloc, std::memory_order_relaxed);
  g_hot.free.store(found_free, std::memory_order_relaxed);
  return true;
}

int system_posix_memalign(void** out, std::size_t alignment, std::size_t bytes) noexcept {
  if (resolved() || resolve_system_functions()) return g_cold.posix_memalign(out, alignment, bytes);
  void* p = bootstrap::allocate(bytes == 0 ? 1 : bytes, alignment);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}

namespace {

// memalign-style fallback through posix_memalign: a non power of two is
// rounded up, as glibc does.
void* aligned_fallback(std::size_t alignment, std::size_t bytes) noexcept {
  std::size_t a = sizeof(void*);
  while (a < alignment && a != 0) a <<= 1;
  if (a == 0) {
    errno = EINVAL;
    return nullptr;
  }
  void* p = nullptr;
  if (const int rc = system_posix_memalign(&p, a, bytes); rc != 0) {
    errno = rc;
    return nullptr;
  }
  return p;
}

}  // namespace

void* system_aligned_alloc(std::size_t alignment, std::size_t bytes) noexcept {
  if (resolved() && g_cold.aligned_alloc != nullptr) return g_cold.aligned_alloc(alignment, bytes);
  return aligned_fallback(alignment, bytes);
}

void* system_memalign(std::size_t alignment, std::size_t bytes) noexcept {
  if (resolved() && g_cold.memalign != nullptr) return g_cold.memalign(alignment, bytes);
  return aligned_fallback(alignment, bytes);
}

void* system_valloc(std::size_t bytes) noexcept {
  if (resolved() && g_cold.valloc != nullptr) return g_cold.valloc(bytes);
  return aligned_fallback(page_bytes(), bytes);
}

std::size_t system_usable_size(void* ptr) noexcept {
  if (ptr == nullptr) return 0;
  if (bootstrap::owns(ptr)) return bootstrap::usable_size(ptr);
  if (resolved() || resolve_system_functions()) return g_cold.malloc_usable_size(ptr);
  return 0;
}

}  // namespace tensortier::preload
