// The operation lock: every call into the tiers (an allocation, a free, a
// touch fault) holds it shared; fork() holds it exclusively from its prepare
// handler to the parent/child handlers, so the child never inherits the core
// half-way through an operation (its mutex held, a block half-moved). Reader
// preferring and re-entrant for readers (a thread inside an operation may
// fault and resolve the fault); the thread that holds it exclusively skips it
// (other fork handlers may allocate). Lock-free atomics: usable from the
// SIGSEGV handler.
#pragma once

#include <atomic>

namespace tensortier::preload {

class OpLock {
 public:
  void lock_shared() noexcept;
  void unlock_shared() noexcept { state_.fetch_sub(1, std::memory_order_release); }
  void lock() noexcept;
  void unlock() noexcept { state_.store(0, std::memory_order_release); }
  // In a fork child: only this thread exists, nobody holds it.
  void reset() noexcept { state_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<int> state_{0};  // > 0 readers, -1 writer
};

// Whether this thread holds the lock exclusively (between fork's handlers).
extern __thread bool t_holds_op_lock_exclusively __attribute__((tls_model("initial-exec")));

class SharedOpGuard {
 public:
  explicit SharedOpGuard(OpLock& lock) noexcept
      : lock_(t_holds_op_lock_exclusively ? nullptr : &lock) {
    if (lock_ != nullptr) lock_->lock_shared();
  }
  ~SharedOpGuard() {
    if (lock_ != nullptr) lock_->unlock_shared();
  }
  SharedOpGuard(const SharedOpGuard&) = delete;
  SharedOpGuard& operator=(const SharedOpGuard&) = delete;

 private:
  OpLock* lock_;
};

}  // namespace tensortier::preload
