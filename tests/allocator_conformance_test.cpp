// The tiered allocator: one conformance suite instantiated over every tier
// configuration this machine can build (DRAM + emulated file PMem, DRAM only,
// PMem-heavy with a tiny DRAM budget, Optane-throttled).
#include <gtest/gtest.h>
#include <linux/mempolicy.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory_resource>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocator_test_util.hpp"
#include "hardware_skip.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/stats.hpp"

namespace tensortier {
namespace {

using test::budgets_respected;
using test::dram_tier;
using test::fill_pattern;
using test::kKiB;
using test::kMiB;
using test::make_allocator;
using test::pattern_intact;
using test::pmem_tier;
using test::small_options;


// ---- conformance over tier configurations ------------------------------------

struct TierSetup {
  const char* name;
  std::uint64_t dram_bytes;
  std::optional<std::uint64_t> pmem_bytes;
  bool throttle = false;
};

std::ostream& operator<<(std::ostream& out, const TierSetup& s) { return out << s.name; }

class AllocatorConformance : public ::testing::TestWithParam<TierSetup> {
 protected:
  void SetUp() override {
    AllocatorOptions options = small_options(GetParam().dram_bytes, GetParam().pmem_bytes);
    if (GetParam().throttle) {
      // Fast enough to keep the suite quick, slow enough to be the bottleneck.
      options.throttle.enabled = true;
      options.throttle.read_gbps_per_dimm = 8;
      options.throttle.write_gbps_per_dimm = 4;
    }
    alloc = make_allocator(std::move(options));
    ASSERT_NE(alloc, nullptr);
  }

  bool has_pmem() const { return GetParam().pmem_bytes.has_value(); }
  // A block size that fits the DRAM budget a few times over.
  std::size_t unit() const {
    return static_cast<std::size_t>(std::min<std::uint64_t>(kMiB, GetParam().dram_bytes / 4));
  }
  std::uint64_t total_limit() const {
    return GetParam().dram_bytes + GetParam().pmem_bytes.value_or(0);
  }

  std::unique_ptr<Allocator> alloc;
};

TEST_P(AllocatorConformance, TiersMatchTheConfiguration) {
  const auto& tiers = alloc->tiers();
  ASSERT_EQ(tiers.size(), has_pmem() ? 2u : 1u);
  EXPECT_EQ(tiers[0].kind, TierKind::dram);
  EXPECT_EQ(tiers[0].name, "dram0");
  const Stats stats = alloc->stats();
  ASSERT_EQ(stats.tiers.size(), tiers.size());
  EXPECT_EQ(stats.tiers[0].limit_bytes, GetParam().dram_bytes);
  EXPECT_EQ(stats.tiers[0].kind, "dram");
  if (has_pmem()) {
    EXPECT_EQ(tiers[1].kind, TierKind::pmem_file);
    EXPECT_EQ(tiers[1].name, "pmem_file");
    EXPECT_TRUE(tiers[1].medium == "emulated" || tiers[1].medium == "fsdax") << tiers[1].medium;
    EXPECT_EQ(stats.tiers[1].limit_bytes, *GetParam().pmem_bytes);
  }
  for (const auto& t : stats.tiers) {
    EXPECT_EQ(t.current_bytes, 0u) << t.name;
    EXPECT_EQ(t.blocks, 0u) << t.name;
  }
}

TEST_P(AllocatorConformance, BlocksAreAlignedWritableAndDisjoint) {
  const std::vector<std::size_t> sizes = {1,     8,          100,      4095,
                                          4096,  4097,       65536 + 3, 1 << 20,
                                          (3 << 20) + 17};
  const std::vector<std::size_t> alignments = {1, 8, 64, 4096, 2 << 20};
  struct Live {
    char* p;
    std::size_t bytes;
    std::uint64_t seed;
  };
  std::vector<Live> live;
  std::uint64_t seed = 1;
  for (std::size_t alignment : alignments) {
    for (std::size_t bytes : sizes) {
      auto r = alloc->try_allocate(bytes, alignment);
      ASSERT_TRUE(r.has_value()) << bytes << " bytes aligned " << alignment << ": "
                                 << r.status().message();
      char* p = static_cast<char*>(*r);
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % alignment, 0u) << alignment;
      EXPECT_GE(alloc->block_bytes(p), bytes);
      EXPECT_TRUE(alloc->owns(p));
      EXPECT_GE(alloc->tier_of(p), 0);
      fill_pattern(p, bytes, seed);
      live.push_back({p, bytes, seed++});
    }
  }
  for (const Live& b : live) EXPECT_TRUE(pattern_intact(b.p, b.bytes, b.seed)) << b.bytes;

