// The emulated Optane DIMMs' time (AllocatorOptions::throttle): one device
// carries both the migrations the allocator copies and the traffic of ops
// that use PMem in place, so neither gets the DIMMs' bandwidth while the
// other uses it.
//
// Migrations go first: each takes the device from the later of its start
// and the end of the previous one. An op's in-place traffic, known when the
// op ends, takes what the migrations left: it is done `seconds` of device
// time after its start plus the migration time that overlapped it. The op
// thus waits for the contention (the compute's cost is what the emulation
// must not understate), while the mover's copies keep their pace.
#pragma once

#include <chrono>
#include <deque>
#include <mutex>
#include <utility>

namespace tensortier::detail {

class EmulatedPmem {
 public:
  using Clock = std::chrono::steady_clock;

  // A migration of `seconds` of device time wanting to start at `start`:
  // when it is done.
  Clock::time_point migrate(Clock::time_point start, double seconds);
  // In-place traffic of `seconds` of device time that began at `start`:
  // when it is done, after the migrations in between.
  Clock::time_point in_place(Clock::time_point start, double seconds);

 private:
  std::mutex mutex_;
  // Migrations' device time, in order (they do not overlap); the ones that
  // ended long ago are dropped.
  std::deque<std::pair<Clock::time_point, Clock::time_point>> busy_;
};

}  // namespace tensortier::detail
