// DRAM (and HBM, and KMEM-DAX through pmem_kmem.cpp): anonymous memory bound
// to one NUMA node. Extents are private anonymous mappings, so moving one is a
// plain mremap and releasing it a munmap; the budget is tracked here because
// the kernel will happily overcommit (MAP_NORESERVE) far past it.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>

#include "backends/dram.hpp"
#include "backends/numa_bind.hpp"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14; older glibc headers lack the name
#endif

namespace tensortier {
namespace detail {
namespace {

// Transparent huge pages are 2 MiB on x86-64 and the default arm64 granule.
constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

std::size_t page_bytes() noexcept {
  static const auto bytes = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return bytes;
}

bool is_aligned(const void* p, std::size_t alignment) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) % alignment == 0;
}

std::size_t round_up(std::size_t n, std::size_t alignment) noexcept {
  return (n + alignment - 1) / alignment * alignment;
}

Status errno_status(const std::string& what, int err) {
  const std::string message = what + ": " + std::strerror(err);
  switch (err) {
    case ENOMEM: return Status(Errc::no_space, message);
    case EINVAL: return Status(Errc::invalid_argument, message);
    default: return Status(Errc::io_error, message);
  }
}

// Faults every page in writable. Done after the NUMA policy is set: with
// MAP_POPULATE the pages would fault in before mbind, on the wrong node.
Status populate(void* addr, std::size_t bytes) {
  if (madvise(addr, bytes, MADV_POPULATE_WRITE) == 0) return Status::ok();
  const int err = errno;
  if (err != EINVAL) return errno_status("pre-faulting (MADV_POPULATE_WRITE)", err);
  // Kernels before 5.14: one write per page. The mapping is fresh, so the
  // pages hold zeros and writing a zero changes nothing.
  volatile char* bytes_ptr = static_cast<volatile char*>(addr);
  for (std::size_t off = 0; off < bytes; off += page_bytes()) bytes_ptr[off] = 0;
  return Status::ok();
}

class AnonymousBackend final : public Backend {
 public:
  explicit AnonymousBackend(TierInfo info) : info_(std::move(info)) {}

  const TierInfo& info() const noexcept override { return info_; }

  std::uint64_t used_bytes() const noexcept override {
    return used_.load(std::memory_order_relaxed);
  }

  Result<Extent> allocate(std::size_t bytes, const AllocateOptions& options) override {
    if (bytes == 0) return Status(Errc::invalid_argument, info_.name + ": cannot allocate 0 bytes");
    if (options.at != nullptr && !is_aligned(options.at, page_bytes())) {
      return Status(Errc::invalid_argument,
                    info_.name + ": allocate at " + address_text(options.at) +
                        ": the address must be aligned to the page size (" +
                        std::to_string(page_bytes()) + " bytes)");
    }
    // Checked before rounding so that rounding (and over-mapping) cannot overflow.
    if (bytes > info_.capacity_bytes ||
        bytes > std::numeric_limits<std::size_t>::max() - 2 * kHugePageBytes) {
      return over_budget(bytes);
    }
    const std::size_t rounded = round_up(bytes, page_bytes());
    if (!charge(rounded)) return over_budget(rounded);

    Result<void*> mapped = map(rounded, options.at);
    if (!mapped) {
      uncharge(rounded);
      return mapped.status().with_context(info_.name + ": allocating " + std::to_string(rounded) +
                                          " bytes");
    }
    void* const addr = *mapped;
    Status prepared = numa_bind_range(addr, rounded, info_.numa_node);
    if (prepared) {
      // Advice only: EINVAL just means THP is compiled out.
      if (rounded >= kHugePageBytes) (void)madvise(addr, rounded, MADV_HUGEPAGE);
      if (options.populate) prepared = populate(addr, rounded);
    }
    if (!prepared) {
      unmap_after_failure(addr, rounded, options.at != nullptr);
      uncharge(rounded);
      return prepared.with_context(info_.name);
    }
    return Extent{addr, rounded, 0};
  }

  Status move(Extent& extent, void* to) override {
    if (extent.addr == nullptr) {
      return Status(Errc::invalid_argument, info_.name + ": move: the extent is not mapped");
    }
    if (to == nullptr || !is_aligned(to, page_bytes())) {
      return Status(Errc::invalid_argument, info_.name + ": move to " + address_text(to) +
                                                ": the target must be a non-null page-aligned "
                                                "address");
    }
    if (to == extent.addr) return Status::ok();
    void* const moved = mremap(extent.addr, extent.bytes, extent.bytes,
                               MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (moved == MAP_FAILED) {
      // EINVAL here is almost always overlapping source and target ranges.
      return errno_status(info_.name + ": move (mremap) of " + std::to_string(extent.bytes) +
                              " bytes from " + address_text(extent.addr) + " to " +
                              address_text(to),
                          errno);
    }
    extent.addr = moved;
    return Status::ok();
  }

  void release(Extent& extent) noexcept override {
    if (extent.addr != nullptr) (void)munmap(extent.addr, extent.bytes);
    extent.addr = nullptr;
    uncharge(extent.bytes);
  }

  Result<Extent> adopt(const Extent& extent) override {
    if (extent.addr == nullptr || !is_aligned(extent.addr, page_bytes()) ||
        extent.bytes % page_bytes() != 0) {
      return Status(Errc::invalid_argument,
                    info_.name + ": adopt: the extent must be mapped and page aligned");
    }
    if (!charge(extent.bytes)) return over_budget(extent.bytes);
    if (Status moved = numa_move_range_to_node(extent.addr, extent.bytes, info_.numa_node);
        !moved) {
      uncharge(extent.bytes);
      return moved.with_context(info_.name + ": adopt");
    }
    return Extent{extent.addr, extent.bytes, 0};
  }

  using Backend::copy_in;
  // Volatile memory: nothing to persist.
  Status copy_in(const Extent& dst, std::size_t offset, const void* src, std::size_t bytes,
                 Persist) override {
    if (dst.addr == nullptr) {
      return Status(Errc::invalid_argument, info_.name + ": copy_in: the extent is not mapped");
    }
    if (offset > dst.bytes || bytes > dst.bytes - offset) {
      return Status(Errc::invalid_argument,
                    info_.name + ": copy_in of " + std::to_string(bytes) + " bytes at offset " +
                        std::to_string(offset) + " overruns the extent of " +
                        std::to_string(dst.bytes) + " bytes");
    }
    if (bytes == 0) return Status::ok();
    if (src == nullptr) {
      return Status(Errc::invalid_argument, info_.name + ": copy_in from a null source");
    }
    std::memcpy(static_cast<char*>(dst.addr) + offset, src, bytes);
    return Status::ok();
  }

 private:
  static std::string address_text(const void* p) {
    char text[2 + 2 * sizeof(void*) + 1];
    std::snprintf(text, sizeof text, "%p", p);
    return text;
  }

  Status over_budget(std::size_t bytes) const {
    return Status(Errc::no_space, info_.name + ": cannot allocate " + std::to_string(bytes) +
                                      " bytes: " + std::to_string(used_bytes()) + " of the " +
                                      std::to_string(info_.capacity_bytes) +
                                      "-byte budget are in use");
  }

  // Reserves `bytes` of the budget; false when they do not fit. Invariant:
  // used_ <= capacity_bytes, so the subtraction below cannot wrap.
  bool charge(std::size_t bytes) noexcept {
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (bytes > info_.capacity_bytes - used) return false;
    } while (!used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed));
    return true;
  }