  std::vector<Live> sorted = live;
  std::sort(sorted.begin(), sorted.end(), [](const Live& a, const Live& b) { return a.p < b.p; });
  for (std::size_t i = 1; i < sorted.size(); ++i)
    EXPECT_LE(sorted[i - 1].p + alloc->block_bytes(sorted[i - 1].p), sorted[i].p) << "overlap";

  Stats stats = alloc->stats();
  EXPECT_TRUE(budgets_respected(stats));
  std::uint64_t blocks = 0;
  for (const auto& t : stats.tiers) blocks += t.blocks;
  EXPECT_EQ(blocks, live.size());

  for (const Live& b : live) ASSERT_TRUE(alloc->deallocate(b.p).is_ok());
  stats = alloc->stats();
  for (const auto& t : stats.tiers) {
    EXPECT_EQ(t.current_bytes, 0u) << t.name;
    EXPECT_EQ(t.blocks, 0u) << t.name;
  }
  EXPECT_EQ(stats.allocations, live.size());
  EXPECT_EQ(stats.frees, live.size());
  EXPECT_EQ(stats.failed_allocations, 0u);
  EXPECT_TRUE(budgets_respected(stats));
}

TEST_P(AllocatorConformance, LookupsKnowTheirBlocks) {
  const std::size_t bytes = unit() + 123;
  char* p = static_cast<char*>(alloc->allocate(bytes));
  const int tier = alloc->tier_of(p);
  ASSERT_GE(tier, 0);
  EXPECT_EQ(alloc->tier_of(p + bytes - 1), tier) << "interior pointer";
  EXPECT_EQ(alloc->block_bytes(p + 1), 0u) << "interior pointer is not a block";
  int on_stack = 0;
  std::vector<char> on_heap(64);
  EXPECT_EQ(alloc->tier_of(&on_stack), -1);
  EXPECT_EQ(alloc->tier_of(on_heap.data()), -1);
  EXPECT_FALSE(alloc->owns(&on_stack));
  EXPECT_FALSE(alloc->owns(on_heap.data()));
  EXPECT_EQ(alloc->block_bytes(on_heap.data()), 0u);
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
  EXPECT_EQ(alloc->tier_of(p), -1) << "freed";
  EXPECT_EQ(alloc->block_bytes(p), 0u) << "freed";
}

TEST_P(AllocatorConformance, MigrationRoundTripsKeepContentAndAddress) {
  const std::size_t bytes = unit() + 4096 + 5;  // not a multiple of the page
  char* p = static_cast<char*>(alloc->allocate(bytes, 64, Hint::hot));
  const std::size_t mapped = alloc->block_bytes(p);
  const int dram = dram_tier(*alloc);
  ASSERT_EQ(alloc->tier_of(p), dram);
  fill_pattern(p, bytes, 100);

  if (!has_pmem()) {
    Status s = alloc->demote(p);
    EXPECT_EQ(s.code(), Errc::no_space) << s.message();
    EXPECT_EQ(alloc->tier_of(p), dram);
    EXPECT_TRUE(pattern_intact(p, bytes, 100));
    EXPECT_TRUE(alloc->promote(p).is_ok()) << "already in DRAM";
    EXPECT_EQ(alloc->stats().demotions, 0u);
    ASSERT_TRUE(alloc->deallocate(p).is_ok());
    return;
  }
  const int pmem = pmem_tier(*alloc);
  for (std::uint64_t round = 0; round < 3; ++round) {
    const std::uint64_t seed = 100 + 2 * round;
    ASSERT_TRUE(pattern_intact(p, bytes, seed));
    Status s = alloc->demote(p);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(alloc->tier_of(p), pmem);
    EXPECT_EQ(alloc->tier_of(p + bytes - 1), pmem);
    EXPECT_EQ(alloc->block_bytes(p), mapped) << "same block, same address";
    EXPECT_TRUE(pattern_intact(p, bytes, seed)) << "content after demotion, round " << round;
    fill_pattern(p, bytes, seed + 1);  // writable in PMem
    s = alloc->promote(p);
    ASSERT_TRUE(s.is_ok()) << s.message();
    EXPECT_EQ(alloc->tier_of(p), dram);
    EXPECT_TRUE(pattern_intact(p, bytes, seed + 1)) << "content after promotion, round " << round;
    fill_pattern(p, bytes, seed + 2);
  }
  // Moving to where it already is changes nothing.
  EXPECT_TRUE(alloc->promote(p).is_ok());
  Stats stats = alloc->stats();
  EXPECT_EQ(stats.demotions, 3u);
  EXPECT_EQ(stats.promotions, 3u);
  EXPECT_EQ(stats.bytes_demoted, 3 * mapped);
  EXPECT_EQ(stats.bytes_promoted, 3 * mapped);
  EXPECT_GT(stats.migration_seconds, 0.0);
  EXPECT_GT(stats.projected_optane_seconds, 0.0);
  ASSERT_TRUE(alloc->demote(p).is_ok());
  EXPECT_TRUE(alloc->demote(p).is_ok()) << "already in PMem";
  EXPECT_EQ(alloc->stats().demotions, 4u);
  EXPECT_TRUE(pattern_intact(p, bytes, 106));
  EXPECT_TRUE(budgets_respected(alloc->stats()));
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
  for (const auto& t : alloc->stats().tiers) EXPECT_EQ(t.current_bytes, 0u) << t.name;
}

TEST_P(AllocatorConformance, FullTiersFailCleanlyAndLoseNothing) {
  const std::size_t bytes = unit();
  std::vector<char*> live;
  Result<void*> failure(Errc::internal, "never failed");
  const std::size_t cap = total_limit() / bytes + 4;
  for (std::size_t i = 0; i < cap; ++i) {
    auto r = alloc->try_allocate(bytes);
    if (!r) {
      failure = r;
      break;
    }
    fill_pattern(*r, bytes, i);
    live.push_back(static_cast<char*>(*r));
    ASSERT_TRUE(budgets_respected(alloc->stats()));
  }
  ASSERT_FALSE(failure.has_value());
  EXPECT_EQ(failure.status().code(), Errc::no_space) << failure.status().message();
  EXPECT_FALSE(failure.status().message().empty());
  // Every byte of every budget is in use by the time allocation fails.
  EXPECT_EQ(live.size() * bytes, total_limit());
  EXPECT_THROW(alloc->allocate(bytes), std::bad_alloc);
  Stats stats = alloc->stats();
  EXPECT_EQ(stats.failed_allocations, 2u);
  EXPECT_TRUE(budgets_respected(stats));
  for (const auto& t : stats.tiers) EXPECT_EQ(t.current_bytes, t.limit_bytes) << t.name;
  for (std::size_t i = 0; i < live.size(); ++i)
    ASSERT_TRUE(pattern_intact(live[i], bytes, i)) << "block " << i << " lost its content";

  // Room again after a free: nothing leaked.
  ASSERT_TRUE(alloc->deallocate(live.back()).is_ok());
  live.pop_back();
  auto again = alloc->try_allocate(bytes);
  ASSERT_TRUE(again.has_value()) << again.status().message();
  live.push_back(static_cast<char*>(*again));
  fill_pattern(*again, bytes, live.size() - 1);
  for (std::size_t i = 0; i < live.size(); ++i)
    ASSERT_TRUE(pattern_intact(live[i], bytes, i)) << "block " << i;
  for (char* p : live) ASSERT_TRUE(alloc->deallocate(p).is_ok());
  for (const auto& t : alloc->stats().tiers) EXPECT_EQ(t.current_bytes, 0u) << t.name;
}

TEST_P(AllocatorConformance, BadInputGetsAClearStatusAndChangesNothing) {
  const std::size_t bytes = unit();
  char* kept = static_cast<char*>(alloc->allocate(bytes));
  fill_pattern(kept, bytes, 7);
  const int kept_tier = alloc->tier_of(kept);
  const Stats before = alloc->stats();

  // Zero size.
  auto zero = alloc->try_allocate(0);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.status().code(), Errc::invalid_argument);
  EXPECT_NE(zero.status().message().find("0 bytes"), std::string::npos) << zero.status().message();
  EXPECT_THROW(alloc->allocate(0), std::invalid_argument);

