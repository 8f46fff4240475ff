// The inference memory plan: every tensor an inference pass creates gets an
// offset in one arena, so that tensors whose lifetimes [first, last] overlap
// never overlap in memory. Greedy by size (OpenVINO's memory solver, XLA's
// heap simulator): buffers sorted by bytes, largest first, each placed at the
// lowest aligned offset that collides with no placed buffer live at the same
// time. Optionally an activation or batch-norm output shares its input's
// buffer when that input dies at the op (in place).
//
//   Liveness l = compute_liveness(graph, Pass::inference, 64);
//   ReusePlan p = plan_reuse(l, &graph);
//   p.arena_bytes; p.naive_bytes; p.lower_bound_bytes   // lower bound <= arena <= naive
//   executor.infer(logits_id, {.plan = &p});            // outputs placed in one arena block
//
// What is planned: the non-persistent tensors a step of the pass defines,
// except `saved` ones (batch statistics, fused-ReLU mask, max-pool argmax:
// forward ops keep them for training only; inference primitives do not create
// them). Outside the arena: persistent tensors (weights, running statistics)
// and tensors fed before step 0 (the image), which the caller binds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/plan/liveness.hpp"

namespace tensortier::runtime::plan {

struct ReusePlanOptions {
  // Offsets and sizes are multiples of this (a power of two, >= 1). 64 suits
  // oneDNN's kernels; the allocator's page (4096) keeps each tensor page-aligned.
  std::uint64_t alignment = 64;
  // An activation or batch_norm3d output takes its input's buffer when the
  // input's last use is that op (oneDNN's eltwise and batch normalization run
  // in place). Needs the graph.
  bool in_place = true;
};

struct TensorPlacement {
  TensorId tensor = graph::kNoTensor;
  std::uint64_t offset = 0;  // from the arena's start, a multiple of the alignment
  std::uint64_t bytes = 0;   // the interval's bytes rounded up to the alignment
  int first = 0;             // defining step
  int last = 0;              // last step using it
  int buffer = 0;            // tensors sharing a buffer (in place) have the same one
  TensorId in_place_of = graph::kNoTensor;  // the input whose buffer it took, if any
};

struct ReusePlan {
  std::vector<TensorPlacement> placements;  // the arena's tensors, in TensorId order
  std::vector<int> placement_of;            // by TensorId: index into placements, -1 if outside
  std::uint64_t alignment = 64;
  std::uint64_t arena_bytes = 0;        // the arena's size: max offset + bytes
  std::uint64_t naive_bytes = 0;        // every planned tensor its own buffer: sum of bytes
  std::uint64_t lower_bound_bytes = 0;  // the most planned bytes live at one step
  int peak_step = 0;                    // the step where that is reached
  std::uint64_t persistent_bytes = 0;   // weights and running statistics (outside)
  std::uint64_t input_bytes = 0;        // fed before step 0, bound by the caller (outside)
  int buffers = 0;                      // distinct buffers (tensors minus in-place reuses)
  int in_place = 0;                     // tensors placed into their input's buffer

  const TensorPlacement* find(TensorId t) const {
    const auto i = static_cast<std::size_t>(t);
    return t >= 0 && i < placement_of.size() && placement_of[i] >= 0
               ? &placements[static_cast<std::size_t>(placement_of[i])]
               : nullptr;
  }
};

// The plan of an inference pass. `graph` (the graph `liveness` was computed
// from) enables in-place reuse; nullptr plans every tensor its own buffer.
// Throws std::invalid_argument for a training pass or a bad alignment.
ReusePlan plan_reuse(const Liveness& liveness, const graph::Graph* graph,
                     ReusePlanOptions options = {});

// "" when no two tensors of different buffers overlap both in time and in
// memory, every offset is aligned and inside the arena; else the first problem.
std::string check_plan(const ReusePlan& plan);

}  // namespace tensortier::runtime::plan
