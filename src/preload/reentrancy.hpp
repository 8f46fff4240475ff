// "Inside tensortier" marker. The core allocates with malloc while holding its
// lock (std::map nodes, strings, hwloc and libpmem2 internals); a nested
// malloc that came back into the tiers would deadlock or recurse. While a
// thread runs tensortier code every allocation it makes goes to the system
// allocator. Initial-exec TLS: reading it never allocates and is
// async-signal-safe (the SIGSEGV path reads it too).
#pragma once

namespace tensortier::preload {

extern __thread int t_inside_depth __attribute__((tls_model("initial-exec")));

inline bool inside_tensortier() noexcept { return t_inside_depth > 0; }

class InsideGuard {
 public:
  InsideGuard() noexcept { ++t_inside_depth; }
  ~InsideGuard() { --t_inside_depth; }
  InsideGuard(const InsideGuard&) = delete;
  InsideGuard& operator=(const InsideGuard&) = delete;
};

}  // namespace tensortier::preload
