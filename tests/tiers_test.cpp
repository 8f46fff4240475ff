#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "tensortier/tiers.hpp"

namespace tensortier {
namespace {

MemoryTarget target(unsigned node, MemoryKind kind, std::uint64_t gib,
                    std::optional<std::uint64_t> bw = std::nullopt) {
  MemoryTarget t;
  t.numa_node = node;
  t.kind = kind;
  t.capacity_bytes = gib << 30;
  t.local_cpus = {node * 2, node * 2 + 1};
  t.bandwidth_mbps = bw;
  return t;
}

Topology two_socket() {
  return Topology({target(0, MemoryKind::dram, 96, 100000), target(1, MemoryKind::dram, 32),
                   target(2, MemoryKind::nvm, 768, 30000), target(3, MemoryKind::nvm, 768)},
                  {}, 4, "test");
}

TEST(PlanTiers, DramBudgetSplitInProportionToNodeSize) {
  Config config;
  config.dram_limit_bytes = 64ull << 30;
  config.pmem.scheme = PmemSpec::Scheme::none;
  auto plans = plan_tiers(config, two_socket());
  ASSERT_TRUE(plans.has_value()) << plans.status().message();
  ASSERT_EQ(plans->size(), 2u);
  EXPECT_EQ((*plans)[0].name, "dram0");
  EXPECT_EQ((*plans)[0].limit_bytes, 48ull << 30);
  EXPECT_EQ((*plans)[1].name, "dram1");
  EXPECT_EQ((*plans)[1].limit_bytes, 16ull << 30);
  EXPECT_EQ(*(*plans)[0].bandwidth_mbps, 100000u);
  EXPECT_EQ((*plans)[0].local_cpus, (std::vector<unsigned>{0, 1}));
}

TEST(PlanTiers, UnevenBudgetIsFullyGivenOut) {
  Config config;
  config.dram_limit_bytes = (1ull << 30) + 3 * 4096;
  config.pmem.scheme = PmemSpec::Scheme::none;
  Topology topo({target(0, MemoryKind::dram, 1), target(1, MemoryKind::dram, 1),
                 target(2, MemoryKind::dram, 1)},
                {}, 6, "test");
  auto plans = plan_tiers(config, topo);
  ASSERT_TRUE(plans.has_value());
  std::uint64_t total = 0;
  for (const auto& p : *plans) total += p.limit_bytes;
  EXPECT_EQ(total, *config.dram_limit_bytes);
}

TEST(PlanTiers, KmemUsesEveryNvmNodeAfterDram) {
  Config config;
  config.pmem.scheme = PmemSpec::Scheme::kmem;
  auto plans = plan_tiers(config, two_socket());
  ASSERT_TRUE(plans.has_value());
  ASSERT_EQ(plans->size(), 4u);
  EXPECT_EQ((*plans)[2].kind, TierKind::pmem_kmem);
  EXPECT_EQ((*plans)[2].name, "pmem_kmem2");
  EXPECT_EQ((*plans)[3].capacity_bytes, 768ull << 30);
}

TEST(PlanTiers, HbmComesFirstWithItsOwnSize) {
  Config config;
  config.dram_limit_bytes = 8ull << 30;
  Topology topo({target(0, MemoryKind::dram, 128), target(1, MemoryKind::hbm, 16, 400000)}, {},
                2, "test");
  auto plans = plan_tiers(config, topo);
  ASSERT_TRUE(plans.has_value());
  ASSERT_EQ(plans->size(), 3u);
  EXPECT_EQ((*plans)[0].kind, TierKind::hbm);
  EXPECT_EQ((*plans)[0].limit_bytes, 16ull << 30);
  EXPECT_EQ((*plans)[1].kind, TierKind::dram);
  EXPECT_EQ((*plans)[1].limit_bytes, 8ull << 30);
  EXPECT_EQ((*plans)[2].kind, TierKind::pmem_file);
  EXPECT_EQ((*plans)[2].capacity_bytes, kDefaultPmemFileBytes);
}

TEST(PlanTiers, KmemWithoutNvmNodeNamesTheVariable) {
  Config config;
  config.pmem.scheme = PmemSpec::Scheme::kmem;
  Topology topo({target(0, MemoryKind::dram, 8)}, {}, 2, "test");
  auto plans = plan_tiers(config, topo);
  ASSERT_FALSE(plans.has_value());
  EXPECT_EQ(plans.status().code(), Errc::not_supported);
  EXPECT_NE(plans.status().message().find("TENSORTIER_PMEM='kmem'"), std::string::npos);
}

TEST(PlanTiers, NoDramNodeIsAnError) {
  Config config;
  Topology topo({target(0, MemoryKind::nvm, 8)}, {}, 2, "odd.xml");
  auto plans = plan_tiers(config, topo);
  ASSERT_FALSE(plans.has_value());
  EXPECT_NE(plans.status().message().find("odd.xml"), std::string::npos);
}

TEST(DefaultDramLimit, BelowPhysicalMemoryAndPageAligned) {
  const std::uint64_t physical =
      static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  const std::uint64_t limit = default_dram_limit_bytes();
  EXPECT_GT(limit, 0u);
  EXPECT_LT(limit, physical);
  EXPECT_EQ(limit % sysconf(_SC_PAGESIZE), 0u);
}

TEST(OpenTiers, LiveMachineWithEmulatedPmem) {
  auto topology = Topology::discover();
  ASSERT_TRUE(topology.has_value()) << topology.status().message();
  Config config;
  config.dram_limit_bytes = 256ull << 20;
  config.pmem.scheme = PmemSpec::Scheme::file;
  config.pmem.path = "/tmp";
  config.pmem.size_bytes = 64ull << 20;
  auto plans = plan_tiers(config, *topology);
  ASSERT_TRUE(plans.has_value()) << plans.status().message();
  auto tiers = open_tiers(std::move(*plans));
  ASSERT_TRUE(tiers.has_value()) << tiers.status().message();
  ASSERT_GE(tiers->size(), 2u);
  EXPECT_EQ(tiers->front().backend->info().kind, TierKind::dram);
  const Tier& pmem = tiers->back();
  EXPECT_EQ(pmem.backend->info().kind, TierKind::pmem_file);
  EXPECT_EQ(pmem.plan.capacity_bytes, 64ull << 20);
  EXPECT_EQ(pmem.backend->info().granularity, "page");
}

TEST(OpenTiers, PmemErrorNamesTheVariable) {
  auto topology = Topology::discover();
  ASSERT_TRUE(topology.has_value());
  Config config;
  config.pmem.scheme = PmemSpec::Scheme::file;
  config.pmem.path = "/nonexistent/tensortier";
  auto tiers = open_tiers(*plan_tiers(config, *topology));
  ASSERT_FALSE(tiers.has_value());
  EXPECT_EQ(tiers.status().message().find("TENSORTIER_PMEM='file:/nonexistent/tensortier'"), 0u)
      << tiers.status().message();
}

}  // namespace
}  // namespace tensortier
