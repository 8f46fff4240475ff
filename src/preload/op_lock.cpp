#include "preload/op_lock.hpp"

#include <sched.h>

namespace tensortier::preload {

__thread bool t_holds_op_lock_exclusively = false;

void OpLock::lock_shared() noexcept {
  int s = state_.load(std::memory_order_relaxed);
  for (;;) {
    if (s >= 0) {
      if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) return;
      continue;
    }
    sched_yield();  // a fork is in progress; it ends soon
    s = state_.load(std::memory_order_relaxed);
  }
}

void OpLock::lock() noexcept {
  for (;;) {
    int expected = 0;
    if (state_.compare_exchange_weak(expected, -1, std::memory_order_acquire)) return;
    sched_yield();  // operations in flight finish first
  }
}

}  // namespace tensortier::preload
