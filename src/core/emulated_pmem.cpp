#include "core/emulated_pmem.hpp"

#include <algorithm>

namespace tensortier::detail {

namespace {

using Clock = EmulatedPmem::Clock;

Clock::duration of(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// Migrations ended this long before a new one are of no further use: no op
// lasts that long between its start and the end of its traffic.
constexpr std::chrono::seconds kHistory{60};

}  // namespace

Clock::time_point EmulatedPmem::migrate(Clock::time_point start, double seconds) {
  std::lock_guard lock(mutex_);
  const Clock::time_point begin = busy_.empty() ? start : std::max(start, busy_.back().second);
  const Clock::time_point end = begin + of(seconds);
  busy_.emplace_back(begin, end);
  while (!busy_.empty() && busy_.front().second + kHistory < begin) busy_.pop_front();
  return end;
}

Clock::time_point EmulatedPmem::in_place(Clock::time_point start, double seconds) {
  std::lock_guard lock(mutex_);
  // done = start + seconds + the migration time within [start, done]: grows
  // with each migration it reaches, so walk them in order.
  // They do not overlap, so their ends are in order too: skip to the first
  // that ends after `start`.
  Clock::time_point done = start + of(seconds);
  auto it = std::partition_point(busy_.begin(), busy_.end(),
                                 [&](const auto& b) { return b.second <= start; });
  for (; it != busy_.end() && it->first < done; ++it) done += it->second - std::max(it->first, start);
  return done;
}

}  // namespace tensortier::detail
