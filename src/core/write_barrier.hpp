// Write barrier for blocks being moved between tiers. While a block is copied
// its pages are read-only; a thread that writes to it faults, and the SIGSEGV
// handler makes it wait until the new mapping is in place, then lets the write
// retry there — no write is lost. Signals are process-wide, so the table of
// moving ranges is too (a fixed array of slots the handler reads without
// locks); faults outside every moving range go to the handler installed
// before ours.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tensortier/status.hpp"

namespace tensortier::detail {

class WriteBarrier {
 public:
  // Installs the SIGSEGV handler once per process; later calls are no-ops.
  static Status install();

  // Marks [addr, addr + bytes) as moving and makes it read-only. `faults`
  // counts the writers that had to wait. Returns the slot to pass to end();
  // -1 when every slot is busy (the caller retries later).
  static int begin(void* addr, std::size_t bytes, std::atomic<std::uint64_t>* faults);

  // The range is mapped anew (read-write): waiting writers resume.
  static void end(int slot);

  // How many moves can be in flight at once.
  static constexpr int kSlots = 64;

  // Transparent spilling: a fault in [begin, end) outside every moving range
  // calls resolve(context, addr) (a demoted, protected block touched again).
  // It returns true when the access can be retried. At most kRanges ranges.
  using Resolver = bool (*)(void* context, void* addr);
  static Status add_range(void* begin, std::size_t bytes, Resolver resolve, void* context);
  static void remove_range(void* begin);
  static constexpr int kRanges = 16;
};

}  // namespace tensortier::detail
