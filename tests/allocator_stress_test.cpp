// Multithreaded stress of stable-address migration and its write barrier:
// writer threads keep rewriting sequence-numbered patterns into their own
// blocks and into their stripes of shared blocks, checking before each rewrite
// that the previous one is still there, while another thread keeps demoting,
// promoting and advising those very blocks. At the end every block must hold
// exactly what its writer last wrote (0 lost writes), and the barrier must
// have been exercised (writers faulted and waited).
//
// TT_STRESS_SECONDS overrides the duration of each stress phase (default 3).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allocator_test_util.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier {
namespace {

using test::budgets_respected;
using test::fill_pattern;
using test::kMiB;
using test::make_allocator;
using test::pattern_mismatch;
using test::small_options;

using Clock = std::chrono::steady_clock;

double stress_seconds() {
  const char* text = std::getenv("TT_STRESS_SECONDS");
  const double value = text != nullptr ? std::atof(text) : 0.0;
  return value > 0 ? value : 3.0;
}

// A region one writer owns: a whole block, or its stripe of a shared block.
struct Region {
  void* block = nullptr;  // the block the region lies in
  char* p = nullptr;
  std::size_t bytes = 0;
  std::uint64_t id = 0;
  std::uint64_t seq = 0;  // last sequence number written (writer-private until join)
};

std::uint64_t region_seed(const Region& r) { return (r.id << 32) ^ r.seq; }

struct WriterResult {
  std::uint64_t writes = 0;
  std::uint64_t mismatches = 0;  // a previous write not found before the next one
  std::string first_mismatch;
};

// `writing` tells the mover which block this writer is rewriting now.
void writer_loop(std::vector<Region>& regions, const std::atomic<bool>& stop,
                 std::atomic<void*>& writing, WriterResult& result) {
  while (!stop.load(std::memory_order_relaxed)) {
    for (Region& r : regions) {
      const std::size_t bad = pattern_mismatch(r.p, r.bytes, region_seed(r));
      if (bad != SIZE_MAX) {
        if (result.mismatches++ == 0)
          result.first_mismatch = "region " + std::to_string(r.id) + " seq " +
                                  std::to_string(r.seq) + " differs at byte " + std::to_string(bad);
      }
      r.seq++;
      writing.store(r.block, std::memory_order_relaxed);
      fill_pattern(r.p, r.bytes, region_seed(r));
      writing.store(nullptr, std::memory_order_relaxed);
      result.writes++;
    }
  }
}

TEST(AllocatorStress, WritersLoseNothingWhileBlocksMigrate) {
  constexpr int kWriters = 3;
  constexpr int kOwnBlocks = 3;
  constexpr std::size_t kOwnBytes = 2 * kMiB;
  constexpr int kSharedBlocks = 2;
  constexpr std::size_t kSharedBytes = 3 * kMiB;  // one 1 MiB stripe per writer
  // 18 MiB own + 6 MiB shared against 16 MiB of DRAM: promotions must evict.
  auto alloc = make_allocator(small_options(16 * kMiB, 256 * kMiB));
  ASSERT_NE(alloc, nullptr);

  std::vector<void*> blocks;
  std::vector<std::vector<Region>> regions(kWriters);
  std::uint64_t id = 1;
  for (int w = 0; w < kWriters; ++w) {
    for (int b = 0; b < kOwnBlocks; ++b) {
      char* p = static_cast<char*>(alloc->allocate(kOwnBytes));
      blocks.push_back(p);
      regions[w].push_back({p, p, kOwnBytes, id++, 0});
    }
  }
  for (int b = 0; b < kSharedBlocks; ++b) {
    char* p = static_cast<char*>(alloc->allocate(kSharedBytes));
    blocks.push_back(p);
    const std::size_t stripe = kSharedBytes / kWriters;
    for (int w = 0; w < kWriters; ++w) regions[w].push_back({p, p + w * stripe, stripe, id++, 0});
  }
  for (auto& rs : regions)
    for (Region& r : rs) fill_pattern(r.p, r.bytes, region_seed(r));

  std::atomic<bool> stop{false};
  std::vector<WriterResult> results(kWriters);
  std::vector<std::atomic<void*>> writing(kWriters);
  for (auto& x : writing) x = nullptr;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w)
    writers.emplace_back(writer_loop, std::ref(regions[w]), std::cref(stop), std::ref(writing[w]),
                         std::ref(results[w]));

