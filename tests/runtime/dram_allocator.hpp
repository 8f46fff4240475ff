// A DRAM-only allocator (no PMem tier, 4 GiB budget) for the runtime tests.
#pragma once

#include <memory>
#include <stdexcept>

#include "tensortier/allocator.hpp"

namespace tensortier::runtime::test {

inline std::unique_ptr<Allocator> make_dram_allocator() {
  AllocatorOptions options;
  options.config.pmem.scheme = PmemSpec::Scheme::none;
  options.config.dram_limit_bytes = 4ULL << 30;
  auto created = Allocator::create(options);
  if (!created) throw std::runtime_error("allocator: " + created.status().message());
  return std::move(*created);
}

}  // namespace tensortier::runtime::test
