// The SIGSEGV handler of the library, installed over the core's write barrier
// when the tiers are created. A fault inside the tiers' virtual range is a
// touch of a demoted (guarded) block or a write to a block being moved: the
// core's handler resolves it, run here with the "inside tensortier" marker
// set (the core allocates while resolving) and the operation lock held shared
// (a fork waits for it). Every other fault goes through the core's handler to
// the handler installed before the tiers (Python's faulthandler, a JVM, a
// test's sigsetjmp...), or to the default action. In a fork child the core is
// never run again: faults go straight to that earlier handler.
#pragma once

#include <signal.h>

namespace tensortier::preload {

// `before`: the SIGSEGV action before Allocator::create() installed the core's.
void install_fault_forwarding(const struct sigaction& before) noexcept;

}  // namespace tensortier::preload
