// Managed-size routing: which allocations the tiers serve and how a pointer
// finds its way back. An allocation goes to the tiers when it is at least
// TENSORTIER_MIN_SIZE, its alignment is a power of two up to 2 MiB and the
// tiers are available (created, not a fork child, not a nested allocation of
// tensortier itself); everything else goes to the system allocator. A pointer
// belongs to the tiers when it lies in their virtual range (a range test), to
// the bootstrap arena when it lies in that, and otherwise to the system.
//
// When the tiers serve a request and no tier has room, the result is ENOMEM:
// falling back to the system allocator would silently break the DRAM limit.
#pragma once

#include <cstddef>

namespace tensortier::preload {

inline constexpr std::size_t kMaxManagedAlignment = std::size_t{2} << 20;

struct Attempt {
  void* ptr = nullptr;  // the block, or nullptr with errno = ENOMEM (no tier has room)
  bool served = false;  // false: not for the tiers, the caller asks the system allocator
};

// A block of the tiers; `zeroed` for calloc (a reused cached block is dirty).
Attempt tiers_allocate(std::size_t bytes, std::size_t alignment, bool zeroed) noexcept;

// Pointers of the tiers (Context::manages() is true).
void tiers_free(void* ptr) noexcept;
std::size_t tiers_usable_size(void* ptr) noexcept;
void* tiers_realloc(void* ptr, std::size_t bytes) noexcept;

// realloc() of a system pointer to a size the tiers would serve.
void* realloc_into_tiers(void* ptr, std::size_t bytes) noexcept;

}  // namespace tensortier::preload
