#include "preload/fault_forwarding.hpp"

#include <cerrno>

#include "preload/context.hpp"
#include "preload/reentrancy.hpp"

namespace tensortier::preload {
namespace {

struct sigaction g_before;  // the application's handler (or SIG_DFL)
struct sigaction g_core;    // the core's write barrier

void call(const struct sigaction& action, int sig, siginfo_t* info, void* context) {
  if (action.sa_flags & SA_SIGINFO) {
    if (action.sa_sigaction != nullptr) {
      action.sa_sigaction(sig, info, context);
      return;
    }
  } else if (action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN) {
    action.sa_handler(sig);
    return;
  }
  // Default action: reinstall it and return; the access repeats and the
  // process ends with SIGSEGV, as it would have without the library.
  signal(sig, SIG_DFL);
}

void on_segv(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  Context& ctx = Context::get();
  Allocator* allocator = ctx.existing_allocator();
  if (ctx.forked_child() || allocator == nullptr) {
    call(g_before, sig, info, context);
  } else if (allocator->owns(info->si_addr)) {
    InsideGuard inside;
    SharedOpGuard op(ctx.op_lock());
    call(g_core, sig, info, context);
  } else {
    call(g_core, sig, info, context);  // chains to g_before
  }
  errno = saved_errno;
}

}  // namespace

void install_fault_forwarding(const struct sigaction& before) noexcept {
  g_before = before;
  sigaction(SIGSEGV, nullptr, &g_core);
  if ((g_core.sa_flags & SA_SIGINFO) && g_core.sa_sigaction == &on_segv) return;  // twice
  struct sigaction mine = g_core;
  mine.sa_sigaction = &on_segv;
  mine.sa_flags = g_core.sa_flags | SA_SIGINFO;
  sigaction(SIGSEGV, &mine, nullptr);
}

}  // namespace tensortier::preload
