#include "preload/context.hpp"

#include <unistd.h>

#include <cstring>
#include <new>

#include "preload/fault_forwarding.hpp"
#include "preload/reentrancy.hpp"

namespace tensortier::preload {

// Constant-initialized: the first malloc (from ld.so, before any constructor)
// finds a usable context.
constinit Context Context::instance_;

void Context::report(const std::string& message) noexcept {
  // write(2), not stdio: this may run inside malloc, under a stdio lock.
  std::string line;
  try {
    line = "tensortier: " + message + "\n";
  } catch (...) {
    return;
  }
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    const ssize_t n = write(STDERR_FILENO, p, left);
    if (n <= 0) return;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void Context::configure() noexcept {
  int expected = 0;
  if (!config_state_.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) return;
  InsideGuard inside;
  try {
    auto options = allocator_options_from_env(process_env());
    if (options) {
      min_size_.store(options->config.min_managed_bytes, std::memory_order_relaxed);
      stats_path_ = new std::string(options->config.stats_path);
      options_ = new AllocatorOptions(std::move(*options));
    } else {
      config_error_ = new std::string(options.status().message());
    }
  } catch (...) {
    config_error_ = new (std::nothrow) std::string("cannot read the configuration: out of memory");
  }
  config_state_.store(2, std::memory_order_release);
}

Allocator* Context::allocator() noexcept {
  const int s = state_.load(std::memory_order_acquire);
  if (__builtin_expect(s == kReady, 1))
    return forked_child_.load(std::memory_order_relaxed) ? nullptr : allocator_;
  if (s != kUnset || inside_tensortier() || forked_child_.load(std::memory_order_relaxed))
    return nullptr;
  return create();
}

Allocator* Context::create() noexcept {
  int expected = kUnset;
  if (!state_.compare_exchange_strong(expected, kCreating, std::memory_order_acq_rel))
    return nullptr;  // another thread creates it; until then the system allocator serves
  InsideGuard inside;             // the core's own allocations go to the system allocator
  SharedOpGuard op(op_lock_);     // a fork waits for the creation to finish
  configure();
  if (config_state_.load(std::memory_order_acquire) != 2) {
    state_.store(kUnset, std::memory_order_release);  // being read by another thread: later
    return nullptr;
  }
  const char* untiered = "; continuing untiered (every allocation from the system allocator)";
  if (options_ == nullptr) {
    report((config_error_ != nullptr ? *config_error_ : std::string("bad configuration")) + untiered);
    state_.store(kUntiered, std::memory_order_release);
    return nullptr;
  }
  try {
    AllocatorOptions options = *options_;
    options.promote_on_touch = true;    // transparent spilling: nobody calls advise() here
    options.config.stats_path.clear();  // written by write_stats_at_exit(), never by a destructor
    struct sigaction before {};
    sigaction(SIGSEGV, nullptr, &before);
    auto created = Allocator::create(std::move(options));
    if (!created) {
      report(created.status().message() + untiered);
      state_.store(kUntiered, std::memory_order_release);
      return nullptr;
    }
    allocator_ = created->release();  // never destroyed: see the header
    install_fault_forwarding(before);
  } catch (...) {
    report(std::string("cannot create the tiers: out of memory") + untiered);
    state_.store(kUntiered, std::memory_order_release);
    return nullptr;
  }
  state_.store(kReady, std::memory_order_release);
  return allocator_;
}

void Context::learn_range(const void* inside) noexcept {
  // owns() is a pure range test; find the range's ends by bisection.
  const Allocator* a = allocator_;
  auto owns = [a](std::uintptr_t p) { return a->owns(reinterpret_cast<const void*>(p)); };
  std::uintptr_t in = reinterpret_cast<std::uintptr_t>(inside), out = 0;
  while (in - out > 1) {
    const std::uintptr_t mid = out + (in - out) / 2;
    (owns(mid) ? in : out) = mid;
  }
  const std::uintptr_t begin = in;
  in = reinterpret_cast<std::uintptr_t>(inside);
  out = ~std::uintptr_t{0};
  while (out - in > 1) {
    const std::uintptr_t mid = in + (out - in) / 2;
    (owns(mid) ? in : out) = mid;
  }
  range_begin_.store(begin, std::memory_order_relaxed);
  range_bytes_.store(out - begin, std::memory_order_release);
}

void Context::mark_forked_child() noexcept { forked_child_.store(true, std::memory_order_relaxed); }

namespace {

// TENSORTIER_STATS with "%p" replaced by the process id.
std::string expand_pid(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 1 < path.size() && path[i + 1] == 'p') {
      out += std::to_string(getpid());
      ++i;
    } else {
      out += path[i];
    }
  }
  return out;
}

}  // namespace

void Context::write_stats_at_exit() noexcept {
  if (forked_child() || stats_path_ == nullptr || stats_path_->empty()) return;
  Allocator* a = existing_allocator();
  if (a == nullptr) return;  // nothing was tiered: keep another process's file
  InsideGuard inside;
  try {
    write_stats_file(a->stats(), expand_pid(*stats_path_));
  } catch (...) {
  }
}

}  // namespace tensortier::preload
