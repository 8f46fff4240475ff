// OffsetAllocator: first fit, alignment, coalescing, misuse, threads, and a
// randomized run checked against a bitmap model.
#include "backends/offset_allocator.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace tensortier {
namespace {

constexpr std::uint64_t kA = 4096;

TEST(OffsetAllocator, RoundsToAlignmentAndFillsFromTheBottom) {
  OffsetAllocator a(10 * kA + 123, kA);
  EXPECT_EQ(a.capacity(), 10 * kA);  // rounded down
  EXPECT_EQ(a.allocate(1), 0u);
  EXPECT_EQ(a.allocate(kA), kA);
  EXPECT_EQ(a.allocate(kA + 1), 2 * kA);  // takes two units
  EXPECT_EQ(a.used_bytes(), 4 * kA);
  EXPECT_EQ(a.allocate(6 * kA), 4 * kA);
  EXPECT_EQ(a.used_bytes(), 10 * kA);
  EXPECT_EQ(a.allocate(1), std::nullopt);  // full
}

TEST(OffsetAllocator, RejectsZeroOversizeAndOverflow) {
  OffsetAllocator a(4 * kA, kA);
  EXPECT_EQ(a.allocate(0), std::nullopt);
  EXPECT_EQ(a.allocate(4 * kA + 1), std::nullopt);
  EXPECT_EQ(a.allocate(UINT64_MAX), std::nullopt);  // rounding would overflow
  EXPECT_EQ(a.round_up(UINT64_MAX), 0u);
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.allocate(4 * kA), 0u);  // the failed calls took nothing
}

TEST(OffsetAllocator, ZeroCapacityAndZeroAlignment) {
  OffsetAllocator empty(kA - 1, kA);
  EXPECT_EQ(empty.capacity(), 0u);
  EXPECT_EQ(empty.allocate(1), std::nullopt);
  EXPECT_EQ(empty.free_range_count(), 0u);

  OffsetAllocator bytewise(10, 0);  // alignment 0 is taken as 1
  EXPECT_EQ(bytewise.alignment(), 1u);
  EXPECT_EQ(bytewise.allocate(3), 0u);
  EXPECT_EQ(bytewise.allocate(7), 3u);
}

TEST(OffsetAllocator, FragmentationLeavesHolesThatFirstFitReuses) {
  OffsetAllocator a(8 * kA, kA);
  std::vector<std::uint64_t> off;
  for (int i = 0; i < 8; ++i) off.push_back(*a.allocate(kA));
  // Free every other unit: 4 KiB free in total 16 KiB, but no 2-unit hole.
  for (int i = 0; i < 8; i += 2) ASSERT_TRUE(a.release(off[i], kA));
  EXPECT_EQ(a.free_range_count(), 4u);
  EXPECT_EQ(a.largest_free_bytes(), kA);
  EXPECT_EQ(a.allocate(2 * kA), std::nullopt);  // fragmented
  EXPECT_EQ(a.allocate(kA), 0u);                // lowest hole first
  EXPECT_EQ(a.allocate(kA), 2 * kA);
}

TEST(OffsetAllocator, CoalescesWithBothNeighbours) {
  OffsetAllocator a(5 * kA, kA);
  std::vector<std::uint64_t> off;
  for (int i = 0; i < 5; ++i) off.push_back(*a.allocate(kA));
  ASSERT_TRUE(a.release(off[1], kA));
  ASSERT_TRUE(a.release(off[3], kA));
  EXPECT_EQ(a.free_range_count(), 2u);
  ASSERT_TRUE(a.release(off[2], kA));  // bridges [1] and [3]
  EXPECT_EQ(a.free_range_count(), 1u);
  EXPECT_EQ(a.largest_free_bytes(), 3 * kA);
  EXPECT_EQ(a.allocate(3 * kA), kA);
  ASSERT_TRUE(a.release(kA, 3 * kA));
  ASSERT_TRUE(a.release(off[0], kA));  // merges with the next range only
  ASSERT_TRUE(a.release(off[4], kA));  // merges with the previous range only
  EXPECT_EQ(a.free_range_count(), 1u);
  EXPECT_EQ(a.largest_free_bytes(), 5 * kA);
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.allocate(5 * kA), 0u);
}

TEST(OffsetAllocator, ReleaseRejectsRangesItDidNotHandOut) {
  OffsetAllocator a(4 * kA, kA);
  const std::uint64_t x = *a.allocate(2 * kA);
  EXPECT_TRUE(a.is_allocated(x, 2 * kA));
  EXPECT_FALSE(a.is_allocated(x, kA));
  EXPECT_FALSE(a.is_allocated(x + kA, kA));
  EXPECT_FALSE(a.release(x + kA, kA));   // inside, not the start
  EXPECT_FALSE(a.release(x, kA));        // wrong size
  EXPECT_FALSE(a.release(3 * kA, kA));   // free range
  EXPECT_FALSE(a.release(64 * kA, kA));  // outside
  EXPECT_EQ(a.used_bytes(), 2 * kA);
  EXPECT_TRUE(a.release(x, 2 * kA - 100));  // same size after rounding
  EXPECT_FALSE(a.release(x, 2 * kA));       // double free
  EXPECT_FALSE(a.is_allocated(x, 2 * kA));
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.free_range_count(), 1u);
}

