// The tier plan, carried out through the executor's memory hooks.
#include "runtime/plan/tier_scheduler.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <new>
#include <thread>

namespace tensortier::runtime::plan {

TierScheduler::TierScheduler(Allocator& allocator, graph::Executor& executor, Liveness liveness,
                             TierPlan plan)
    : allocator_(allocator), executor_(executor) {
  replan(std::move(liveness), std::move(plan));
  executor_.set_memory_hooks({[this](const graph::OpNode& op) { before(op); },
                              [this](const graph::OpNode& op) { after(op); }});
}

void TierScheduler::replan(Liveness liveness, TierPlan plan) {
  liveness_ = std::move(liveness);
  plan_ = std::move(plan);
  sets_ = working_sets(liveness_);
  points_.clear();
  points_.reserve(liveness_.intervals.size());
  for (const Interval& i : liveness_.intervals) points_.push_back(need_points(i));
  step_of_.assign(executor_.graph().ops().size(), -1);
  for (std::size_t s = 0; s < liveness_.steps.size(); ++s)
    step_of_[static_cast<std::size_t>(liveness_.steps[s])] = static_cast<int>(s);
}

TierScheduler::~TierScheduler() {
  executor_.set_memory_hooks({});
  for (void* p : pinned_) allocator_.unpin(p);
}

std::uint64_t TierScheduler::clock(long step) const {
  // Pass p's step s is p * n + s + 1 (0 is "no next use" for the allocator).
  return pass_ * liveness_.steps.size() + static_cast<std::uint64_t>(step) + 1;
}

long TierScheduler::next_point(std::size_t interval, int step) const {
  const auto& p = points_[interval];
  const auto it = std::upper_bound(p.begin(), p.end(), step);
  if (it != p.end()) return *it;
  if (liveness_.intervals[interval].first == kBeforeStart && !p.empty())
    return static_cast<long>(liveness_.steps.size()) + p.front();
  return -1;
}

void* TierScheduler::block_of(TensorId t) const {
  const Tensor& v = executor_.value(t);
  return v.defined() && allocator_.owns(v.data()) ? v.data() : nullptr;
}

bool TierScheduler::in_pmem(const void* block) const {
  const int t = allocator_.tier_of(block);
  if (t < 0) return false;
  const TierKind kind = allocator_.tiers()[static_cast<std::size_t>(t)].kind;
  return kind != TierKind::dram && kind != TierKind::hbm;
}

void TierScheduler::begin_pass() {
  if (started_) pass_ += 1;
  started_ = true;
  allocator_.set_current_step(clock(0));
  for (TensorId t : plan_.start_in_pmem)
    if (void* p = block_of(t)) {
      allocator_.advise(p, Advice::cold);
      counters_.demotes += 1;
    }
  for (std::size_t i = 0; i < liveness_.intervals.size(); ++i)
    if (liveness_.intervals[i].first == kBeforeStart)
      if (void* p = block_of(liveness_.intervals[i].tensor); p && !points_[i].empty())
        allocator_.set_next_use(p, clock(points_[i].front()));
}

void TierScheduler::before(const graph::OpNode& op) {
  const int s = step_of_[static_cast<std::size_t>(op.id)];
  if (s < 0) return;
  allocator_.set_current_step(clock(s));
  const auto t0 = std::chrono::steady_clock::now();
  const StepActions& a = plan_.actions[static_cast<std::size_t>(s)];
  for (int i : sets_[static_cast<std::size_t>(s)]) {
    const Interval& iv = liveness_.intervals[static_cast<std::size_t>(i)];
    if (iv.first == s) continue;  // defined by this op: allocated by it
    if (std::find(a.in_place.begin(), a.in_place.end(), iv.tensor) != a.in_place.end()) continue;
    void* p = block_of(iv.tensor);
    if (p == nullptr || !allocator_.pin(p)) continue;
    pinned_.push_back(p);
    counters_.pins += 1;
    if (in_pmem(p)) counters_.pins_in_pmem += 1;
  }
  counters_.fetches += a.fetch.size();
  op_start_ = std::chrono::steady_clock::now();
  counters_.stall_seconds += std::chrono::duration<double>(op_start_ - t0).count();
  arm_in_place_outputs(s, a);  // allocating them is the op's time, not a stall
}

// An output the plan has the op write in place goes straight to PMem: with
// the context's hint it would take DRAM the plan gave to others (the
// allocator then evicts resident tensors the plan keeps, and the output's
// fresh pages are zeroed by the kernel only to be demoted later).
void TierScheduler::arm_in_place_outputs(int step, const StepActions& a) {
  Context& ctx = executor_.context();
  ctx.clear_placements();  // an op that threw may have left some
  std::vector<Context::Placement> placements;
  for (TensorId t : a.in_place) {
    const int i = liveness_.interval_of[static_cast<std::size_t>(t)];
    if (i < 0 || liveness_.intervals[static_cast<std::size_t>(i)].first != step) continue;
    const graph::TensorInfo& info = executor_.graph().tensor(t);
    try {
      placements.push_back({info.dims, info.type,
                            std::make_shared<Storage>(allocator_, info.bytes, Hint::cold)});
    } catch (const std::bad_alloc&) {
      // PMem full: the op allocates it as usual and the allocator decides.
    }
  }
  counters_.outputs_in_pmem += placements.size();
  if (!placements.empty()) ctx.arm_placements(std::move(placements));
}

void TierScheduler::account_in_place(const graph::OpNode& op) {
  std::uint64_t read = 0, written = 0;
  auto bytes_in_pmem = [&](TensorId t) -> std::uint64_t {
    const Tensor& v = executor_.value(t);
    return v.defined() && allocator_.owns(v.data()) && in_pmem(v.data()) ? v.bytes() : 0;
  };
  for (TensorId t : op.inputs) read += bytes_in_pmem(t);
  for (TensorId t : op.updates) {
    const std::uint64_t b = bytes_in_pmem(t);
    read += b;
    written += b;
  }
  for (TensorId t : op.outputs) written += bytes_in_pmem(t);
  counters_.in_place_read_bytes += read;
  counters_.in_place_written_bytes += written;
  const auto due = allocator_.pmem_traffic_done(read, written, op_start_);
  const auto now = std::chrono::steady_clock::now();
  if (due > now) {
    counters_.in_place_throttle_seconds += std::chrono::duration<double>(due - now).count();
    std::this_thread::sleep_until(due);
  }
}

void TierScheduler::after(const graph::OpNode& op) {
  const int s = step_of_[static_cast<std::size_t>(op.id)];
  counters_.outputs_in_pmem -= executor_.context().clear_placements();
  if (s >= 0) account_in_place(op);
  for (void* p : pinned_) allocator_.unpin(p);
  pinned_.clear();
  if (s < 0) return;
  for (int i : sets_[static_cast<std::size_t>(s)]) {
    const long next = next_point(static_cast<std::size_t>(i), s);
    if (next < 0) continue;  // released at its last use
    if (void* p = block_of(liveness_.intervals[static_cast<std::size_t>(i)].tensor))
      allocator_.set_next_use(p, clock(next));
  }
  const StepActions& a = plan_.actions[static_cast<std::size_t>(s)];
  for (TensorId t : a.demote)
    if (void* p = block_of(t)) {
      allocator_.advise(p, Advice::cold);
      counters_.demotes += 1;
    }
  for (TensorId t : a.prefetch)
    if (void* p = block_of(t)) {
      allocator_.advise(p, Advice::will_need);
      counters_.prefetches += 1;
    }
}

}  // namespace tensortier::runtime::plan
