// tensortier::MemoryResource, the std::pmr adapter: standard containers on the
// tiers with a fixed hint, is_equal semantics, and bad frees that do not crash.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <memory_resource>
#include <numeric>
#include <string>
#include <unordered_map>
#include <vector>

#include "tensortier/allocator.hpp"

namespace tt = tensortier;

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// A private PMem directory under /tmp, removed with everything in it.
class PmrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "tt_pmr_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    allocator_ = make_allocator(32 * kMiB);
    ASSERT_NE(allocator_, nullptr);
    pmem_ = static_cast<int>(allocator_->tiers().size()) - 1;
    ASSERT_EQ(allocator_->tiers()[pmem_].name, "pmem_file");
  }
  void TearDown() override {
    allocator_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<tt::Allocator> make_allocator(std::uint64_t dram_bytes) {
    tt::AllocatorOptions options;
    options.config.dram_limit_bytes = dram_bytes;
    auto pmem = tt::parse_pmem_spec("file:" + dir_ + ",size=256M");
    EXPECT_TRUE(pmem) << pmem.status().message();
    if (!pmem) return nullptr;
    options.config.pmem = *pmem;
    auto allocator = tt::Allocator::create(options);
    EXPECT_TRUE(allocator) << allocator.status().message();
    return allocator ? std::move(*allocator) : nullptr;
  }

  bool in_dram(const void* p) const {
    const int t = allocator_->tier_of(p);
    return t >= 0 && t < pmem_;
  }

  std::string dir_;
  std::unique_ptr<tt::Allocator> allocator_;
  int pmem_ = -1;
};

TEST_F(PmrTest, VectorWithColdHintLivesInPmem) {
  tt::MemoryResource cold(*allocator_, tt::Hint::cold);
  std::pmr::vector<float> v(&cold);
  v.resize(4 * kMiB / sizeof(float));
  std::iota(v.begin(), v.end(), 0.0f);
  EXPECT_EQ(allocator_->tier_of(v.data()), pmem_);
  EXPECT_EQ(allocator_->tier_of(v.data() + v.size() - 1), pmem_);  // interior pointer
  EXPECT_GE(allocator_->block_bytes(v.data()), v.size() * sizeof(float));
  for (std::size_t i = 0; i < v.size(); i += 4096) ASSERT_EQ(v[i], static_cast<float>(i));
  const auto before = allocator_->stats().allocations;
  v.push_back(1.0f);  // regrows: a new block from the resource, the old one freed
  EXPECT_GT(allocator_->stats().allocations, before);
  EXPECT_EQ(allocator_->tier_of(v.data()), pmem_);
  EXPECT_EQ(v[12345], 12345.0f);
}

TEST_F(PmrTest, VectorWithHotHintLivesInDram) {
  tt::MemoryResource hot(*allocator_, tt::Hint::hot);
  std::pmr::vector<std::uint8_t> v(8 * kMiB, 7, &hot);
  EXPECT_TRUE(in_dram(v.data()));
  EXPECT_EQ(v.get_allocator().resource(), &hot);
}

// A vector bigger than the DRAM budget lands in PMem, in one block whose
// tier_of is valid at both ends, and keeps its contents.
TEST_F(PmrTest, BigVectorSpillsPastDramBudget) {
  tt::MemoryResource automatic(*allocator_);
  std::pmr::vector<std::uint64_t> big(&automatic);
  big.resize(48 * kMiB / sizeof(std::uint64_t));
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = i * 3;
  const int first = allocator_->tier_of(big.data());
  ASSERT_GE(first, 0);
  EXPECT_EQ(first, pmem_);  // 48 MiB cannot fit a 32 MiB DRAM tier
  EXPECT_EQ(allocator_->tier_of(&big.back()), first);
  for (std::size_t i = 0; i < big.size(); i += 1024) ASSERT_EQ(big[i], i * 3);
  const tt::Stats stats = allocator_->stats();
  EXPECT_GE(stats.tiers[pmem_].current_bytes, 48 * kMiB);
}

