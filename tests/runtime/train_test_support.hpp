// Shared by the training tests: a DRAM-only allocator and small U-Net options.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>

#include "dram_allocator.hpp"
#include "runtime/train/threads.hpp"
#include "runtime/train/trainer.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::runtime::train::test {

inline std::unique_ptr<Allocator> dram_allocator() { return runtime::test::make_dram_allocator(); }

// A U-Net small enough for a test step in well under a second at 32^3.
inline TrainOptions small_options(int levels = 3, int base = 8) {
  TrainOptions o;
  o.dims = {32, 32, 32};
  o.model.levels = levels;
  o.model.base_filters = base;
  o.model.classes = 4;
  o.steps = 10;
  o.lr = 0.05f;
  return o;
}

// Two threads at most: beyond that the loss reductions (OpenMP) may combine
// partial sums in another order (docs/training.md).
inline void limit_threads() {
  if (max_threads() > 2) set_threads(2);
}

}  // namespace tensortier::runtime::train::test
