#include "preload/system_allocator.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "preload/bootstrap_allocator.hpp"

namespace tensortier::preload {

SystemFunctions g_system;
std::atomic<bool> g_system_ready{false};

namespace {

std::atomic<int> g_lookup_state{0};  // 0 not started, 1 running, 2 done, 3 failed

template <typename F>
bool lookup(F& slot, const char* name) {
  slot = reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
  return slot != nullptr;
}

void write_line(const char* text) {
  const ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

std::size_t page_bytes() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

}  // namespace

const SystemFunctions* resolve_system_functions() noexcept {
  int expected = 0;
  if (!g_lookup_state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel))
    return g_lookup_state.load(std::memory_order_acquire) == 2 ? &g_system : nullptr;
  // Allocations dlsym makes meanwhile are served by the bootstrap arena.
  SystemFunctions found;
  bool ok = lookup(found.malloc, "malloc") && lookup(found.calloc, "calloc") &&
            lookup(found.realloc, "realloc") && lookup(found.free, "free") &&
            lookup(found.posix_memalign, "posix_memalign") &&
            lookup(found.malloc_usable_size, "malloc_usable_size");
  // Optional in other C libraries; emulated with posix_memalign when absent.
  lookup(found.aligned_alloc, "aligned_alloc");
  lookup(found.memalign, "memalign");
  lookup(found.valloc, "valloc");
  lookup(found.pvalloc, "pvalloc");
  if (!ok) {
    write_line("tensortier: cannot find the system malloc (dlsym RTLD_NEXT); "
               "allocations are served from a 1 MiB bootstrap arena\n");
    g_lookup_state.store(3, std::memory_order_release);
    return nullptr;
  }
  g_system = found;
  g_system_ready.store(true, std::memory_order_release);
  g_lookup_state.store(2, std::memory_order_release);
  return &g_system;
}

void* system_malloc(std::size_t bytes) noexcept {
  if (const SystemFunctions* s = system_functions()) return s->malloc(bytes);
  void* p = bootstrap::allocate(bytes == 0 ? 1 : bytes, 16);
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* system_calloc(std::size_t count, std::size_t bytes) noexcept {
  if (const SystemFunctions* s = system_functions()) return s->calloc(count, bytes);
  std::size_t total;
  if (__builtin_mul_overflow(count, bytes, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  void* p = bootstrap::allocate(total == 0 ? 1 : total, 16);  // never reused: zero
  if (p == nullptr) errno = ENOMEM;
  return p;
}

void* system_realloc(void* ptr, std::size_t bytes) noexcept {
  if (const SystemFunctions* s = system_functions()) return s->realloc(ptr, bytes);
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

void system_free(void* ptr) noexcept {
  if (ptr == nullptr || bootstrap::owns(ptr)) return;
  if (const SystemFunctions* s = system_functions()) s->free(ptr);
}

int system_posix_memalign(void** out, std::size_t alignment, std::size_t bytes) noexcept {
  if (const SystemFunctions* s = system_functions()) return s->posix_memalign(out, alignment, bytes);
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
  const SystemFunctions* s = system_functions();
  if (s != nullptr && s->aligned_alloc != nullptr) return s->aligned_alloc(alignment, bytes);
  return aligned_fallback(alignment, bytes);
}

void* system_memalign(std::size_t alignment, std::size_t bytes) noexcept {
  const SystemFunctions* s = system_functions();
  if (s != nullptr && s->memalign != nullptr) return s->memalign(alignment, bytes);
  return aligned_fallback(alignment, bytes);
}

void* system_valloc(std::size_t bytes) noexcept {
  const SystemFunctions* s = system_functions();
  if (s != nullptr && s->valloc != nullptr) return s->valloc(bytes);
  return aligned_fallback(page_bytes(), bytes);
}

void* system_pvalloc(std::size_t bytes) noexcept {
  const SystemFunctions* s = system_functions();
  if (s != nullptr && s->pvalloc != nullptr) return s->pvalloc(bytes);
  const std::size_t page = page_bytes();
  std::size_t rounded;
  if (__builtin_add_overflow(bytes, page - 1, &rounded)) {
    errno = ENOMEM;
    return nullptr;
  }
  rounded = rounded / page * page;
  return aligned_fallback(page, rounded == 0 ? page : rounded);
}

std::size_t system_usable_size(void* ptr) noexcept {
  if (ptr == nullptr) return 0;
  if (bootstrap::owns(ptr)) return bootstrap::usable_size(ptr);
  if (const SystemFunctions* s = system_functions()) return s->malloc_usable_size(ptr);
  return 0;
}

}  // namespace tensortier::preload