  // Sizes that overflow (page rounding, internal sums).
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  for (std::size_t huge : {kMax, kMax - 100, kMax - 4096, (std::size_t{1} << 62) + 1,
                           std::size_t{1} << 63}) {
    auto r = alloc->try_allocate(huge);
    ASSERT_FALSE(r.has_value()) << huge;
    EXPECT_EQ(r.status().code(), Errc::invalid_argument) << huge << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(std::to_string(huge)), std::string::npos)
        << r.status().message();
    EXPECT_THROW(alloc->allocate(huge), std::invalid_argument);
  }

  // Alignments that are not a power of two up to 2 MiB.
  for (std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{48},
                                std::size_t{1000}, std::size_t{4} << 20,
                                std::size_t{1} << 63, kMax}) {
    auto r = alloc->try_allocate(4096, alignment);
    ASSERT_FALSE(r.has_value()) << alignment;
    EXPECT_EQ(r.status().code(), Errc::invalid_argument);
    EXPECT_NE(r.status().message().find("alignment"), std::string::npos) << r.status().message();
    EXPECT_THROW(alloc->allocate(4096, alignment), std::invalid_argument);
  }

  // Pointers that are not from this allocator.
  void* foreign_heap = std::malloc(4096);
  int on_stack = 0;
  for (void* foreign : {foreign_heap, static_cast<void*>(&on_stack)}) {
    Status s = alloc->deallocate(foreign);
    EXPECT_EQ(s.code(), Errc::invalid_argument);
    EXPECT_NE(s.message().find("not allocated by this allocator"), std::string::npos)
        << s.message();
    EXPECT_EQ(alloc->pin(foreign).code(), Errc::invalid_argument);
    EXPECT_EQ(alloc->unpin(foreign).code(), Errc::invalid_argument);
    EXPECT_EQ(alloc->advise(foreign, Advice::cold).code(), Errc::invalid_argument);
    EXPECT_EQ(alloc->advise(foreign, Advice::hot).code(), Errc::invalid_argument);
    EXPECT_EQ(alloc->demote(foreign).code(), Errc::invalid_argument);
    EXPECT_EQ(alloc->promote(foreign).code(), Errc::invalid_argument);
    EXPECT_EQ(alloc->set_next_use(foreign, 5).code(), Errc::invalid_argument);
    EXPECT_THROW(alloc->pin_guard(foreign), std::invalid_argument);
  }
  std::free(foreign_heap);
  EXPECT_EQ(alloc->deallocate(nullptr).code(), Errc::invalid_argument);

  // An interior pointer of a live block.
  Status interior = alloc->deallocate(kept + 64);
  EXPECT_EQ(interior.code(), Errc::invalid_argument);
  EXPECT_NE(interior.message().find("not the start of a live block"), std::string::npos)
      << interior.message();
  EXPECT_EQ(alloc->demote(kept + 4096).code(), Errc::invalid_argument);
  // Unpinning what is not pinned.
  EXPECT_EQ(alloc->unpin(kept).code(), Errc::invalid_argument);

  // Double free.
  void* once = alloc->allocate(4096);
  ASSERT_TRUE(alloc->deallocate(once).is_ok());
  Status twice = alloc->deallocate(once);
  EXPECT_EQ(twice.code(), Errc::invalid_argument);
  EXPECT_NE(twice.message().find("double free"), std::string::npos) << twice.message();

  // Nothing was corrupted, nothing counted twice.
  EXPECT_TRUE(pattern_intact(kept, bytes, 7));
  EXPECT_EQ(alloc->tier_of(kept), kept_tier);
  const Stats after = alloc->stats();
  EXPECT_EQ(after.allocations, before.allocations + 1);
  EXPECT_EQ(after.frees, before.frees + 1);
  EXPECT_EQ(after.failed_allocations, before.failed_allocations);
  for (std::size_t t = 0; t < after.tiers.size(); ++t)
    EXPECT_EQ(after.tiers[t].current_bytes, before.tiers[t].current_bytes) << after.tiers[t].name;
  ASSERT_TRUE(alloc->deallocate(kept).is_ok());
}

