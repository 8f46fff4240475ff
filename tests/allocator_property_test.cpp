// Property test: random allocate / free / pin / unpin / demote / promote /
// advise / next-use sequences (fixed seeds) against a reference model of the
// documented behaviour. After every operation:
//   - every tier's live, cached and peak bytes stay within its budget, and its
//     live bytes and block count equal the model's;
//   - every live block is in the tier the model says (so the victim each
//     policy picks is checked too) and holds its block-specific pattern;
//   - an operation fails exactly when the model says there is no room (or the
//     input is bad), with the status the model expects;
//   - allocation, free, failure, demotion and promotion counters match.
// The model treats freed-but-cached memory as free: caches are an
// implementation detail that must never make an allocation fail.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <cstdint>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "allocator_test_util.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/stats.hpp"

namespace tensortier {
namespace {

using test::budgets_respected;
using test::fill_pattern;
using test::kKiB;
using test::kMiB;
using test::make_allocator;
using test::pattern_intact;
using test::small_options;

constexpr std::uint64_t kNone = UINT64_MAX;
constexpr std::size_t kPage = 4096;

struct ModelBlock {
  char* p = nullptr;
  std::size_t requested = 0;  // bytes asked for (and patterned)
  std::size_t mapped = 0;     // page rounded: what the budgets count
  bool fast = true;
  int pins = 0;
  std::uint64_t last_use = 0;
  std::uint64_t next_use = kNone;
  std::uint64_t seed = 0;
};

// The documented behaviour of Allocator, one DRAM tier and at most one PMem
// tier, single-threaded (asynchronous advice is waited for).
class Model {
 public:
  Model(std::uint64_t dram_limit, std::uint64_t pmem_limit, Policy policy)
      : dram_limit_(dram_limit), pmem_limit_(pmem_limit), policy_(policy) {}

  std::vector<ModelBlock> blocks;
  std::uint64_t allocations = 0, frees = 0, failed = 0, demotions = 0, promotions = 0;

  std::uint64_t used(bool fast) const {
    std::uint64_t sum = 0;
    for (const auto& b : blocks)
      if (b.fast == fast) sum += b.mapped;
    return sum;
  }
  std::uint64_t count(bool fast) const {
    return static_cast<std::uint64_t>(
        std::count_if(blocks.begin(), blocks.end(), [&](const ModelBlock& b) { return b.fast == fast; }));
  }
  bool pmem_fits(std::size_t bytes) const { return used(false) + bytes <= pmem_limit_; }
  bool dram_fits(std::size_t bytes) const { return used(true) + bytes <= dram_limit_; }
  bool migrates() const { return policy_ != Policy::static_placement; }
  void set_step(std::uint64_t step) { step_ = step; }
  std::uint64_t step() const { return step_; }

  // Hint::automatic / hot: DRAM (evicting by policy), then PMem.
  // Hint::cold: PMem, then DRAM without evicting.
  Errc allocate(ModelBlock block, Hint hint) {
    const bool cold = hint == Hint::cold;
    for (int i = 0; i < 2; ++i) {
      const bool fast = (i == 0) != cold;
      bool room;
      if (fast)
        room = dram_fits(block.mapped) || (!cold && make_room(block.mapped, nullptr, 0));
      else
        room = pmem_fits(block.mapped);
      if (!room) continue;
      block.fast = fast;
      block.last_use = ++tick_;
      blocks.push_back(block);
      allocations++;
      return Errc::ok;
    }
    failed++;
    return Errc::no_space;
  }

  void free(std::size_t i) {
    blocks.erase(blocks.begin() + static_cast<std::ptrdiff_t>(i));
    frees++;
  }

  Errc demote(ModelBlock& b) {
    if (b.pins > 0) return Errc::invalid_argument;
    if (!b.fast) return Errc::ok;
    if (!pmem_fits(b.mapped)) return Errc::no_space;
    b.fast = false;
    demotions++;
    return Errc::ok;
  }