  const int dram = test::dram_tier(*alloc);
  std::atomic<std::uint64_t> moves{0}, move_errors{0};
  std::string first_move_error;
  std::thread mover([&] {
    std::mt19937_64 rng(0x57e55);
    while (!stop.load(std::memory_order_relaxed)) {
      void* p = blocks[rng() % blocks.size()];
      Status s;
      // Half of the time, move a block a writer is rewriting right now.
      if (void* busy = writing[rng() % kWriters].load(std::memory_order_relaxed);
          busy != nullptr && rng() % 2 == 0) {
        s = alloc->tier_of(busy) == dram ? alloc->demote(busy) : alloc->promote(busy);
        if (!s && s.code() != Errc::no_space && move_errors++ == 0) first_move_error = s.message();
        moves++;
        continue;
      }
      switch (rng() % 10) {
        case 0: case 1: case 2: case 3: s = alloc->demote(p); break;
        case 4: case 5: case 6: case 7: s = alloc->promote(p); break;
        case 8: s = alloc->advise(p, Advice::cold); break;
        default: s = alloc->advise(p, Advice::will_need); break;
      }
      if (!s && s.code() != Errc::no_space) {
        if (move_errors++ == 0) first_move_error = s.message();
      }
      if (rng() % 16 == 0) alloc->wait_for_moves();
      moves++;
    }
  });

  std::this_thread::sleep_for(std::chrono::duration<double>(stress_seconds()));
  stop = true;
  for (auto& t : writers) t.join();
  mover.join();
  alloc->wait_for_moves();

  // What each writer wrote last is what each block holds now.
  std::uint64_t lost = 0, writes = 0, mismatches = 0;
  std::string first_lost;
  for (auto& rs : regions) {
    for (const Region& r : rs) {
      const std::size_t bad = pattern_mismatch(r.p, r.bytes, region_seed(r));
      if (bad != SIZE_MAX && lost++ == 0)
        first_lost = "region " + std::to_string(r.id) + " (seq " + std::to_string(r.seq) +
                     ") differs at byte " + std::to_string(bad);
    }
  }
  for (const auto& r : results) {
    writes += r.writes;
    mismatches += r.mismatches;
    if (r.mismatches > 0) ADD_FAILURE() << "writer saw a missing write: " << r.first_mismatch;
  }
  const Stats stats = alloc->stats();
  std::cout << "[ stress ] " << writes << " region writes, " << moves << " move requests, "
            << stats.demotions << " demotions, " << stats.promotions << " promotions, "
            << stats.barrier_faults << " barrier faults\n";
  EXPECT_EQ(lost, 0u) << first_lost;
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(move_errors.load(), 0u) << first_move_error;
  EXPECT_GT(stats.barrier_faults, 0u) << "no writer ever hit the barrier: the test proved nothing";
  EXPECT_GT(stats.demotions, 5u);
  EXPECT_GT(stats.promotions, 5u);
  EXPECT_GT(writes, 20u);
  EXPECT_TRUE(budgets_respected(stats));
  for (void* p : blocks) ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

// Many short moves of small blocks under constant writes: thousands of
// barrier faults, some of them reaching the handler only after their move has
// ended. Every one must resume the writer (none may reach the default SIGSEGV
// action), and every write must land.
TEST(AllocatorStress, BarrierFaultsRacingTheEndOfAMoveResume) {
  AllocatorOptions options = small_options(8 * kMiB, 8 * kMiB);
  // ~0.1 ms per move: long enough for the writers to be running during most.
  options.throttle.enabled = true;
  options.throttle.write_gbps_per_dimm = 0.5;
  options.throttle.read_gbps_per_dimm = 1.0;
  auto alloc = make_allocator(options);
  ASSERT_NE(alloc, nullptr);
  constexpr int kBlocks = 2;
  constexpr std::size_t kBytes = 64 * 1024;
  std::vector<std::uint64_t*> blocks;
  for (int b = 0; b < kBlocks; ++b) {
    blocks.push_back(static_cast<std::uint64_t*>(alloc->allocate(kBytes, 64, Hint::hot)));
    std::memset(blocks.back(), 0, kBytes);
  }
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> last(kBlocks, 0);
  std::vector<std::thread> writers;
  for (int b = 0; b < kBlocks; ++b) {
    writers.emplace_back([&, b] {
      volatile std::uint64_t* words = blocks[b];
      std::uint64_t seq = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        ++seq;
        words[seq % (kBytes / 8)] = seq;  // a new page every 512 writes
      }
      last[b] = seq;
    });
  }
  std::uint64_t moves = 0;
  const auto until = Clock::now() + std::chrono::duration<double>(stress_seconds() / 2);
  while (Clock::now() < until) {
    for (auto* p : blocks) {
      ASSERT_TRUE(alloc->demote(p).is_ok());
      ASSERT_TRUE(alloc->promote(p).is_ok());
      moves += 2;
    }
  }
  stop = true;
  for (auto& w : writers) w.join();
  const Stats stats = alloc->stats();
  std::cout << "[ stress ] " << moves << " moves, " << stats.barrier_faults << " barrier faults\n";
  for (int b = 0; b < kBlocks; ++b) {
    // The last kBytes/8 writes are all still there.
    for (std::uint64_t seq = last[b] > kBytes / 8 ? last[b] - kBytes / 8 + 1 : 1; seq <= last[b];
         ++seq)
      ASSERT_EQ(blocks[b][seq % (kBytes / 8)], seq) << "block " << b;
  }
  EXPECT_GT(stats.barrier_faults, 20u);
  for (auto* p : blocks) ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

// Readers never wait at the barrier (the pages stay readable during a copy),
// so they must see the block's content at every instant of a move, including
// the switch from the old pages to the new ones.
TEST(AllocatorStress, ReadersAlwaysSeeTheContentDuringMoves) {
  auto alloc = make_allocator(small_options(64 * kMiB, 64 * kMiB));
  ASSERT_NE(alloc, nullptr);
  constexpr std::size_t kBytes = 8 * kMiB;
  char* p = static_cast<char*>(alloc->allocate(kBytes, 64, Hint::hot));
  fill_pattern(p, kBytes, 77);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> reads{0}, bad_reads{0};
  auto reader = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    const auto* words = reinterpret_cast<const volatile std::uint64_t*>(p);
    std::uint64_t n = 0, bad = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const std::size_t i = rng() % (kBytes / 8);
      if (words[i] != test::pattern_word(77, i)) bad++;
      n++;
    }
    reads += n;
    bad_reads += bad;
  };
  std::thread r1(reader, 1), r2(reader, 2);
  std::uint64_t moves = 0;
  const auto until = Clock::now() + std::chrono::duration<double>(stress_seconds() / 2);
  while (Clock::now() < until) {
    ASSERT_TRUE(alloc->demote(p).is_ok());
    ASSERT_TRUE(alloc->promote(p).is_ok());
    moves += 2;
  }
  stop = true;
  r1.join();
  r2.join();
  std::cout << "[ stress ] " << reads << " reads during " << moves << " moves\n";
  EXPECT_EQ(bad_reads.load(), 0u) << "of " << reads << " reads";
  EXPECT_GE(moves, 4u);
  EXPECT_TRUE(test::pattern_intact(p, kBytes, 77));
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

