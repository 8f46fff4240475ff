#include "core/policy.hpp"

#include <algorithm>

namespace tensortier::detail {
namespace {

class LruPolicy final : public EvictionPolicy {
 public:
  bool migrates() const noexcept override { return true; }
  void order(std::vector<Candidate>& c, std::uint64_t) const override {
    std::stable_sort(c.begin(), c.end(),
                     [](const Candidate& a, const Candidate& b) { return a.last_use < b.last_use; });
  }
};

// Belady: the block needed farthest in the future goes first.
class NextUsePolicy final : public EvictionPolicy {
 public:
  bool migrates() const noexcept override { return true; }
  void order(std::vector<Candidate>& c, std::uint64_t step) const override {
    auto key = [step](const Candidate& x) { return x.next_use < step ? kNoNextUse : x.next_use; };
    std::stable_sort(c.begin(), c.end(), [&](const Candidate& a, const Candidate& b) {
      const auto ka = key(a), kb = key(b);
      return ka != kb ? ka > kb : a.last_use < b.last_use;
    });
  }
};

class StaticPolicy final : public EvictionPolicy {
 public:
  bool migrates() const noexcept override { return false; }
  void order(std::vector<Candidate>& c, std::uint64_t) const override { c.clear(); }
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_policy(Policy policy) {
  switch (policy) {
    case Policy::lru: return std::make_unique<LruPolicy>();
    case Policy::next_use: return std::make_unique<NextUsePolicy>();
    case Policy::static_placement: return std::make_unique<StaticPolicy>();
  }
  return std::make_unique<LruPolicy>();
}

}  // namespace tensortier::detail
