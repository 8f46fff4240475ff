// The _none twins: what a build without libnuma, libpmem2 or memkind gets.
// Each optional backend must refuse cleanly, naming the Debian package that
// brings it back, while DRAM keeps working unbound. This binary compiles the
// twins directly (tests/CMakeLists.txt), not the tensortier library.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backends/numa_bind.hpp"
#include "tensortier/backend.hpp"

namespace tensortier {
namespace {

constexpr std::uint64_t kMiB = 1ULL << 20;

bool mentions(const std::string& text, const char* word) {
  return text.find(word) != std::string::npos;
}

TEST(BackendStubs, SupportQueriesSayFalse) {
  EXPECT_FALSE(dram_numa_binding_supported());
  EXPECT_FALSE(pmem_file_supported());
  EXPECT_FALSE(pmem_kmem_supported());
}

TEST(BackendStubs, PmemFileIsNotSupportedAndNamesThePackage) {
  for (const PmemSpec& spec : {PmemSpec{PmemSpec::Scheme::file, "/tmp", 64 * kMiB},
                               PmemSpec{PmemSpec::Scheme::devdax, "/dev/dax0.0", std::nullopt},
                               PmemSpec{}}) {
    Result<std::unique_ptr<Backend>> opened = open_pmem_file_backend(spec, true);
    ASSERT_FALSE(opened);
    EXPECT_EQ(opened.status().code(), Errc::not_supported);
    EXPECT_TRUE(mentions(opened.status().message(), "libpmem2-dev")) << opened.status().message();
    EXPECT_TRUE(mentions(opened.status().message(), "TENSORTIER_WITH_PMEM2"))
        << opened.status().message();
  }
}

TEST(BackendStubs, PmemKmemIsNotSupportedAndNamesThePackage) {
  Result<std::unique_ptr<Backend>> opened = open_pmem_kmem_backend(0, 64 * kMiB);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.status().code(), Errc::not_supported);
  EXPECT_TRUE(mentions(opened.status().message(), "libmemkind-dev")) << opened.status().message();
  EXPECT_TRUE(mentions(opened.status().message(), "TENSORTIER_WITH_MEMKIND"))
      << opened.status().message();
}

TEST(BackendStubs, RebindingPagesIsNotSupportedAndNamesThePackage) {
  std::vector<char> buffer(static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  const Status moved = detail::numa_move_range_to_node(buffer.data(), buffer.size(), 0);
  EXPECT_EQ(moved.code(), Errc::not_supported);
  EXPECT_TRUE(mentions(moved.message(), "libnuma-dev")) << moved.message();
  EXPECT_TRUE(mentions(moved.message(), "TENSORTIER_WITH_NUMA")) << moved.message();
}

TEST(BackendStubs, DramStillWorksUnbound) {
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, 16 * kMiB);
  ASSERT_TRUE(dram) << dram.status().message();
  EXPECT_EQ((*dram)->info().name, "dram0");
  EXPECT_EQ((*dram)->info().medium, "anonymous");
  Result<Extent> ext = (*dram)->allocate(3 * kMiB);
  ASSERT_TRUE(ext) << ext.status().message();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ext->addr) % (2 * kMiB), 0u);
  std::memset(ext->addr, 0x5A, ext->bytes);
  EXPECT_EQ(static_cast<unsigned char*>(ext->addr)[ext->bytes - 1], 0x5A);
  EXPECT_EQ((*dram)->used_bytes(), 3 * kMiB);
  EXPECT_EQ((*dram)->allocate(14 * kMiB).status().code(), Errc::no_space);
  (*dram)->release(*ext);
  EXPECT_EQ((*dram)->used_bytes(), 0u);
}

TEST(BackendStubs, DramStillRejectsAMissingNode) {
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(4242, 16 * kMiB);
  ASSERT_FALSE(dram);
  EXPECT_EQ(dram.status().code(), Errc::invalid_argument);
  EXPECT_TRUE(mentions(dram.status().message(), "4242")) << dram.status().message();
}

TEST(BackendStubs, TierKindNames) {
  EXPECT_STREQ(tier_kind_name(TierKind::dram), "dram");
  EXPECT_STREQ(tier_kind_name(TierKind::hbm), "hbm");
  EXPECT_STREQ(tier_kind_name(TierKind::pmem_file), "pmem_file");
  EXPECT_STREQ(tier_kind_name(TierKind::pmem_devdax), "pmem_devdax");
  EXPECT_STREQ(tier_kind_name(TierKind::pmem_kmem), "pmem_kmem");
}

}  // namespace
}  // namespace tensortier
