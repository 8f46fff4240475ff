#include "core/write_barrier.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <mutex>

namespace tensortier::detail {
namespace {

struct Slot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 moving
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<std::atomic<std::uint64_t>*> faults{nullptr};
};

Slot g_slots[WriteBarrier::kSlots];

struct RangeSlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled or removed, 2 active
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
  std::atomic<WriteBarrier::Resolver> resolve{nullptr};
  std::atomic<void*> context{nullptr};
};
RangeSlot g_ranges[WriteBarrier::kRanges];

// Moves that ended recently. A writer can fault on a moving block's read-only
// pages and reach on_segv only after the move has ended and its slot was
// cleared (preempted in between, or simply slower than the mover). Its fault
// matches no slot, yet it is not the program's: the access succeeds on the new
// mapping. Without this record such a fault was chained to the previous
// handler (SIG_DFL: our handler was uninstalled and the next barrier fault
// killed the process; under ASan: a bogus SEGV report). end() records the
// range here before it clears the slot, so a handler that finds the slot
// cleared finds the record. The ring only has to outlive a handler's latency.
struct EndedMove {
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
};
constexpr std::size_t kEndedMoves = 256;
EndedMove g_ended[kEndedMoves];
std::atomic<std::uint64_t> g_ended_count{0};

bool recently_moved(std::uintptr_t addr) {
  for (const EndedMove& m : g_ended) {
    if (addr >= m.begin.load(std::memory_order_acquire) &&
        addr < m.end.load(std::memory_order_acquire))
      return true;
  }
  return false;
}

// Retries a fault in a recently moved range once per (thread, address, number
// of ended moves): a genuine fault there (a write to a block freed meanwhile)
// repeats with nothing new ended and goes on to the previous handler.
// initial-exec: no lazy TLS allocation inside a signal handler.
bool retry_after_move(std::uintptr_t addr) {
  static thread_local std::uintptr_t last_addr __attribute__((tls_model("initial-exec"))) = 0;
  static thread_local std::uint64_t last_count __attribute__((tls_model("initial-exec"))) = 0;
  const std::uint64_t count = g_ended_count.load(std::memory_order_acquire);
  if (!recently_moved(addr)) return false;
  if (last_addr == addr && last_count == count) return false;
  last_addr = addr;
  last_count = count;
  return true;
}

struct sigaction g_previous;
std::once_flag g_install_once;
int g_install_errno = 0;

// Chains to the handler that was installed before ours.
void chain(int sig, siginfo_t* info, void* context) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, info, context);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  // Default action: reinstall it and return; the faulting access repeats and
  // the process ends with SIGSEGV as it would have without us.
  signal(sig, SIG_DFL);
}

void on_segv(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Slot& slot : g_slots) {
    if (slot.state.load(std::memory_order_acquire) != 2) continue;
    const std::uintptr_t begin = slot.begin.load(std::memory_order_relaxed);
    const std::uintptr_t end = slot.end.load(std::memory_order_relaxed);
    if (addr < begin || addr >= end) continue;
    if (auto* faults = slot.faults.load(std::memory_order_relaxed))
      faults->fetch_add(1, std::memory_order_relaxed);
    // Wait for the move to end; nanosleep is async-signal-safe.
    timespec pause{0, 20000};
    while (slot.state.load(std::memory_order_acquire) == 2 &&
           slot.begin.load(std::memory_order_relaxed) == begin)
      nanosleep(&pause, nullptr);
    return;  // the access retries on the new mapping
  }
  for (RangeSlot& range : g_ranges) {
    if (range.state.load(std::memory_order_acquire) != 2) continue;
    if (addr < range.begin.load(std::memory_order_relaxed) ||
        addr >= range.end.load(std::memory_order_relaxed))
      continue;
    const WriteBarrier::Resolver resolve = range.resolve.load(std::memory_order_relaxed);
    if (resolve != nullptr && resolve(range.context.load(std::memory_order_relaxed), info->si_addr))
      return;
    break;
  }
  if (retry_after_move(addr)) return;  // raced with the end of a move
  chain(sig, info, context);
}

}  // namespace

Status WriteBarrier::install() {
  std::call_once(g_install_once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, &g_previous) != 0) g_install_errno = errno;
  });
  if (g_install_errno != 0)
    return Status(Errc::internal,
                  std::string("cannot install the SIGSEGV write barrier: ") + std::strerror(g_install_errno));
  return Status::ok();
}

int WriteBarrier::begin(void* addr, std::size_t bytes, std::atomic<std::uint64_t>* faults) {
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_slots[i].state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    const auto begin = reinterpret_cast<std::uintptr_t>(addr);
    g_slots[i].begin.store(begin, std::memory_order_relaxed);
    g_slots[i].end.store(begin + bytes, std::memory_order_relaxed);
    g_slots[i].faults.store(faults, std::memory_order_relaxed);
    g_slots[i].state.store(2, std::memory_order_release);
    // Registered before protecting, so no fault can miss the slot.
    if (mprotect(addr, bytes, PROT_READ) != 0) {
      g_slots[i].state.store(0, std::memory_order_release);
      return -1;
    }
    return i;
  }
  return -1;
}

Status WriteBarrier::add_range(void* begin, std::size_t bytes, Resolver resolve, void* context) {
  for (RangeSlot& range : g_ranges) {
    int expected = 0;
    if (!range.state.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    range.begin.store(reinterpret_cast<std::uintptr_t>(begin), std::memory_order_relaxed);
    range.end.store(reinterpret_cast<std::uintptr_t>(begin) + bytes, std::memory_order_relaxed);
    range.resolve.store(resolve, std::memory_order_relaxed);
    range.context.store(context, std::memory_order_relaxed);
    range.state.store(2, std::memory_order_release);
    return Status::ok();
  }
  return Status(Errc::no_space, "too many allocators with transparent spilling in one process (" +
                                    std::to_string(kRanges) + ")");
}

void WriteBarrier::remove_range(void* begin) {
  for (RangeSlot& range : g_ranges) {
    if (range.state.load(std::memory_order_acquire) == 2 &&
        range.begin.load(std::memory_order_relaxed) == reinterpret_cast<std::uintptr_t>(begin)) {
      range.state.store(0, std::memory_order_release);
      return;
    }
  }
}

void WriteBarrier::end(int slot) {
  if (slot < 0 || slot >= kSlots) return;
  // Recorded before the slot is cleared (see EndedMove).
  EndedMove& ended = g_ended[g_ended_count.fetch_add(1, std::memory_order_acq_rel) % kEndedMoves];
  // A handler reading a record while it is rewritten (256 moves later) may see
  // a mixed range; that costs at most one extra retry of a genuine fault.
  ended.end.store(g_slots[slot].end.load(std::memory_order_relaxed), std::memory_order_release);
  ended.begin.store(g_slots[slot].begin.load(std::memory_order_relaxed), std::memory_order_release);
  g_slots[slot].begin.store(0, std::memory_order_relaxed);
  g_slots[slot].state.store(0, std::memory_order_release);
}

}  // namespace tensortier::detail