// A slow (throttled) move of one block, written to from several threads at
// once: all of them wait at the barrier, and every write lands.
TEST(AllocatorStress, WritersWaitForASlowMove) {
  AllocatorOptions options = small_options(64 * kMiB, 64 * kMiB);
  options.throttle.enabled = true;
  options.throttle.write_gbps_per_dimm = 0.1;  // 16 MiB take 0.17 s
  options.throttle.read_gbps_per_dimm = 0.2;
  auto alloc = make_allocator(options);
  ASSERT_NE(alloc, nullptr);
  constexpr std::size_t kBytes = 16 * kMiB;
  constexpr int kThreads = 4;
  char* p = static_cast<char*>(alloc->allocate(kBytes, 64, Hint::hot));
  std::memset(p, 0, kBytes);

  for (int round = 0; round < 2; ++round) {
    const bool demote = round == 0;
    std::atomic<bool> started{false};
    std::thread mover([&] {
      started = true;
      Status s = demote ? alloc->demote(p) : alloc->promote(p);
      EXPECT_TRUE(s.is_ok()) << s.message();
    });
    while (!started) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the copy is under way
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        // Each thread writes its own stripe, one byte per page.
        const std::size_t stripe = kBytes / kThreads;
        for (std::size_t off = 0; off < stripe; off += 4096)
          p[t * stripe + off] = static_cast<char>(round * 16 + t + 1);
      });
    }
    for (auto& w : writers) w.join();
    mover.join();
    for (int t = 0; t < kThreads; ++t) {
      const std::size_t stripe = kBytes / kThreads;
      for (std::size_t off = 0; off < stripe; off += 4096)
        ASSERT_EQ(p[t * stripe + off], static_cast<char>(round * 16 + t + 1))
            << "round " << round << " thread " << t << " offset " << off;
    }
    EXPECT_EQ(alloc->tier_of(p), demote ? test::pmem_tier(*alloc) : test::dram_tier(*alloc));
  }
  EXPECT_GE(alloc->stats().barrier_faults, static_cast<std::uint64_t>(kThreads));
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