  // Explicit promote(): pinned blocks are refused.
  Errc promote(ModelBlock& b) {
    if (b.pins > 0) return Errc::invalid_argument;
    return promote_unpinned(b, 0);
  }

  void pin(ModelBlock& b) {
    b.last_use = ++tick_;
    if (!b.fast && migrates()) (void)promote_unpinned(b, 0);  // best effort
    b.pins++;
  }

  Errc unpin(ModelBlock& b) {
    if (b.pins == 0) return Errc::invalid_argument;
    b.pins--;
    return Errc::ok;
  }

  Errc advise(ModelBlock& b, Advice advice) {
    switch (advice) {
      case Advice::hot:
        b.last_use = ++tick_;
        if (!migrates() || b.pins > 0) return Errc::ok;
        return promote_unpinned(b, 0);
      case Advice::will_need:  // the mover prefetches; the test waits for it
        b.last_use = ++tick_;
        if (migrates() && !b.fast && b.pins == 0)
          (void)promote_unpinned(b, b.next_use == kNone ? 0 : b.next_use);
        return Errc::ok;
      case Advice::cold:
      case Advice::wont_need:
        if (migrates() && b.fast && b.pins == 0) (void)demote(b);
        return Errc::ok;
    }
    return Errc::ok;
  }

 private:
  // Next use as the policy sees it: uses already past are unknown (farthest).
  std::uint64_t next_key(const ModelBlock& b) const { return b.next_use < step_ ? kNone : b.next_use; }

  Errc promote_unpinned(ModelBlock& b, std::uint64_t protect) {
    if (b.fast) return Errc::ok;
    if (!make_room(b.mapped, &b, protect)) return Errc::no_space;
    b.fast = true;
    promotions++;
    return Errc::ok;
  }

  // Demotes DRAM blocks by policy until `bytes` fit. Pinned blocks, `exclude`
  // and (for a prefetch) blocks needed no later than `protect` are kept. Gives
  // up without moving anything when even evicting every candidate could not
  // make room; stops when PMem cannot take the next victim.
  bool make_room(std::size_t bytes, const ModelBlock* exclude, std::uint64_t protect) {
    for (;;) {
      if (dram_fits(bytes)) return true;
      if (!migrates()) return false;
      std::vector<ModelBlock*> candidates;
      std::uint64_t reclaimable = dram_limit_ - used(true);
      for (auto& b : blocks) {
        if (!b.fast || b.pins > 0 || &b == exclude) continue;
        if (protect != 0 && next_key(b) <= protect) continue;
        candidates.push_back(&b);
        reclaimable += b.mapped;
      }
      if (candidates.empty() || reclaimable < bytes) return false;
      auto before = [&](const ModelBlock* x, const ModelBlock* y) {
        if (policy_ == Policy::next_use && next_key(*x) != next_key(*y))
          return next_key(*x) > next_key(*y);
        return x->last_use < y->last_use;
      };
      ModelBlock* victim = *std::min_element(candidates.begin(), candidates.end(), before);
      if (!pmem_fits(victim->mapped)) return false;
      victim->fast = false;
      demotions++;
    }
  }

  const std::uint64_t dram_limit_;
  const std::uint64_t pmem_limit_;
  const Policy policy_;
  std::uint64_t tick_ = 0;
  std::uint64_t step_ = 0;
};

struct PropertySetup {
  const char* name;
  Policy policy;
  bool uniform_sizes;          // every block maps to kUnit: no fragmentation anywhere
  std::uint64_t dram_bytes;
  std::uint64_t pmem_bytes;    // 0: no PMem tier
  std::uint64_t seed;
  int operations;
};

std::ostream& operator<<(std::ostream& out, const PropertySetup& s) { return out << s.name; }

constexpr std::size_t kUnit = 64 * kKiB;
// Mixed sizes stay under this many live blocks, so that the (large) PMem file
// can never be too fragmented for a block that fits its budget.
constexpr std::size_t kMixedMaxLive = 40;

class AllocatorProperty : public ::testing::TestWithParam<PropertySetup> {
 protected:
  void SetUp() override {
    const auto& s = GetParam();
    alloc = make_allocator(small_options(
        s.dram_bytes, s.pmem_bytes == 0 ? std::nullopt : std::optional<std::uint64_t>(s.pmem_bytes),
        s.policy));
    ASSERT_NE(alloc, nullptr);
    model.emplace(s.dram_bytes, s.pmem_bytes, s.policy);
    dram = test::dram_tier(*alloc);
    pmem = test::pmem_tier(*alloc);
  }

