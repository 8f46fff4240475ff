// The training tier plan: which tensors are in DRAM at each step of a
// training pass under a DRAM budget, and the migrations that make it so.
//
// Computed from the schedule's liveness (liveness.hpp) by simulating the pass
// (with TierPlanOptions::read_in_place_flops_per_byte, compute-bound ops also
// read their evicted inputs in place rather than fetching them):
//   - a step wants its inputs, updated tensors and outputs in DRAM (its
//     working set); the largest working set plus the reserve for op internals
//     is the smallest budget at which every op runs on DRAM only. Below it,
//     what does not fit is used in place in PMem (updated tensors get DRAM
//     first, then outputs, then the largest inputs) — or, with in_place off,
//     the budget is refused; a budget below the reserve always is. Writing
//     PMem is about three times slower than reading it: an output with no
//     room gets DRAM after all when an input its op received straight from
//     its producer can go to PMem instead, written there in place by the
//     producer, where the two ops' compute hides more of that traffic (a
//     convolution writing for the batch norm after it);
//   - when the working set does not fit, the resident tensor whose next use is
//     farthest is evicted (Belady's rule), and its demotion is moved back to
//     right after its previous use, so it runs on the allocator's mover thread
//     while the ops in between compute;
//   - when migrating costs the compute (TierPlanOptions::migration_cost), an
//     evicted tensor that has been in DRAM since its producer wrote it is
//     instead written in place by the producer and read there by the ops in
//     between, if their compute hides more of that PMem traffic than the
//     demotion's copy would cost;
//   - every evicted tensor is prefetched back as early as DRAM has room for it
//     up to its next use, so the copy overlaps compute; only when there is no
//     room before its use is it fetched synchronously (a stall).
// Tensors are planned at the sizes of the graph (measured after the first
// run, estimated before). Persistent tensors (weights, state) and the fed
// inputs live across passes: their use after the last one is the first use of
// the next pass.
//
//   Liveness l = compute_liveness(graph, Pass::training, 4096);
//   auto plan = plan_tiers(graph, l, {.dram_budget = 1 << 30, .reserve_bytes = 64 << 20});
//   if (!plan) ... plan.status().message() names the minimum feasible budget
//   plan->actions[s].demote / .prefetch (after step s), .fetch (before step s)
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/plan/liveness.hpp"
#include "tensortier/status.hpp"

