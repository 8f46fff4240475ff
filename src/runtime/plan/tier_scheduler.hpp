// Carries out a training tier plan (tier_plan.hpp) on the allocator while the
// executor runs the step: before each op, the tensors it reads are pinned in
// DRAM (a synchronous promotion when the plan fetches them, or a wait for a
// prefetch still in flight: both counted as stall time); after each op, the
// plan's demotions and prefetches go to the allocator's mover thread
// (Advice::cold / Advice::will_need) and every live tensor's next use is told
// to the allocator (Policy::next_use), so that anything the plan did not
// foresee — op internals, a size that grew — is evicted farthest-next-use
// first. The allocator enforces the DRAM budget either way.
//
//   TierScheduler sched(allocator, executor, liveness, plan);  // installs hooks
//   sched.begin_pass(); executor.train_step();                  // each step
//   sched.counters().stall_seconds
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "runtime/graph/executor.hpp"
#include "runtime/plan/tier_plan.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::runtime::plan {

struct TieringCounters {
  std::uint64_t in_place_read_bytes = 0;     // operands ops read where they were, in PMem
  std::uint64_t in_place_written_bytes = 0;  // ... and wrote (outputs, updates) in PMem
  double in_place_throttle_seconds = 0;      // Optane emulation: ops slowed to PMem bandwidth
  double stall_seconds = 0;      // waiting before ops for tensors to be in DRAM
  std::uint64_t pins = 0;        // tensors pinned before an op
  std::uint64_t pins_in_pmem = 0;  // ... that stayed in PMem (no room; read in place)
  std::uint64_t demotes = 0;     // demotions requested
  std::uint64_t prefetches = 0;  // prefetches requested
  std::uint64_t fetches = 0;     // planned synchronous fetches
  std::uint64_t outputs_in_pmem = 0;  // outputs allocated straight in PMem (written in place)
};

class TierScheduler {
 public:
  // Installs the executor's memory hooks; the destructor removes them.
  // `liveness` must be of `executor.graph()`, Pass::training.
  // With the allocator's Optane emulation (AllocatorOptions::throttle), an
  // op that read or wrote tensors in place in PMem takes at least the time
  // the emulated DIMMs take to carry those bytes beside the migrations
  // (Allocator::pmem_traffic_done).
  TierScheduler(Allocator& allocator, graph::Executor& executor, Liveness liveness, TierPlan plan);
  ~TierScheduler();
  TierScheduler(const TierScheduler&) = delete;
  TierScheduler& operator=(const TierScheduler&) = delete;

  // Replaces the plan (e.g. after the first step measured the real sizes);
  // the step clock and the counters carry on.
  void replan(Liveness liveness, TierPlan plan);

  // Before each training step: advances the step clock, demotes what the
  // plan keeps in PMem at the start.
  void begin_pass();

  const TierPlan& plan() const noexcept { return plan_; }
  const Liveness& liveness() const noexcept { return liveness_; }
  const TieringCounters& counters() const noexcept { return counters_; }

 private:
  void before(const graph::OpNode& op);
  void after(const graph::OpNode& op);
  void* block_of(TensorId t) const;
  bool in_pmem(const void* block) const;
  void arm_in_place_outputs(int step, const StepActions& a);
  void account_in_place(const graph::OpNode& op);
  std::uint64_t clock(long step) const;
  long next_point(std::size_t interval, int step) const;

  Allocator& allocator_;
  graph::Executor& executor_;
  Liveness liveness_;
  TierPlan plan_;
  std::vector<std::vector<int>> sets_;       // by step: intervals needed
  std::vector<std::vector<int>> points_;     // by interval: steps needing it
  std::vector<int> step_of_;                 // by OpId
  std::vector<void*> pinned_;
  std::chrono::steady_clock::time_point op_start_;
  std::uint64_t pass_ = 0;
  bool started_ = false;
  TieringCounters counters_;
};

}  // namespace tensortier::runtime::plan
