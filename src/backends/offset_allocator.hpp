// First-fit allocator of [offset, offset + bytes) ranges inside [0, capacity):
// the file PMem backend carves its file (or device) into extents with it.
// Free ranges are kept coalesced, so first fit means "the lowest offset where
// the request fits". Thread-safe; O(free ranges) per call, which stays small
// because extents are big (tensors, not objects).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

namespace tensortier {

class OffsetAllocator {
 public:
  // Ranges are multiples of `alignment` and start at multiples of it; the
  // capacity is rounded down to it. An alignment of 0 is taken as 1.
  OffsetAllocator(std::uint64_t capacity, std::uint64_t alignment);

  OffsetAllocator(const OffsetAllocator&) = delete;
  OffsetAllocator& operator=(const OffsetAllocator&) = delete;

  // The lowest offset of a free range of `bytes` rounded up to the alignment;
  // nullopt when no free range is big enough or bytes == 0.
  std::optional<std::uint64_t> allocate(std::uint64_t bytes);

  // Gives back a range returned by allocate() (same offset, same bytes before
  // or after rounding). Returns false, changing nothing, for a range that is
  // not currently allocated (double free, wrong size), so callers can report it.
  bool release(std::uint64_t offset, std::uint64_t bytes);

  // Whether exactly this range is allocated now, so a caller can check a range
  // before it destroys the storage behind it.
  bool is_allocated(std::uint64_t offset, std::uint64_t bytes) const;

  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint64_t alignment() const noexcept { return alignment_; }
  // `bytes` rounded up to the alignment; 0 on overflow.
  std::uint64_t round_up(std::uint64_t bytes) const noexcept;

  // Lock-free so that Backend::used_bytes() can stay noexcept and cheap.
  std::uint64_t used_bytes() const noexcept { return used_.load(std::memory_order_relaxed); }
  std::uint64_t largest_free_bytes() const;
  std::size_t free_range_count() const;

 private:
  const std::uint64_t alignment_;
  const std::uint64_t capacity_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, std::uint64_t> free_;       // offset -> bytes, never adjacent
  std::map<std::uint64_t, std::uint64_t> allocated_;  // offset -> bytes (rounded)
  std::atomic<std::uint64_t> used_{0};
};

}  // namespace tensortier