// A request no tier can ever hold fails at once: it must not demote every
// DRAM block on the way to finding that out.
TEST_P(AllocatorConformance, ImpossibleSizeFailsWithoutEvicting) {
  const std::size_t bytes = unit() / 2;
  char* a = static_cast<char*>(alloc->allocate(bytes, 64, Hint::hot));
  char* b = static_cast<char*>(alloc->allocate(bytes, 64, Hint::hot));
  fill_pattern(a, bytes, 1);
  fill_pattern(b, bytes, 2);
  const int dram = dram_tier(*alloc);
  ASSERT_EQ(alloc->tier_of(a), dram);
  ASSERT_EQ(alloc->tier_of(b), dram);
  for (std::size_t huge : {std::size_t{1} << 40, std::size_t{1} << 62,
                           static_cast<std::size_t>(total_limit() + 4096)}) {
    auto r = alloc->try_allocate(huge);
    ASSERT_FALSE(r.has_value()) << huge;
    EXPECT_EQ(r.status().code(), Errc::no_space) << r.status().message();
    EXPECT_THROW(alloc->allocate(huge), std::bad_alloc);
  }
  EXPECT_EQ(alloc->stats().demotions, 0u) << "evicted for a request that could never fit";
  EXPECT_EQ(alloc->tier_of(a), dram);
  EXPECT_EQ(alloc->tier_of(b), dram);
  EXPECT_TRUE(pattern_intact(a, bytes, 1));
  EXPECT_TRUE(pattern_intact(b, bytes, 2));
  EXPECT_EQ(alloc->stats().failed_allocations, 6u);
  ASSERT_TRUE(alloc->deallocate(a).is_ok());
  ASSERT_TRUE(alloc->deallocate(b).is_ok());
}

