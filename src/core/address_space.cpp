#include "core/address_space.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tensortier::detail {
namespace {

std::size_t page_bytes() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

constexpr int kReserveFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;

}  // namespace

AddressSpace::AddressSpace(std::uintptr_t base, std::uint64_t bytes)
    : base_(base),
      bytes_(bytes),
      small_bytes_(bytes / 2 / kHugePageBytes * kHugePageBytes),
      small_(small_bytes_, page_bytes()),
      big_(bytes - small_bytes_, kHugePageBytes) {}

Result<std::unique_ptr<AddressSpace>> AddressSpace::reserve(std::uint64_t bytes) {
  bytes = (bytes + 2 * kHugePageBytes - 1) / (2 * kHugePageBytes) * (2 * kHugePageBytes);
  // Over-reserve by one huge page so the base can be 2 MiB aligned.
  void* raw = mmap(nullptr, bytes + kHugePageBytes, PROT_NONE, kReserveFlags, -1, 0);
  if (raw == MAP_FAILED)
    return Result<std::unique_ptr<AddressSpace>>(
        Errc::no_space, "cannot reserve " + std::to_string(bytes) +
                            " bytes of virtual address space: " + std::strerror(errno));
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t base = (start + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  if (base > start) munmap(raw, base - start);
  const std::uintptr_t tail = start + bytes + kHugePageBytes - (base + bytes);
  if (tail > 0) munmap(reinterpret_cast<void*>(base + bytes), tail);
  return std::unique_ptr<AddressSpace>(new AddressSpace(base, bytes));
}

AddressSpace::~AddressSpace() { munmap(reinterpret_cast<void*>(base_), bytes_); }

AddressSpace::Range AddressSpace::allocate(std::size_t bytes, std::size_t alignment) {
  const bool big = bytes >= kHugePageBytes || alignment > page_bytes();
  if (big) {
    if (auto offset = big_.allocate(bytes))
      return {reinterpret_cast<void*>(base_ + small_bytes_ + *offset), static_cast<std::size_t>(big_.round_up(bytes))};
    return {};
  }
  if (auto offset = small_.allocate(bytes))
    return {reinterpret_cast<void*>(base_ + *offset), static_cast<std::size_t>(small_.round_up(bytes))};
  return {};
}

void AddressSpace::release(const Range& range) {
  const auto p = reinterpret_cast<std::uintptr_t>(range.addr) - base_;
  if (p >= small_bytes_)
    big_.release(p - small_bytes_, range.bytes);
  else
    small_.release(p, range.bytes);
}

Status AddressSpace::reset(void* addr, std::size_t bytes) {
  if (mmap(addr, bytes, PROT_NONE, kReserveFlags | MAP_FIXED, -1, 0) == MAP_FAILED)
    return Status(Errc::internal,
                  std::string("cannot restore the address reservation: ") + std::strerror(errno));
  return Status::ok();
}

}  // namespace tensortier::detail