  // Clamped at zero: a double release by a caller must not wrap the counter.
  void uncharge(std::size_t bytes) noexcept {
    std::uint64_t used = used_.load(std::memory_order_relaxed);
    while (!used_.compare_exchange_weak(used, used >= bytes ? used - bytes : 0,
                                        std::memory_order_relaxed)) {
    }
  }

  // A page-aligned anonymous mapping; at `at` when given, else 2 MiB aligned
  // when big enough for huge pages (over-mapped by 2 MiB, then trimmed).
  static Result<void*> map(std::size_t bytes, void* at) {
    constexpr int kProt = PROT_READ | PROT_WRITE;
    constexpr int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    if (at != nullptr) {
      void* const p = mmap(at, bytes, kProt, kFlags | MAP_FIXED, -1, 0);
      if (p == MAP_FAILED) return errno_status("mmap at " + address_text(at), errno);
      return p;
    }
    if (bytes < kHugePageBytes) {
      void* const p = mmap(nullptr, bytes, kProt, kFlags, -1, 0);
      if (p == MAP_FAILED) return errno_status("mmap", errno);
      return p;
    }
    const std::size_t span = bytes + kHugePageBytes - page_bytes();
    void* const raw = mmap(nullptr, span, kProt, kFlags, -1, 0);
    if (raw == MAP_FAILED) return errno_status("mmap", errno);
    const auto raw_addr = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t start = (raw_addr + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
    const std::size_t head = start - raw_addr;
    const std::size_t tail = span - head - bytes;
    if (head != 0) (void)munmap(raw, head);
    if (tail != 0) (void)munmap(reinterpret_cast<void*>(start + bytes), tail);
    return reinterpret_cast<void*>(start);
  }

  // Undoes map() when binding or pre-faulting failed. A MAP_FIXED extent sat
  // in the caller's reserved range: put an inaccessible reservation back
  // instead of leaving a hole another mmap could take.
  static void unmap_after_failure(void* addr, std::size_t bytes, bool fixed) noexcept {
    constexpr int kReserveFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED;
    if (fixed && mmap(addr, bytes, PROT_NONE, kReserveFlags, -1, 0) != MAP_FAILED) return;
    (void)munmap(addr, bytes);
  }

  const TierInfo info_;
  std::atomic<std::uint64_t> used_{0};
};

}  // namespace

Result<std::unique_ptr<Backend>> open_anonymous_backend(AnonymousBackendSpec spec) {
  if (spec.capacity_bytes == 0) {
    return Status(Errc::invalid_argument,
                  spec.name + ": the capacity (budget) must be at least one page, got 0 bytes");
  }
  if (Status node = numa_check_node(spec.numa_node); !node) return node.with_context(spec.name);
  TierInfo info;
  info.name = std::move(spec.name);
  info.kind = spec.kind;
  info.medium = std::move(spec.medium);
  info.numa_node = spec.numa_node;
  info.capacity_bytes = spec.capacity_bytes;
  info.alignment_bytes = page_bytes();
  info.granularity = "none";
  info.path = "";
  info.persistent = false;
  return std::unique_ptr<Backend>(std::make_unique<AnonymousBackend>(std::move(info)));
}

}  // namespace detail

Result<std::unique_ptr<Backend>> open_dram_backend(int numa_node, std::uint64_t capacity_bytes,
                                                   TierKind kind) {
  if (kind != TierKind::dram && kind != TierKind::hbm) {
    return Status(Errc::invalid_argument, std::string("open_dram_backend: tier kind '") +
                                              tier_kind_name(kind) +
                                              "' is not a DRAM kind (accepted: dram, hbm)");
  }
  detail::AnonymousBackendSpec spec;
  spec.numa_node = numa_node;
  spec.capacity_bytes = capacity_bytes;
  spec.kind = kind;
  spec.name = tier_kind_name(kind) + std::to_string(numa_node);
  spec.medium = "anonymous";
  return detail::open_anonymous_backend(std::move(spec));
}

}  // namespace tensortier