TEST_P(AllocatorConformance, PinnedBlocksNeverMove) {
  const std::size_t bytes = unit() / 2;
  const int dram = dram_tier(*alloc);
  char* pinned = static_cast<char*>(alloc->allocate(bytes, 64, Hint::hot));
  fill_pattern(pinned, bytes, 42);
  ASSERT_TRUE(alloc->pin(pinned).is_ok());
  ASSERT_TRUE(alloc->pin(pinned).is_ok());  // pins nest

  Status s = alloc->demote(pinned);
  EXPECT_EQ(s.code(), Errc::invalid_argument);
  EXPECT_NE(s.message().find("pinned"), std::string::npos) << s.message();
  EXPECT_TRUE(alloc->advise(pinned, Advice::cold).is_ok());
  EXPECT_TRUE(alloc->advise(pinned, Advice::wont_need).is_ok());
  alloc->wait_for_moves();
  EXPECT_EQ(alloc->tier_of(pinned), dram);

  // DRAM pressure evicts everything else, never the pinned block.
  std::vector<void*> others;
  const std::size_t n = GetParam().dram_bytes / bytes + 2;
  for (std::size_t i = 0; i < n; ++i) {
    auto r = alloc->try_allocate(bytes, 64, Hint::hot);
    if (r) others.push_back(*r);
    EXPECT_EQ(alloc->tier_of(pinned), dram) << "after allocation " << i;
  }
  if (has_pmem()) {
    EXPECT_GT(alloc->stats().demotions, 0u);
  }
  EXPECT_TRUE(pattern_intact(pinned, bytes, 42));

  ASSERT_TRUE(alloc->unpin(pinned).is_ok());
  EXPECT_EQ(alloc->demote(pinned).code(), Errc::invalid_argument) << "still pinned once";
  ASSERT_TRUE(alloc->unpin(pinned).is_ok());
  EXPECT_EQ(alloc->unpin(pinned).code(), Errc::invalid_argument);
  if (has_pmem()) {
    ASSERT_TRUE(alloc->demote(pinned).is_ok());
    EXPECT_EQ(alloc->tier_of(pinned), pmem_tier(*alloc));
    // Pinning a PMem block promotes it when DRAM can make room.
    {
      PinGuard guard = alloc->pin_guard(pinned);
      EXPECT_EQ(alloc->tier_of(pinned), dram);
      EXPECT_EQ(alloc->demote(pinned).code(), Errc::invalid_argument);
    }
    EXPECT_TRUE(alloc->demote(pinned).is_ok()) << "the guard unpinned it";
  }
  EXPECT_TRUE(pattern_intact(pinned, bytes, 42));
  for (void* p : others) ASSERT_TRUE(alloc->deallocate(p).is_ok());
  ASSERT_TRUE(alloc->deallocate(pinned).is_ok());
}