// Reference model: one flag per alignment unit; first fit = lowest run of free
// units long enough. With coalesced free ranges the allocator must agree with
// it on every offset, not only on success.
class BitmapModel {
 public:
  explicit BitmapModel(std::size_t units) : used_(units, false) {}
  std::optional<std::size_t> allocate(std::size_t n) {
    std::size_t run = 0;
    for (std::size_t i = 0; i < used_.size(); ++i) {
      run = used_[i] ? 0 : run + 1;
      if (run == n) {
        const std::size_t start = i + 1 - n;
        for (std::size_t j = start; j <= i; ++j) used_[j] = true;
        return start;
      }
    }
    return std::nullopt;
  }
  void release(std::size_t start, std::size_t n) {
    for (std::size_t j = start; j < start + n; ++j) used_[j] = false;
  }

 private:
  std::vector<bool> used_;
};

TEST(OffsetAllocator, RandomizedAgainstBitmapModel) {
  constexpr std::size_t kUnits = 256;
  OffsetAllocator a(kUnits * kA, kA);
  BitmapModel model(kUnits);
  std::mt19937_64 rng(20240611);  // fixed seed: failures reproduce
  struct Live {
    std::uint64_t offset;
    std::uint64_t bytes;
  };
  std::vector<Live> live;
  std::uint64_t used = 0;
  int failures = 0;
  for (int step = 0; step < 20000; ++step) {
    const bool do_alloc = live.empty() || rng() % 100 < 55;
    if (do_alloc) {
      // Sizes from a few bytes to 40 units, unaligned on purpose.
      const std::uint64_t bytes = 1 + rng() % (40 * kA);
      const std::size_t units = (bytes + kA - 1) / kA;
      const auto got = a.allocate(bytes);
      const auto want = model.allocate(units);
      ASSERT_EQ(got.has_value(), want.has_value()) << "step " << step;
      if (got) {
        ASSERT_EQ(*got, *want * kA) << "step " << step;
        live.push_back({*got, bytes});
        used += units * kA;
      } else {
        ++failures;
      }
    } else {
      const std::size_t i = rng() % live.size();
      ASSERT_TRUE(a.release(live[i].offset, live[i].bytes)) << "step " << step;
      const std::size_t units = (live[i].bytes + kA - 1) / kA;
      model.release(live[i].offset / kA, units);
      used -= units * kA;
      live[i] = live.back();
      live.pop_back();
    }
    ASSERT_EQ(a.used_bytes(), used) << "step " << step;
  }
  EXPECT_GT(failures, 0) << "the run never filled the space; the test lost its teeth";
  for (const Live& l : live) ASSERT_TRUE(a.release(l.offset, l.bytes));
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.free_range_count(), 1u);
  EXPECT_EQ(a.largest_free_bytes(), kUnits * kA);
}

TEST(OffsetAllocator, ThreadsNeverGetOverlappingRanges) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 2000;
  OffsetAllocator a(1024 * kA, kA);
  std::vector<std::uint8_t> owner(1024, 0);  // unit -> thread id + 1
  std::atomic<bool> overlap{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::pair<std::uint64_t, std::uint64_t>> mine;
      for (int r = 0; r < kRounds; ++r) {
        if (mine.empty() || rng() % 2 == 0) {
          const std::uint64_t bytes = (1 + rng() % 8) * kA;
          if (auto off = a.allocate(bytes)) {
            for (std::uint64_t u = *off / kA; u < (*off + bytes) / kA; ++u) {
              // Units are only written by their current owner, so a non-zero
              // value here means two threads hold the same unit.
              if (owner[u] != 0) overlap = true;
              owner[u] = static_cast<std::uint8_t>(t + 1);
            }
            mine.emplace_back(*off, bytes);
          }
        } else {
          auto [off, bytes] = mine.back();
          mine.pop_back();
          for (std::uint64_t u = off / kA; u < (off + bytes) / kA; ++u) owner[u] = 0;
          if (!a.release(off, bytes)) overlap = true;
        }
      }
      for (auto [off, bytes] : mine) {
        for (std::uint64_t u = off / kA; u < (off + bytes) / kA; ++u) owner[u] = 0;
        if (!a.release(off, bytes)) overlap = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(overlap.load());
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.free_range_count(), 1u);
}

}  // namespace
}  // namespace tensortier
