// The one virtual range every managed block lives in. Reserved PROT_NONE up
// front (no memory, MAP_NORESERVE), carved into block addresses: a small-block
// region at page granularity and a big-block region at 2 MiB granularity (so
// big blocks can use transparent huge pages). Backends map storage over parts
// of it with MAP_FIXED; a freed block's part is reset to PROT_NONE in one step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "backends/offset_allocator.hpp"
#include "tensortier/status.hpp"

namespace tensortier::detail {

inline constexpr std::size_t kHugePageBytes = 2u << 20;

class AddressSpace {
 public:
  // Reserves `bytes` (split evenly between the two regions).
  static Result<std::unique_ptr<AddressSpace>> reserve(std::uint64_t bytes);
  ~AddressSpace();
  AddressSpace(const AddressSpace&) = delete;
  AddressSpace& operator=(const AddressSpace&) = delete;

  // Address range for a block of `bytes` (already page rounded) aligned to
  // `alignment` (<= 2 MiB). Returns the start and the reserved length (>= bytes);
  // nullptr when the range is exhausted.
  struct Range {
    void* addr = nullptr;
    std::size_t bytes = 0;
  };
  Range allocate(std::size_t bytes, std::size_t alignment);
  // Gives a range back; its pages must already be reset (reset()).
  void release(const Range& range);
  // Drops whatever is mapped at [addr, addr+bytes) and restores the PROT_NONE
  // reservation atomically (no window in which another mmap could take it).
  static Status reset(void* addr, std::size_t bytes);

  bool contains(const void* ptr) const noexcept {
    const auto p = reinterpret_cast<std::uintptr_t>(ptr);
    return p >= base_ && p < base_ + bytes_;
  }
  std::uintptr_t base() const noexcept { return base_; }
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  AddressSpace(std::uintptr_t base, std::uint64_t bytes);
  std::uintptr_t base_;
  std::uint64_t bytes_;
  std::uint64_t small_bytes_;  // [base, base+small) small blocks; the rest big blocks
  OffsetAllocator small_;
  OffsetAllocator big_;
};

}  // namespace tensortier::detail