  // Checks every property; `touched` blocks (and all of them every so often)
  // are compared in full, the others one word per page.
  void check(const std::string& op, const std::vector<char*>& touched, bool full) {
    SCOPED_TRACE(op);
    const Stats stats = alloc->stats();
    ASSERT_TRUE(budgets_respected(stats));
    ASSERT_EQ(stats.tiers[dram].current_bytes, model->used(true));
    ASSERT_EQ(stats.tiers[dram].blocks, model->count(true));
    if (pmem >= 0) {
      ASSERT_EQ(stats.tiers[pmem].current_bytes, model->used(false));
      ASSERT_EQ(stats.tiers[pmem].blocks, model->count(false));
    }
    ASSERT_EQ(stats.allocations, model->allocations);
    ASSERT_EQ(stats.frees, model->frees);
    ASSERT_EQ(stats.failed_allocations, model->failed);
    ASSERT_EQ(stats.demotions, model->demotions);
    ASSERT_EQ(stats.promotions, model->promotions);
    for (const ModelBlock& b : model->blocks) {
      ASSERT_EQ(alloc->tier_of(b.p), b.fast ? dram : pmem)
          << "block " << static_cast<void*>(b.p) << " of " << b.mapped << " bytes";
      ASSERT_EQ(alloc->tier_of(b.p + b.requested - 1), b.fast ? dram : pmem);
      const bool whole = full || std::find(touched.begin(), touched.end(), b.p) != touched.end();
      if (whole) {
        ASSERT_TRUE(pattern_intact(b.p, b.requested, b.seed))
            << "block " << static_cast<void*>(b.p) << " first differs at "
            << test::pattern_mismatch(b.p, b.requested, b.seed);
      } else {
        // One word per page (pages are what moves), at a page-specific offset.
        for (std::size_t off = 0; off + 8 <= b.requested; off += kPage) {
          const std::size_t word = (off + (off / kPage * 72) % kPage) / 8;
          if (word * 8 + 8 > b.requested) break;
          std::uint64_t value;
          std::memcpy(&value, b.p + word * 8, 8);
          ASSERT_EQ(value, test::pattern_word(b.seed, word))
              << "block " << static_cast<void*>(b.p) << " word " << word;
        }
      }
    }
  }

  // The model's blocks (pins, last use, next use) next to where they really are.
  std::string describe_blocks() const {
    std::ostringstream out;
    for (const ModelBlock& b : model->blocks)
      out << "  " << static_cast<void*>(b.p) << " " << b.mapped << (b.fast ? " dram" : " pmem")
          << " (real tier " << alloc->tier_of(b.p) << ") pins " << b.pins << " last_use "
          << b.last_use << " next_use " << b.next_use << "\n";
    return out.str();
  }

  std::size_t pick(std::mt19937_64& rng) const { return rng() % model->blocks.size(); }