// Allocation, free, pinning and advice from several threads while the mover
// runs: the budgets hold at every sample, every block keeps its content, and
// the books balance at the end.
TEST(AllocatorStress, ConcurrentAllocationAndAdviceKeepBudgetsAndContent) {
  auto alloc = make_allocator(small_options(12 * kMiB, 48 * kMiB));
  ASSERT_NE(alloc, nullptr);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> corrupt{0}, unexpected{0}, over_budget{0}, samples{0};
  std::mutex message_mutex;
  std::string first_message;
  auto note = [&](const std::string& m) {
    std::lock_guard lock(message_mutex);
    if (first_message.empty()) first_message = m;
  };

  auto worker = [&](std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    struct Live {
      char* p;
      std::size_t bytes;
      std::uint64_t seed;
      bool pinned;
    };
    std::vector<Live> live;
    std::uint64_t next_seed = seed << 20;
    while (!stop.load(std::memory_order_relaxed)) {
      const unsigned dice = static_cast<unsigned>(rng() % 10);
      if (live.size() < 6 && dice < 4) {
        const std::size_t bytes = 4096 + rng() % (2 * kMiB);
        const Hint hint = static_cast<Hint>(rng() % 3);
        auto r = alloc->try_allocate(bytes, 64, hint);
        if (!r) {
          if (r.status().code() != Errc::no_space) {
            unexpected++;
            note(r.status().message());
          }
          continue;
        }
        live.push_back({static_cast<char*>(*r), bytes, next_seed++, false});
        fill_pattern(*r, bytes, live.back().seed);
      } else if (!live.empty()) {
        Live& b = live[rng() % live.size()];
        if (pattern_mismatch(b.p, b.bytes, b.seed) != SIZE_MAX) {
          corrupt++;
          note("block content lost");
        }
        Status s;
        switch (dice) {
          case 4: s = alloc->advise(b.p, Advice::cold); break;
          case 5: s = alloc->advise(b.p, Advice::will_need); break;
          case 6:
            s = b.pinned ? alloc->unpin(b.p) : alloc->pin(b.p);
            if (s) b.pinned = !b.pinned;
            break;
          case 7:
            b.seed = next_seed++;
            fill_pattern(b.p, b.bytes, b.seed);
            break;
          default: {
            if (b.pinned) (void)alloc->unpin(b.p);
            s = alloc->deallocate(b.p);
            b = live.back();
            live.pop_back();
          }
        }
        if (!s && s.code() != Errc::no_space) {
          unexpected++;
          note(s.message());
        }
      }
    }
    for (Live& b : live) {
      if (pattern_mismatch(b.p, b.bytes, b.seed) != SIZE_MAX) corrupt++;
      if (b.pinned) (void)alloc->unpin(b.p);
      if (!alloc->deallocate(b.p)) unexpected++;
    }
  };

  std::thread monitor([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      if (!budgets_respected(alloc->stats())) over_budget++;
      samples++;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  std::vector<std::thread> workers;
  for (std::uint64_t s = 1; s <= 3; ++s) workers.emplace_back(worker, s);
  std::this_thread::sleep_for(std::chrono::duration<double>(stress_seconds() * 2 / 3));
  stop = true;
  for (auto& w : workers) w.join();
  monitor.join();
  alloc->wait_for_moves();

  const Stats stats = alloc->stats();
  std::cout << "[ stress ] " << stats.allocations << " allocations, " << stats.failed_allocations
            << " failed, " << stats.demotions << " demotions, " << stats.promotions
            << " promotions, " << samples << " budget samples\n";
  EXPECT_EQ(corrupt.load(), 0u) << first_message;
  EXPECT_EQ(unexpected.load(), 0u) << first_message;
  EXPECT_EQ(over_budget.load(), 0u);
  EXPECT_GT(stats.allocations, 20u);
  EXPECT_EQ(stats.allocations, stats.frees);
  for (const auto& t : stats.tiers) {
    EXPECT_EQ(t.current_bytes, 0u) << t.name;
    EXPECT_EQ(t.blocks, 0u) << t.name;
  }
  EXPECT_TRUE(budgets_respected(stats));
}

// The barrier handles faults inside moving blocks only: any other bad write
// still ends the process as it would without tensortier.
TEST(AllocatorStressDeathTest, FaultsOutsideMovingBlocksStillCrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto alloc = make_allocator(small_options(8 * kMiB, 8 * kMiB));
  ASSERT_NE(alloc, nullptr);
  EXPECT_DEATH(
      {
        void* ro = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        *static_cast<volatile char*>(ro) = 1;
      },
      "");
  // A write to a freed block (its range is reserved inaccessible again).
  char* p = static_cast<char*>(alloc->allocate(4 * kMiB, 64, Hint::cold));
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
  EXPECT_DEATH({ *static_cast<volatile char*>(p) = 1; }, "");
}

}  // namespace
}  // namespace tensortier
