// Eviction policies: which DRAM blocks to demote when DRAM must make room.
// Small and stateless; the allocator hands them the candidates it may move.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "tensortier/allocator.hpp"

namespace tensortier::detail {

inline constexpr std::uint64_t kNoNextUse = UINT64_MAX;

struct Candidate {
  std::uintptr_t addr = 0;
  std::size_t bytes = 0;
  std::uint64_t last_use = 0;            // allocator tick of the last allocate/pin/advise
  std::uint64_t next_use = kNoNextUse;   // runtime-provided step; kNoNextUse when unknown
};

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  // False for placement-only policies: nothing is ever migrated.
  virtual bool migrates() const noexcept = 0;
  // Candidates in the order they should be demoted (most evictable first).
  // `current_step` lets next-use treat uses already past as unknown.
  virtual void order(std::vector<Candidate>& candidates, std::uint64_t current_step) const = 0;
};

std::unique_ptr<EvictionPolicy> make_policy(Policy policy);

}  // namespace tensortier::detail