TEST_F(PmrTest, UnorderedMapOfVectorsUsesTheResourceThroughout) {
  tt::MemoryResource automatic(*allocator_);
  const auto before = allocator_->stats().allocations;
  const auto frees_before = allocator_->stats().frees;
  {
    std::pmr::unordered_map<int, std::pmr::vector<double>> map(&automatic);
    for (int key = 0; key < 64; ++key) {
      // uses-allocator construction: the inner vector gets the map's resource.
      auto& v = map[key];
      EXPECT_EQ(v.get_allocator().resource(), &automatic);
      v.assign(1000, key * 0.5);
    }
    EXPECT_EQ(map.size(), 64u);
    for (int key = 0; key < 64; ++key) {
      ASSERT_EQ(map.at(key).size(), 1000u);
      ASSERT_EQ(map.at(key)[999], key * 0.5);
      ASSERT_GE(allocator_->tier_of(map.at(key).data()), 0);
    }
    // Nodes, buckets and the 64 vectors all came from the tiers.
    EXPECT_GE(allocator_->stats().allocations - before, 64u + 64u + 1u);
  }
  const tt::Stats after = allocator_->stats();
  EXPECT_EQ(after.allocations - before, after.frees - frees_before) << "every block was returned";
  std::uint64_t blocks = 0;
  for (const auto& t : after.tiers) blocks += t.blocks;
  EXPECT_EQ(blocks, 0u);
}

TEST_F(PmrTest, ZeroByteRequestGivesAUniqueFreeableBlock) {
  tt::MemoryResource r(*allocator_);
  void* a = r.allocate(0, 1);
  void* b = r.allocate(0, 1);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  r.deallocate(a, 0, 1);
  r.deallocate(b, 0, 1);
  EXPECT_EQ(allocator_->tier_of(a), -1);
}

TEST_F(PmrTest, BadRequestsThrowWhatPmrUsersExpect) {
  tt::MemoryResource r(*allocator_);
  EXPECT_THROW((void)r.allocate(kMiB, 3), std::invalid_argument);         // not a power of two
  EXPECT_THROW((void)r.allocate(kMiB, 4 * kMiB), std::invalid_argument);  // above 2 MiB
  EXPECT_THROW((void)r.allocate(std::size_t{1} << 40), std::bad_alloc);   // no tier has room
  std::pmr::vector<char> v(&r);
  EXPECT_THROW(v.resize(std::size_t{1} << 40), std::bad_alloc);
}

TEST_F(PmrTest, IsEqualMeansSameAllocator) {
  tt::MemoryResource a(*allocator_, tt::Hint::hot);
  tt::MemoryResource b(*allocator_, tt::Hint::cold);  // another hint, same pool
  EXPECT_TRUE(a.is_equal(a));
  EXPECT_TRUE(a.is_equal(b));
  EXPECT_TRUE(b.is_equal(a));
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a.is_equal(*std::pmr::new_delete_resource()));
  EXPECT_FALSE(std::pmr::new_delete_resource()->is_equal(a));

  auto other = make_allocator(16 * kMiB);
  ASSERT_NE(other, nullptr);
  tt::MemoryResource c(*other);
  EXPECT_FALSE(a.is_equal(c));
  EXPECT_FALSE(c.is_equal(a));
  EXPECT_EQ(&c.allocator(), other.get());

  // Equal resources free each other's blocks: a vector moved between
  // containers on a and b keeps its buffer.
  std::pmr::vector<int> va(1000, 1, &a);
  const int* data = va.data();
  std::pmr::vector<int> vb(std::move(va), &b);
  EXPECT_EQ(vb.data(), data);
  // Unequal ones copy.
  std::pmr::vector<int> vc(std::move(vb), &c);
  EXPECT_NE(vc.data(), data);
  EXPECT_GE(other->tier_of(vc.data()), 0);
}

TEST_F(PmrTest, ForeignDeallocateIsReportedNotFatal) {
  tt::MemoryResource r(*allocator_);
  int on_stack = 0;
  void* heap = std::malloc(64);
  const auto frees = allocator_->stats().frees;
  r.deallocate(&on_stack, sizeof on_stack, alignof(int));  // not ours: ignored
  r.deallocate(heap, 64, 16);
  std::free(heap);  // still the system allocator's, untouched

  void* p = r.allocate(kMiB, 64);
  r.deallocate(p, kMiB, 64);
  r.deallocate(p, kMiB, 64);                                    // double free: ignored
  r.deallocate(static_cast<char*>(p) + 4096, kMiB - 4096, 64);  // inside the range: ignored
  EXPECT_EQ(allocator_->stats().frees, frees + 1);
  // The allocator still works.
  void* q = r.allocate(kMiB, 64);
  EXPECT_GE(allocator_->tier_of(q), 0);
  r.deallocate(q, kMiB, 64);
}

}  // namespace
