// The footprint a training step or an inference pass will really have, from
// the schedule and the primitive descriptors alone (no tensor allocated):
// a replay of what the executor and the ops allocate and free, in order, at
// the allocator's granule — the schedule's tensors at the sizes the ops give
// them (workspaces from the descriptors), plus what the schedule does not
// list: the context's shared scratchpad (one block, regrown by replacement),
// weights reordered into a primitive's layout for one call, diff_weights in
// the primitive's layout before their reorder to plain, the loss's second
// gradient before it is summed, optimizer state created by the first update,
// and the caller's image and label buffers, held for the whole pass.
// Inference replays `tensortier infer`: the reuse plan's arena (reuse_plan.hpp)
// and the copied-out logits.
//
//   Context ctx(allocator);                 // nothing is allocated from it
//   Footprint f = model_footprint(graph, Pass::training, ctx);
//   f.runtime_peak_bytes   // the allocator's peak live bytes (Stats peak_live_bytes)
//   f.naive_bytes, f.reuse_bytes
//
// docs/planner.md describes the model and its validation against measurement.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/plan/liveness.hpp"
#include "tensortier/runtime/context.hpp"

namespace tensortier::runtime::plan {

struct FootprintOptions {
  std::uint64_t granule = 4096;          // the allocator's block granule (a page)
  int steps = 2;                         // training steps replayed (the first creates the
                                         // optimizer state and grows the scratchpad)
  bool momentum = true;                  // SGD keeps a momentum buffer (momentum > 0)
  std::uint64_t reuse_alignment = 64;    // inference: the reuse plan's alignment (as `infer`)
};

struct Footprint {
  Pass pass = Pass::training;
  // Every tensor its own buffer, never freed (PyTorch-like, all in DRAM):
  // the schedule's tensors, persistent ones and the fed image and labels.
  std::uint64_t naive_bytes = 0;
  // With buffer reuse: training, every tensor freed after its last use (the
  // liveness lower bound, what the executor does); inference, the reuse
  // plan's arena + persistent tensors + the image.
  std::uint64_t reuse_bytes = 0;
  // What the allocator will peak at (live blocks): the replay's maximum.
  std::uint64_t runtime_peak_bytes = 0;
  int peak_step = 0;                  // step of the pass where it is reached
  int peak_pass = 0;                  // training: which replayed step (0 = the first)
  std::uint64_t persistent_bytes = 0; // weights, running statistics, optimizer state
  std::uint64_t fed_bytes = 0;        // image and labels, held by the caller all along
  std::uint64_t arena_bytes = 0;      // inference: the reuse plan's arena
  std::uint64_t scratchpad_bytes = 0; // the shared scratchpad's largest size (rounded)
  std::uint64_t largest_temporary_bytes = 0;  // the largest op temporary (rounded)
  std::uint64_t peak_temporaries_bytes = 0;   // the most op temporaries live at once (rounded)
  // At the peak: schedule tensors (not persistent, not fed) and op internals
  // (scratchpad + temporaries).
  std::uint64_t tensors_at_peak = 0;
  std::uint64_t internals_at_peak = 0;
  std::vector<std::uint64_t> step_peak_bytes;  // by step: the peak during it (last replay)
};

// Gives every tensor the size its op allocates (the descriptors' sizes: the
// fused-ReLU mask and max-pool workspace from oneDNN), as the executor's first
// step records; marks them bytes_measured.
void set_runtime_sizes(graph::Graph& graph, Context& ctx);

// The footprint of `pass` over `graph` (built by model::build_unet3d, with
// derive_backward for training). Training calls set_runtime_sizes first.
// Creates primitive descriptors through `ctx`, never tensors. Throws
// std::invalid_argument for an op the replay does not know.
Footprint model_footprint(graph::Graph& graph, Pass pass, Context& ctx,
                          const FootprintOptions& options = {});

}  // namespace tensortier::runtime::plan