TEST_P(AllocatorConformance, AdviceMovesBlocksInTheBackground) {
  const std::size_t bytes = unit();
  const int dram = dram_tier(*alloc);
  char* p = static_cast<char*>(alloc->allocate(bytes, 64, Hint::hot));
  fill_pattern(p, bytes, 9);
  ASSERT_TRUE(alloc->advise(p, Advice::cold).is_ok());
  alloc->wait_for_moves();
  if (!has_pmem()) {
    EXPECT_EQ(alloc->tier_of(p), dram) << "nowhere to demote to";
  } else {
    EXPECT_EQ(alloc->tier_of(p), pmem_tier(*alloc));
    ASSERT_TRUE(alloc->advise(p, Advice::will_need).is_ok());
    alloc->wait_for_moves();
    EXPECT_EQ(alloc->tier_of(p), dram);
    ASSERT_TRUE(alloc->advise(p, Advice::wont_need).is_ok());
    alloc->wait_for_moves();
    EXPECT_EQ(alloc->tier_of(p), pmem_tier(*alloc));
    ASSERT_TRUE(alloc->advise(p, Advice::hot).is_ok());  // synchronous
    EXPECT_EQ(alloc->tier_of(p), dram);
    EXPECT_EQ(alloc->stats().demotions, 2u);
    EXPECT_EQ(alloc->stats().promotions, 2u);
  }
  EXPECT_TRUE(pattern_intact(p, bytes, 9));
  // Advice queued for a block freed before the mover gets to it is dropped.
  ASSERT_TRUE(alloc->advise(p, Advice::cold).is_ok());
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
  alloc->wait_for_moves();
  for (const auto& t : alloc->stats().tiers) EXPECT_EQ(t.current_bytes, 0u) << t.name;
}

TEST_P(AllocatorConformance, MemoryResourceServesPmrContainers) {
  MemoryResource resource(*alloc);
  MemoryResource other(*alloc, Hint::cold);
  EXPECT_TRUE(resource.is_equal(other)) << "same allocator";
  {
    std::pmr::vector<std::uint32_t> v(&resource);
    for (std::uint32_t i = 0; i < 200000; ++i) v.push_back(i * 7u);
    EXPECT_TRUE(alloc->owns(v.data()));
    for (std::uint32_t i = 0; i < 200000; ++i) ASSERT_EQ(v[i], i * 7u);
    void* zero = resource.allocate(0, 8);  // pmr allows 0 bytes
    EXPECT_TRUE(alloc->owns(zero));
    resource.deallocate(zero, 0, 8);
  }
  for (const auto& t : alloc->stats().tiers) EXPECT_EQ(t.current_bytes, 0u) << t.name;
}