  std::unique_ptr<Allocator> alloc;
  std::optional<Model> model;
  int dram = 0, pmem = -1;
};

TEST_P(AllocatorProperty, RandomOperationsMatchTheModel) {
  const PropertySetup& setup = GetParam();
  std::mt19937_64 rng(setup.seed);
  std::uint64_t next_seed = 1;
  std::uint64_t step = 0;
  static constexpr std::size_t kAlignments[] = {8, 64, 4096, 64 * 1024, 2 << 20};
  static constexpr Advice kAdvice[] = {Advice::hot, Advice::cold, Advice::will_need,
                                       Advice::wont_need};
  std::ostringstream history;  // the last operations, for a failure message

  for (int i = 0; i < setup.operations; ++i) {
    std::vector<char*> touched;
    std::ostringstream op;
    op << "op " << i << ": ";
    const unsigned dice = static_cast<unsigned>(rng() % 100);
    const bool empty = model->blocks.empty();
    const bool crowded = !setup.uniform_sizes && model->blocks.size() >= kMixedMaxLive;

    if (empty || (dice < 30 && !crowded)) {
      // allocate
      std::size_t bytes = setup.uniform_sizes ? kUnit - rng() % kPage : 1 + rng() % (4 * kUnit);
      const std::size_t alignment = kAlignments[rng() % 5];
      const unsigned h = static_cast<unsigned>(rng() % 4);
      const Hint hint = h == 0 ? Hint::cold : h == 1 ? Hint::hot : Hint::automatic;
      op << "allocate " << bytes << " align " << alignment << " hint " << h;
      ModelBlock b;
      b.requested = bytes;
      b.mapped = (bytes + kPage - 1) / kPage * kPage;
      b.seed = next_seed++;
      auto r = alloc->try_allocate(bytes, alignment, hint);
      // The model learns the address from the allocator: placement is checked
      // through tier_of, not through addresses.
      if (r) b.p = static_cast<char*>(*r);
      const Errc expected = model->allocate(b, hint);
      ASSERT_EQ(r.status().code(), expected)
          << op.str() << ": " << r.status().message() << "\nmodel: DRAM " << model->used(true)
          << " PMem " << model->used(false) << "\n" << stats_to_json(alloc->stats())
          << "\nblocks:\n" << describe_blocks()
          << "\nhistory:\n" << history.str();
      if (r) {
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(*r) % alignment, 0u);
        ASSERT_EQ(alloc->block_bytes(*r), b.mapped);
        fill_pattern(*r, bytes, b.seed);
        touched.push_back(b.p);
      }
    } else if (dice < 48) {
      // free, sometimes followed by a double free
      const std::size_t k = pick(rng);
      char* p = model->blocks[k].p;
      op << "free " << static_cast<void*>(p);
      ASSERT_TRUE(pattern_intact(p, model->blocks[k].requested, model->blocks[k].seed)) << op.str();
      Status s = alloc->deallocate(p);
      ASSERT_TRUE(s.is_ok()) << op.str() << ": " << s.message();
      model->free(k);
      if (rng() % 4 == 0) {
        op << " twice";
        ASSERT_EQ(alloc->deallocate(p).code(), Errc::invalid_argument) << op.str();
      }
    } else if (dice < 56) {
      ModelBlock& b = model->blocks[pick(rng)];
      op << "pin " << static_cast<void*>(b.p);
      ASSERT_TRUE(alloc->pin(b.p).is_ok()) << op.str();
      model->pin(b);
      touched.push_back(b.p);
    } else if (dice < 64) {
      ModelBlock& b = model->blocks[pick(rng)];
      op << "unpin " << static_cast<void*>(b.p);
      ASSERT_EQ(alloc->unpin(b.p).code(), model->unpin(b)) << op.str();
    } else if (dice < 72) {
      ModelBlock& b = model->blocks[pick(rng)];
      op << "demote " << static_cast<void*>(b.p);
      Status s = alloc->demote(b.p);
      ASSERT_EQ(s.code(), model->demote(b)) << op.str() << ": " << s.message() << "\nhistory:\n"
                                            << history.str();
      touched.push_back(b.p);
    } else if (dice < 80) {
      ModelBlock& b = model->blocks[pick(rng)];
      op << "promote " << static_cast<void*>(b.p);
      Status s = alloc->promote(b.p);
      ASSERT_EQ(s.code(), model->promote(b)) << op.str() << ": " << s.message() << "\nhistory:\n"
                                             << history.str();
      touched.push_back(b.p);
    } else if (dice < 90) {
      ModelBlock& b = model->blocks[pick(rng)];
      const Advice advice = kAdvice[rng() % 4];
      op << "advise " << static_cast<int>(advice) << " " << static_cast<void*>(b.p);
      Status s = alloc->advise(b.p, advice);
      alloc->wait_for_moves();
      ASSERT_EQ(s.code(), model->advise(b, advice)) << op.str() << ": " << s.message();
      touched.push_back(b.p);
    } else if (dice < 95) {
      ModelBlock& b = model->blocks[pick(rng)];
      b.next_use = step + rng() % 64;
      op << "next_use " << b.next_use << " " << static_cast<void*>(b.p);
      ASSERT_TRUE(alloc->set_next_use(b.p, b.next_use).is_ok());
      if (rng() % 2 == 0) {
        step += rng() % 8;
        op << ", step " << step;
        alloc->set_current_step(step);
        model->set_step(step);
      }
    } else {
      // rewrite a block: writes land wherever it lives now
      ModelBlock& b = model->blocks[pick(rng)];
      b.seed = next_seed++;
      op << "write " << static_cast<void*>(b.p);
      fill_pattern(b.p, b.requested, b.seed);
      touched.push_back(b.p);
    }
    history << op.str() << "\n";
    if (i % 40 == 39) history.str("");
    ASSERT_NO_FATAL_FAILURE(check(op.str(), touched, i % 50 == 0))
        << "\nhistory:\n" << history.str();
  }

