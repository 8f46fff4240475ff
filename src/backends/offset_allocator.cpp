#include "backends/offset_allocator.hpp"

#include <algorithm>
#include <iterator>

namespace tensortier {

OffsetAllocator::OffsetAllocator(std::uint64_t capacity, std::uint64_t alignment)
    : alignment_(alignment == 0 ? 1 : alignment),
      capacity_(capacity / alignment_ * alignment_) {
  if (capacity_ > 0) free_.emplace(0, capacity_);
}

std::uint64_t OffsetAllocator::round_up(std::uint64_t bytes) const noexcept {
  const std::uint64_t units = bytes / alignment_ + (bytes % alignment_ != 0 ? 1 : 0);
  if (units > UINT64_MAX / alignment_) return 0;
  return units * alignment_;
}

std::optional<std::uint64_t> OffsetAllocator::allocate(std::uint64_t bytes) {
  const std::uint64_t size = round_up(bytes);
  if (size == 0) return std::nullopt;
  std::lock_guard lock(mutex_);
  for (auto it = free_.begin(); it != free_.end(); ++it) {
    if (it->second < size) continue;
    const std::uint64_t offset = it->first;
    const std::uint64_t rest = it->second - size;
    free_.erase(it);
    if (rest > 0) free_.emplace(offset + size, rest);
    allocated_.emplace(offset, size);
    used_.fetch_add(size, std::memory_order_relaxed);
    return offset;
  }
  return std::nullopt;
}

bool OffsetAllocator::release(std::uint64_t offset, std::uint64_t bytes) {
  const std::uint64_t size = round_up(bytes);
  std::lock_guard lock(mutex_);
  auto owned = allocated_.find(offset);
  if (owned == allocated_.end() || owned->second != size) return false;
  allocated_.erase(owned);
  used_.fetch_sub(size, std::memory_order_relaxed);

  // Merge with the free neighbours so that free ranges stay maximal: first
  // fit over maximal ranges is exactly "lowest offset that fits".
  std::uint64_t start = offset;
  std::uint64_t length = size;
  auto next = free_.lower_bound(offset);
  if (next != free_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == start) {
      start = prev->first;
      length += prev->second;
      free_.erase(prev);
    }
  }
  if (next != free_.end() && next->first == offset + size) {
    length += next->second;
    free_.erase(next);
  }
  free_.emplace(start, length);
  return true;
}

bool OffsetAllocator::is_allocated(std::uint64_t offset, std::uint64_t bytes) const {
  const std::uint64_t size = round_up(bytes);
  std::lock_guard lock(mutex_);
  auto owned = allocated_.find(offset);
  return owned != allocated_.end() && owned->second == size;
}

std::uint64_t OffsetAllocator::largest_free_bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t largest = 0;
  for (const auto& [offset, bytes] : free_) largest = std::max(largest, bytes);
  return largest;
}

std::size_t OffsetAllocator::free_range_count() const {
  std::lock_guard lock(mutex_);
  return free_.size();
}

}  // namespace tensortier
