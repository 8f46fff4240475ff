// Chrome trace-event recorder (opens in ui.perfetto.dev and chrome://tracing):
// a counter track of bytes per tier and a slice per migration.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "tensortier/status.hpp"

namespace tensortier::detail {

class TraceRecorder {
 public:
  explicit TraceRecorder(bool enabled) : enabled_(enabled), start_(Clock::now()) {}
  bool enabled() const noexcept { return enabled_; }

  // Microseconds since the recorder started.
  double now_us() const;
  void counter(const std::string& tier, std::uint64_t bytes);
  void migration(const std::string& from, const std::string& to, std::uint64_t bytes,
                 double start_us, double end_us, std::uintptr_t addr);
  Status write(const std::string& path) const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Event {
    char phase;  // 'C' counter, 'X' complete slice
    std::string name;
    double ts_us;
    double dur_us;
    std::uint64_t value;
    std::string from, to;
    std::uintptr_t addr;
  };
  const bool enabled_;
  const Clock::time_point start_;
  mutable std::mutex mutex_;
  std::vector<Event> events_;
};

}  // namespace tensortier::detail