  // Every kind of outcome happened, or the sequence proved little.
  const Stats stats = alloc->stats();
  EXPECT_GT(stats.allocations, 100u);
  EXPECT_GT(stats.frees, 50u);
  if (setup.uniform_sizes) {
    EXPECT_GT(stats.failed_allocations, 0u) << "tiers never filled up";
  }
  if (setup.policy != Policy::static_placement && setup.pmem_bytes > 0) {
    EXPECT_GT(stats.demotions, 20u);
    EXPECT_GT(stats.promotions, 20u);
  }
  std::cout << "[ property ] " << setup.name << ": " << stats.allocations << " allocations, "
            << stats.failed_allocations << " failed, " << stats.demotions << " demotions, "
            << stats.promotions << " promotions\n";

  for (const ModelBlock& b : model->blocks) {
    while (b.pins > 0 && alloc->unpin(b.p).is_ok()) {
    }
    ASSERT_TRUE(alloc->deallocate(b.p).is_ok());
  }
  for (const auto& t : alloc->stats().tiers) EXPECT_EQ(t.current_bytes, 0u) << t.name;
}

INSTANTIATE_TEST_SUITE_P(
    FixedSeeds, AllocatorProperty,
    ::testing::Values(
        // Uniform sizes: both tiers fill up; every failure is predicted.
        PropertySetup{"UniformLru", Policy::lru, true, 8 * kUnit, 16 * kUnit, 0x5eed0001, 2500},
        PropertySetup{"UniformNextUse", Policy::next_use, true, 8 * kUnit, 16 * kUnit, 0x5eed0002,
                      2500},
        PropertySetup{"UniformStatic", Policy::static_placement, true, 8 * kUnit, 16 * kUnit,
                      0x5eed0003, 2500},
        PropertySetup{"UniformDramOnly", Policy::lru, true, 16 * kUnit, 0, 0x5eed0004, 2000},
        // Mixed sizes (1 byte to 256 KiB): several victims per request, partial
        // evictions, cache misses; PMem big enough never to fragment.
        PropertySetup{"MixedLru", Policy::lru, false, 1 * kMiB, 64 * kMiB, 0x5eed0005, 2500},
        PropertySetup{"MixedNextUse", Policy::next_use, false, 1 * kMiB, 64 * kMiB, 0x5eed0006,
                      2500},
        PropertySetup{"MixedStatic", Policy::static_placement, false, 1 * kMiB, 64 * kMiB,
                      0x5eed0007, 2000}),
    [](const ::testing::TestParamInfo<PropertySetup>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace tensortier