namespace tensortier::runtime::plan {

// The default of TierPlanOptions::read_in_place_flops_per_byte for `train` and
// `plan`: about what 2 cores sustain (200 GFLOP/s) over one Optane DIMM's
// read bandwidth (6.6 GB/s).
inline constexpr double kDefaultReadInPlaceFlopsPerByte = 32;

struct TierPlanOptions {
  std::uint64_t dram_budget = 0;    // bytes the run may hold in DRAM
  std::uint64_t reserve_bytes = 0;  // kept free for op internals (scratchpad, weight reorders)
  // When one op's working set does not fit, let the op read or write some of
  // its tensors in place in PMem (byte-addressable: file, devdax and KMEM
  // tiers are all mapped) instead of refusing the budget. Without it, a
  // budget below the largest working set + reserve is infeasible.
  bool in_place = true;
  // A step whose op does at least this many FLOPs per byte of its inputs
  // that are in PMem reads them there, in place, instead of having them
  // fetched or prefetched into DRAM: at that arithmetic intensity the op's
  // compute outlasts reading them at PMem bandwidth, while a promotion costs
  // a copy on the mover and DRAM room that evicts others. 3x3x3 convolutions
  // do 200-3500 FLOPs per input byte here, 2x2x2 transposed ones 64-512, the
  // 1x1x1 head 2. 0: never by choice (only when the working set does not fit).
  // Ignored without in_place.
  double read_in_place_flops_per_byte = 0;
  // PMem bandwidth in Optane DIMMs (read_in_place_flops_per_byte assumes
  // one): d DIMMs move in the time of one the bytes one moves times d. 0: as
  // fast as DRAM (unthrottled page-cache emulation): in-place use takes no
  // time beyond the op's own.
  double pmem_dimms = 1;
  // What migrating a byte costs the compute, in bytes read in place from one
  // DIMM. 0 when the allocator's mover thread has a core of its own; when it
  // shares the compute's cores, its copies and their page-table work take
  // their time from the compute (kSharedMoverCopyGbps). With a cost, an
  // output the plan would demote after its last use before the backward is
  // instead written in place in PMem by its producer, and read there, when
  // the PMem time its ops' compute does not hide costs less (rule 7 of
  // docs/memory_planning.md). Ignored without in_place.
  double migration_cost = 0;
};

// The rate at which a mover sharing the compute's cores takes CPU time from
// it, per byte migrated (its copy with the mapping work around it): measured
// on the 2-CPU development machine as the step time a page-cache run at 1/8
// of the footprint gained per byte it no longer migrated.
inline constexpr double kSharedMoverCopyGbps = 5;
// TierPlanOptions::migration_cost for a mover that shares the compute's
// cores: one DIMM's read bandwidth over kSharedMoverCopyGbps.
double shared_mover_migration_cost();
// TierPlanOptions::pmem_dimms of PMem that reads `read_gbps` in all: in
// DIMMs of OptaneThrottle's 6.6 GB/s.
double pmem_dimms_reading(double read_gbps);

// What the executor does around step s.
struct StepActions {
  std::vector<TensorId> fetch;     // before s, synchronously: needed now, not prefetched
  std::vector<TensorId> demote;    // after s, in the background: next use is far
  std::vector<TensorId> prefetch;  // after s, in the background: needed at a later step
  std::vector<TensorId> in_place;  // used by s where it is, in PMem (no DRAM room)
};

struct TierPlan {
  std::uint64_t budget = 0;
  std::uint64_t reserve = 0;
  std::uint64_t capacity = 0;       // budget - reserve: what planned tensors may hold
  std::uint64_t working_set = 0;    // largest working set of one step
  int critical_step = 0;            // the step with the largest working set
  std::uint64_t all_in_dram_budget = 0;  // working_set + reserve: no op uses PMem in place
  std::uint64_t min_budget = 0;     // smallest feasible: the reserve (in place), else the above
  std::uint64_t planned_peak = 0;   // max of dram_bytes (<= capacity)
  std::uint64_t footprint = 0;      // everything in DRAM: the liveness lower bound
  std::vector<StepActions> actions;        // by step
  std::vector<std::uint64_t> dram_bytes;   // planned tensors in DRAM during each step
  std::vector<TensorId> start_in_pmem;     // demoted before the first step
  // By interval index (Liveness::intervals): the steps [from, to] during
  // which the tensor is in PMem (not resident) while alive.
  std::vector<std::vector<std::pair<int, int>>> pmem_spans;
  std::uint64_t bytes_demoted = 0;     // per pass
  std::uint64_t bytes_prefetched = 0;  // per pass, in the background
  std::uint64_t bytes_fetched = 0;     // per pass, synchronously (stalls)
  std::uint64_t bytes_in_place = 0;    // per pass, read or written by ops in PMem
  // Per pass: outputs written in place by their producers instead of being
  // demoted after their last use before the backward (migration_cost).
  std::uint64_t bytes_written_in_place = 0;
};

// DRAM to keep free for what the ops allocate besides the schedule's tensors:
// the context's shared scratchpad (`scratchpad_bytes`, known once the
// primitives exist) and the ops' temporaries (`temporaries_bytes`: the most
// live at once, Footprint::peak_temporaries_bytes; at least two of the
// largest weights, reordered into a primitive's layout), plus 4 MiB of slack.
std::uint64_t automatic_reserve(const graph::Graph& graph, std::uint64_t scratchpad_bytes,
                                std::uint64_t temporaries_bytes, std::uint64_t granule);

// The plan for `liveness` (of `graph`, Pass::training or inference) under
// options.dram_budget. Fails (invalid_argument) when the budget is below the
// minimum feasible one; the message names the minimum (and without in-place
// access, the step whose working set sets it).
Result<TierPlan> plan_tiers(const graph::Graph& graph, const Liveness& liveness,
                            const TierPlanOptions& options);

// A table of the plan, one line per tensor: name, kind, bytes, definition,
// last use, PMem spans; then the actions per step (what `tensortier plan
// --schedule` prints).
std::string tier_plan_text(const graph::Graph& graph, const Liveness& liveness,
                           const TierPlan& plan);
// The same as JSON.
std::string tier_plan_json(const graph::Graph& graph, const Liveness& liveness,
                           const TierPlan& plan);

}  // namespace tensortier::runtime::plan
