// The process-wide context of the LD_PRELOAD library. An LD_PRELOAD library
// has no caller to hand it a context, so there is exactly one, explicit: it is
// constant-initialized (usable by the first malloc, before any constructor
// ran), never destroyed (free() keeps working in other libraries' destructors
// and in threads still running at exit), and it creates the tiered allocator
// lazily, on the first allocation of at least TENSORTIER_MIN_SIZE.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "preload/op_lock.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::preload {

class Context {
 public:
  static Context& get() noexcept { return instance_; }

  // Reads the TENSORTIER_* variables once (the library constructor; or the
  // first large allocation when it comes before the constructor). Reports
  // nothing: a bad value is reported when the tiers would be created.
  void configure() noexcept;

  // Allocations of at least this many bytes are managed (TENSORTIER_MIN_SIZE).
  std::size_t min_size() const noexcept { return min_size_.load(std::memory_order_relaxed); }

  // The allocator, created by the first call. nullptr — use the system
  // allocator — while it is being created (by this thread or another), when
  // the process runs untiered (a bad configuration, tiers that cannot be
  // opened: reported once on stderr), in the fork child of a tiered process,
  // and when called from inside tensortier.
  Allocator* allocator() noexcept;

  // The allocator if it exists, without creating it (also in a fork child).
  Allocator* existing_allocator() const noexcept {
    return state_.load(std::memory_order_acquire) == kReady ? allocator_ : nullptr;
  }

  // Whether ptr lies in the allocator's virtual range: the pointer came from
  // the tiers. Two loads and a compare: free() of a small block pays this.
  bool manages(const void* ptr) const noexcept {
    // bytes first (acquire, a plain load on x86): when it is set, so is begin.
    const std::uintptr_t bytes = range_bytes_.load(std::memory_order_acquire);
    return reinterpret_cast<std::uintptr_t>(ptr) - range_begin_.load(std::memory_order_relaxed) <
           bytes;
  }
  // Learns the virtual range from a managed pointer (before it is handed out).
  void note_managed(const void* ptr) noexcept {
    if (range_bytes_.load(std::memory_order_relaxed) == 0) learn_range(ptr);
  }

  OpLock& op_lock() noexcept { return op_lock_; }

  // fork(): the child of a tiered process runs untiered (see fork_handling).
  bool forked_child() const noexcept { return forked_child_.load(std::memory_order_relaxed); }
  void mark_forked_child() noexcept;

  // TENSORTIER_STATS at exit; nothing in a fork child or when no tiers were created.
  void write_stats_at_exit() noexcept;

  // One line on stderr, prefixed "tensortier: ".
  static void report(const std::string& message) noexcept;

  static constexpr int kUnset = 0, kCreating = 1, kReady = 2, kUntiered = 3;
  int state() const noexcept { return state_.load(std::memory_order_acquire); }

 private:
  constexpr Context() = default;
  static Context instance_;  // constinit: see context.cpp
  Allocator* create() noexcept;
  void learn_range(const void* inside) noexcept;

  std::atomic<int> state_{kUnset};
  std::atomic<int> config_state_{0};  // 0 not read, 1 reading, 2 read
  std::atomic<std::size_t> min_size_{std::size_t{1} << 20};
  Allocator* allocator_ = nullptr;                 // published by state_ == kReady
  AllocatorOptions* options_ = nullptr;            // parsed configuration, or
  std::string* config_error_ = nullptr;            // why it is bad
  std::string* stats_path_ = nullptr;              // TENSORTIER_STATS ("" off)
  std::atomic<std::uintptr_t> range_begin_{0};
  std::atomic<std::uintptr_t> range_bytes_{0};
  std::atomic<bool> forked_child_{false};
  OpLock op_lock_;
};

}  // namespace tensortier::preload
