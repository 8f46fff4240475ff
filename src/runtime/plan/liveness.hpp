// Liveness of every tensor of a schedule: the ops of a pass (a training step,
// or an inference pass = the forward ops before the loss) numbered 0..n-1 as
// "steps", and for each tensor the step that defines it, every step that uses
// it and the last one. Persistent tensors (weights, running statistics,
// optimizer state) live across the whole pass; inputs and labels are fed
// before step 0. Sizes are the graph's bytes rounded up to the allocator's
// block granule, so that sums match what the allocator holds.
//
//   Liveness l = compute_liveness(graph, Pass::inference, 4096);
//   for (const Interval& i : l.intervals) ... i.first, i.last, i.bytes
//   l.lower_bound_bytes   // the most bytes live at any one step
//
// The memory plans (reuse_plan.hpp for inference, tier_plan.hpp for training
// under a DRAM budget) are computed from it.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/graph/graph.hpp"

namespace tensortier::runtime::plan {

using graph::OpId;
using graph::TensorId;

enum class Pass : std::uint8_t {
  training,   // every op: forward, backward, updates
  inference,  // forward ops up to (not including) the loss
};
const char* pass_name(Pass pass) noexcept;

inline constexpr int kBeforeStart = -1;  // fed or persistent: live before step 0

struct Interval {
  TensorId tensor = graph::kNoTensor;
  graph::TensorKind kind = graph::TensorKind::activation;
  std::uint64_t bytes = 0;     // rounded up to the granule
  int first = kBeforeStart;    // defining step, kBeforeStart for fed / persistent tensors
  int last = kBeforeStart;     // last step using it (its definition when unused)
  std::vector<int> uses;       // steps reading or updating it, ascending
  bool persistent = false;     // lives across passes: never released
};

struct Liveness {
  Pass pass = Pass::training;
  std::vector<OpId> steps;             // the pass's ops in order: steps[s] is an OpId
  std::vector<Interval> intervals;     // the tensors the pass touches, by TensorId order
  std::vector<int> interval_of;        // by TensorId: index into intervals, -1 if untouched
  std::vector<std::uint64_t> live_bytes;  // per step: non-persistent bytes live during it
  std::uint64_t persistent_bytes = 0;
  std::uint64_t naive_bytes = 0;       // every tensor its own buffer, never freed (+ persistent)
  std::uint64_t lower_bound_bytes = 0; // max live_bytes + persistent: no plan needs less
  int peak_step = 0;

  const Interval* find(TensorId t) const {
    const auto i = static_cast<std::size_t>(t);
    return i < interval_of.size() && interval_of[i] >= 0
               ? &intervals[static_cast<std::size_t>(interval_of[i])]
               : nullptr;
  }
  // The first use of interval `i` after step `s`, or -1 when none.
  static int next_use(const Interval& i, int s);
};

// The steps needing interval `i`: its definition (when in the pass) and its
// uses, ascending, without repeats.
std::vector<int> need_points(const Interval& i);
// By step: the indices (into l.intervals) of the tensors the step needs in
// memory — its inputs, updated tensors and outputs.
std::vector<std::vector<int>> working_sets(const Liveness& l);

// `granule` (a power of two, >= 1): the allocator's block granule, e.g. the
// page size.
Liveness compute_liveness(const graph::Graph& graph, Pass pass, std::uint64_t granule = 1);

// `bytes` rounded up to a multiple of `granule`.
constexpr std::uint64_t round_up(std::uint64_t bytes, std::uint64_t granule) {
  return granule <= 1 ? bytes : (bytes + granule - 1) / granule * granule;
}

}  // namespace tensortier::runtime::plan