TEST_P(AllocatorConformance, ConcurrentAllocateAndFreeKeepTheBooks) {
  const std::size_t max_bytes = std::max<std::size_t>(unit() / 4, 8192);
  std::atomic<int> errors{0};
  auto worker = [&](unsigned seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 300; ++i) {
      const std::size_t bytes = 1 + rng() % max_bytes;
      auto r = alloc->try_allocate(bytes);
      if (!r) {
        if (r.status().code() != Errc::no_space) errors++;
        continue;
      }
      fill_pattern(*r, bytes, seed * 1000 + i);
      std::this_thread::yield();
      if (!pattern_intact(*r, bytes, seed * 1000 + i)) errors++;
      if (!alloc->deallocate(*r).is_ok()) errors++;
    }
  };
  std::thread t1(worker, 1), t2(worker, 2);
  worker(3);
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  const Stats stats = alloc->stats();
  EXPECT_EQ(stats.allocations, stats.frees);
  for (const auto& t : stats.tiers) {
    EXPECT_EQ(t.current_bytes, 0u) << t.name;
    EXPECT_EQ(t.blocks, 0u) << t.name;
  }
  EXPECT_TRUE(budgets_respected(stats));
}

TEST_P(AllocatorConformance, StatsJsonHasTheDocumentedFields) {
  char* p = static_cast<char*>(alloc->allocate(unit(), 64, Hint::hot));
  if (has_pmem()) {
    ASSERT_TRUE(alloc->demote(p).is_ok());
  }
  const Stats stats = alloc->stats();
  const auto doc = nlohmann::json::parse(stats_to_json(stats));
  ASSERT_TRUE(doc.contains("tiers"));
  ASSERT_TRUE(doc["tiers"].is_array());
  ASSERT_EQ(doc["tiers"].size(), stats.tiers.size());
  for (std::size_t i = 0; i < stats.tiers.size(); ++i) {
    const auto& t = doc["tiers"][i];
    EXPECT_EQ(t.at("name").get<std::string>(), stats.tiers[i].name);
    EXPECT_EQ(t.at("kind").get<std::string>(), stats.tiers[i].kind);
    EXPECT_EQ(t.at("limit_bytes").get<std::uint64_t>(), stats.tiers[i].limit_bytes);
    EXPECT_EQ(t.at("current_bytes").get<std::uint64_t>(), stats.tiers[i].current_bytes);
    EXPECT_EQ(t.at("peak_bytes").get<std::uint64_t>(), stats.tiers[i].peak_bytes);
    EXPECT_LE(t.at("peak_bytes").get<std::uint64_t>(), t.at("limit_bytes").get<std::uint64_t>());
  }
  EXPECT_EQ(doc["tiers"][0]["kind"], "dram");
  EXPECT_EQ(doc["tiers"][0]["current_bytes"].get<std::uint64_t>(), has_pmem() ? 0u : alloc->block_bytes(p));
  const auto& m = doc.at("migrations");
  EXPECT_EQ(m.at("demotions").get<std::uint64_t>(), has_pmem() ? 1u : 0u);
  EXPECT_EQ(m.at("promotions").get<std::uint64_t>(), 0u);
  EXPECT_EQ(m.at("bytes_demoted").get<std::uint64_t>(), has_pmem() ? alloc->block_bytes(p) : 0u);
  EXPECT_EQ(m.at("bytes_promoted").get<std::uint64_t>(), 0u);
  EXPECT_TRUE(m.contains("projected_optane_seconds"));
  EXPECT_EQ(doc.at("policy"), "lru");
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

INSTANTIATE_TEST_SUITE_P(
    TierConfigurations, AllocatorConformance,
    ::testing::Values(TierSetup{"DramAndFilePmem", 32 * kMiB, 128 * kMiB},
                      TierSetup{"DramOnly", 32 * kMiB, std::nullopt},
                      TierSetup{"PmemHeavy", 2 * kMiB, 128 * kMiB},
                      TierSetup{"OptaneThrottled", 16 * kMiB, 64 * kMiB, true}),
    [](const ::testing::TestParamInfo<TierSetup>& info) { return std::string(info.param.name); });

// ---- NUMA-node PMem (KMEM-DAX) -------------------------------------------------

// The NUMA node of the page at `p` (get_mempolicy MPOL_F_NODE | MPOL_F_ADDR); -1 on error.
int node_of_page(const void* p) {
  int node = -1;
  if (syscall(SYS_get_mempolicy, &node, nullptr, 0, const_cast<void*>(p),
              MPOL_F_NODE | MPOL_F_ADDR) != 0)
    return -1;
  return node;
}

// Between DRAM and a KMEM-DAX node a move rebinds the pages in place: no
// copy, so no write barrier either, and a writer that keeps writing loses
// nothing.
TEST(NumaNodePmem, MovesRebindThePagesInPlace) {
  AllocatorOptions options = small_options(32 * kMiB, std::nullopt);
  options.config.pmem.scheme = PmemSpec::Scheme::kmem;
  auto created = Allocator::create(std::move(options));
  if (!created && created.status().code() == Errc::not_supported)
    TT_SKIP_WITHOUT_HARDWARE(created.status().message());
  ASSERT_TRUE(created) << created.status().message();
  Allocator& alloc = **created;
  int kmem = -1;
  for (std::size_t t = 0; t < alloc.tiers().size(); ++t)
    if (alloc.tiers()[t].kind == TierKind::pmem_kmem && kmem < 0) kmem = static_cast<int>(t);
  ASSERT_GE(kmem, 0) << "TENSORTIER_PMEM=kmem opened no KMEM-DAX tier";
  const int kmem_node = alloc.tiers()[kmem].numa_node;

  const std::size_t bytes = 4 * kMiB;
  char* p = static_cast<char*>(alloc.allocate(bytes, 64, Hint::hot));
  const int dram = alloc.tier_of(p);
  const int dram_node = alloc.tiers()[dram].numa_node;
  const std::size_t data = bytes - 4096;  // the last page is the writer's
  fill_pattern(p, data, 7);

  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> last{0};
  auto* word = reinterpret_cast<volatile std::uint64_t*>(p + data);
  std::thread writer([&] {
    for (std::uint64_t i = 1; !stop.load(std::memory_order_relaxed); ++i) {
      *word = i;
      last.store(i, std::memory_order_relaxed);
    }
  });
  for (int round = 0; round < 3; ++round) {
    Status s = alloc.demote(p);
    ASSERT_TRUE(s) << s.message();
    EXPECT_EQ(alloc.tier_of(p), kmem);
    EXPECT_EQ(node_of_page(p), kmem_node);
    EXPECT_EQ(node_of_page(p + data - 1), kmem_node);
    s = alloc.promote(p);
    ASSERT_TRUE(s) << s.message();
    EXPECT_EQ(alloc.tier_of(p), dram);
    EXPECT_EQ(node_of_page(p), dram_node);
  }
  stop = true;
  writer.join();
  EXPECT_EQ(*word, last.load()) << "the writer's last write survived every move";
  EXPECT_TRUE(pattern_intact(p, data, 7));
  const Stats stats = alloc.stats();
  EXPECT_EQ(stats.demotions, 3u);
  EXPECT_EQ(stats.promotions, 3u);
  EXPECT_EQ(stats.barrier_faults, 0u) << "a rebinding move needs no write barrier";
  EXPECT_TRUE(budgets_respected(stats));
  ASSERT_TRUE(alloc.deallocate(p));
  for (const auto& t : alloc.stats().tiers) EXPECT_EQ(t.current_bytes, 0u) << t.name;
}

}  // namespace
}  // namespace tensortier
