// Load and exit. At load: find the system allocator, read the configuration
// (so TENSORTIER_MIN_SIZE applies from the start) and register the fork
// handlers; the tiers themselves wait for the first large allocation. At
// exit: write TENSORTIER_STATS, and nothing else — the allocator is never
// destroyed, because other libraries' destructors and threads still running
// may free or touch its blocks after this point, and stdio is flushed by
// exit() itself afterwards, so no output is lost.
#include "preload/context.hpp"
#include "preload/fork_handling.hpp"
#include "preload/system_allocator.hpp"

namespace tensortier::preload {
namespace {

__attribute__((constructor)) void on_load() {
  resolve_system_functions();
  Context::get().configure();
  register_fork_handlers();
}

__attribute__((destructor)) void on_unload() { Context::get().write_stats_at_exit(); }

}  // namespace
}  // namespace tensortier::preload
