#include "core/trace.hpp"

#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

namespace tensortier::detail {

double TraceRecorder::now_us() const {
  return std::chrono::duration<double, std::micro>(Clock::now() - start_).count();
}

void TraceRecorder::counter(const std::string& tier, std::uint64_t bytes) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  events_.push_back({'C', tier, now_us(), 0, bytes, {}, {}, 0});
}

void TraceRecorder::migration(const std::string& from, const std::string& to,
                              std::uint64_t bytes, double start_us, double end_us,
                              std::uintptr_t addr) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  events_.push_back({'X', from + " -> " + to, start_us, end_us - start_us, bytes, from, to, addr});
}

Status TraceRecorder::write(const std::string& path) const {
  if (!enabled_)
    return Status(Errc::invalid_argument, "no trace recorded: create the allocator with record_trace");
  nlohmann::json events = nlohmann::json::array();
  const int pid = static_cast<int>(getpid());
  events.push_back({{"ph", "M"}, {"pid", pid}, {"name", "process_name"},
                    {"args", {{"name", "tensortier"}}}});
  std::lock_guard lock(mutex_);
  for (const Event& e : events_) {
    if (e.phase == 'C') {
      events.push_back({{"ph", "C"}, {"pid", pid}, {"name", "bytes " + e.name}, {"ts", e.ts_us},
                        {"args", {{"bytes", e.value}}}});
    } else {
      char addr[32];
      std::snprintf(addr, sizeof addr, "0x%lx", static_cast<unsigned long>(e.addr));
      events.push_back({{"ph", "X"}, {"pid", pid}, {"tid", 1}, {"name", e.name},
                        {"cat", "migration"}, {"ts", e.ts_us}, {"dur", e.dur_us},
                        {"args", {{"bytes", e.value}, {"from", e.from}, {"to", e.to}, {"addr", addr}}}});
    }
  }
  std::ofstream out(path);
  out << nlohmann::json{{"traceEvents", events}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  out.close();
  if (!out) return Status(Errc::io_error, "cannot write trace to '" + path + "'");
  return Status::ok();
}

}  // namespace tensortier::detail
