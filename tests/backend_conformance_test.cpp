// One conformance suite for every Backend (the contract in
// include/tensortier/backend.hpp), instantiated over: DRAM node 0, an emulated
// PMem file in a fresh temp dir, KMEM-DAX on the first KMEM node, a devdax
// device (TENSORTIER_TEST_DEVDAX=/dev/daxX.Y) and an FS-DAX directory
// (TENSORTIER_TEST_FSDAX_DIR). Absent hardware skips, or fails under
// TENSORTIER_REQUIRE_HARDWARE=1 (tests/hardware_skip.hpp).
// DRAM- and KMEM-specific checks follow the suite.
#include <gtest/gtest.h>

#include "backends/kmem_nodes.hpp"
#include <linux/mempolicy.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "backends/numa_bind.hpp"
#include "hardware_skip.hpp"
#include "tensortier/backend.hpp"

namespace tensortier {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1ULL << 20;
constexpr std::uint64_t kDefaultCapacity = 64 * kMiB;
constexpr std::uint64_t kSmallCapacity = 8 * kMiB;

std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

std::size_t round_up(std::size_t n, std::size_t alignment) {
  return (n + alignment - 1) / alignment * alignment;
}

// Deterministic bytes that differ by seed and position, so aliasing between
// two extents or a shifted copy shows up.
unsigned char pattern_byte(unsigned seed, std::size_t i) {
  return static_cast<unsigned char>((i * 131 + seed * 7919 + (i >> 12)) & 0xff);
}

void fill(void* p, std::size_t bytes, unsigned seed) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < bytes; ++i) b[i] = pattern_byte(seed, i);
}

// Index of the first byte that differs from the pattern, or `bytes`.
std::size_t first_mismatch(const void* p, std::size_t bytes, unsigned seed) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < bytes; ++i) {
    if (b[i] != pattern_byte(seed, i)) return i;
  }
  return bytes;
}

// The kernel's policy for the page at `addr` (get_mempolicy MPOL_F_ADDR),
// through the raw syscall so the test does not need libnuma.
bool policy_of(void* addr, int& mode, unsigned long& nodemask) {
  nodemask = 0;
  return syscall(SYS_get_mempolicy, &mode, &nodemask, sizeof nodemask * CHAR_BIT, addr,
                 MPOL_F_ADDR) == 0;
}

// Whether any byte of [p, p + bytes) is mapped (msync fails with ENOMEM on
// unmapped pages).
bool fully_unmapped(void* p, std::size_t bytes) {
  for (std::size_t off = 0; off < bytes; off += page_size()) {
    if (msync(static_cast<char*>(p) + off, page_size(), MS_ASYNC) == 0 || errno != ENOMEM) {
      return false;
    }
  }
  return true;
}

// Pages of [p, p + bytes) resident in memory, by mincore.
std::size_t resident_pages(void* p, std::size_t bytes) {
  std::vector<unsigned char> vec((bytes + page_size() - 1) / page_size());
  if (mincore(p, bytes, vec.data()) != 0) return 0;
  return static_cast<std::size_t>(std::count_if(vec.begin(), vec.end(),
                                                [](unsigned char v) { return (v & 1) != 0; }));
}

// An inaccessible address range to allocate or move into, like the core's
// reservation for a block. `aligned()` is aligned to `alignment`.
class Reservation {
 public:
  Reservation(std::size_t bytes, std::size_t alignment) : span_(bytes + alignment) {
    base_ = mmap(nullptr, span_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base_ == MAP_FAILED) {
      base_ = nullptr;
      return;
    }
    aligned_ = reinterpret_cast<void*>(round_up(address(base_), alignment));
  }
  ~Reservation() {
    if (base_ != nullptr) munmap(base_, span_);
  }
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;

  void* aligned() const { return aligned_; }

 private:
  std::size_t span_;
  void* base_ = nullptr;
  void* aligned_ = nullptr;
};

// NUMA nodes of dax devices bound to the kmem driver (KMEM-DAX).
std::vector<unsigned> kmem_dax_nodes() {
  std::vector<unsigned> nodes;
  for (int node : detail::kmem_dax_nodes()) nodes.push_back(static_cast<unsigned>(node));
  return nodes;
}

// A fresh directory under $TMPDIR (or /tmp), removed with the object.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") +
                        "/tensortier-conformance-XXXXXX";
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// How one backend is opened for the suite.
struct BackendCase {
  std::string label;  // test-name suffix
  TierKind kind;
  std::set<std::string> media;  // accepted TierInfo::medium values
  // Why this backend cannot be tested here ("" when it can), and whether that
  // is missing hardware (skip, or fail under TENSORTIER_REQUIRE_HARDWARE=1)
  // rather than a build option (plain skip).
  std::function<std::string(bool& is_hardware)> unavailable;
  // Opens a fresh backend holding about `capacity` bytes; `scratch` is an
  // empty directory that outlives the backend.
  using Open = Result<std::unique_ptr<Backend>>(std::uint64_t capacity, const std::string& scratch);
  std::function<Open> open;
};

// Test names and failure messages show the label, not the struct's bytes.
void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.label; }

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

std::vector<BackendCase> all_backend_cases() {
  std::vector<BackendCase> cases;
  cases.push_back({"dram0", TierKind::dram, {"anonymous"},
                   [](bool&) { return std::string(); },
                   [](std::uint64_t capacity, const std::string&) {
                     return open_dram_backend(0, capacity);
                   }});
  cases.push_back({"pmem_file", TierKind::pmem_file, {"emulated", "fsdax"},
                   [](bool& is_hardware) {
                     is_hardware = false;
                     return pmem_file_supported()
                                ? std::string()
                                : std::string("built without libpmem2 (TENSORTIER_WITH_PMEM2=OFF)");
                   },
                   [](std::uint64_t capacity, const std::string& scratch) {
                     return open_pmem_file_backend(
                         PmemSpec{PmemSpec::Scheme::file, scratch, capacity}, true);
                   }});
  cases.push_back({"pmem_kmem", TierKind::pmem_kmem, {"kmem"},
                   [](bool& is_hardware) {
                     is_hardware = true;
                     if (!pmem_kmem_supported()) {
                       return std::string("built without memkind (TENSORTIER_WITH_MEMKIND=OFF)");
                     }
                     if (kmem_dax_nodes().empty()) {
                       return std::string(
                           "no KMEM-DAX NUMA node (no dax device bound to the kmem driver in "
                           "/sys/bus/dax/devices; see daxctl reconfigure-device "
                           "--mode=system-ram)");
                     }
                     return std::string();
                   },
                   [](std::uint64_t capacity, const std::string&) {
                     return open_pmem_kmem_backend(kmem_dax_nodes().front(), capacity);
                   }});
  cases.push_back({"devdax", TierKind::pmem_devdax, {"devdax"},
                   [](bool& is_hardware) {
                     is_hardware = true;
                     if (env_or_empty("TENSORTIER_TEST_DEVDAX").empty()) {
                       return std::string(
                           "set TENSORTIER_TEST_DEVDAX=/dev/daxX.Y to test a devdax device "
                           "(its contents are destroyed)");
                     }
                     return pmem_file_supported()
                                ? std::string()
                                : std::string("built without libpmem2 (TENSORTIER_WITH_PMEM2=OFF)");
                   },
                   [](std::uint64_t, const std::string&) {
                     // The device has its own size: the capacity cannot be chosen.
                     return open_pmem_file_backend(
                         PmemSpec{PmemSpec::Scheme::devdax, env_or_empty("TENSORTIER_TEST_DEVDAX"),
                                  std::nullopt},
                         true);
                   }});
  cases.push_back({"fsdax", TierKind::pmem_file, {"fsdax"},
                   [](bool& is_hardware) {
                     is_hardware = true;
                     if (env_or_empty("TENSORTIER_TEST_FSDAX_DIR").empty()) {
                       return std::string(
                           "set TENSORTIER_TEST_FSDAX_DIR to a directory on a DAX-mounted "
                           "filesystem to test FS-DAX");
                     }
                     return pmem_file_supported()
                                ? std::string()
                                : std::string("built without libpmem2 (TENSORTIER_WITH_PMEM2=OFF)");
                   },
                   [](std::uint64_t capacity, const std::string&) {
                     return open_pmem_file_backend(
                         PmemSpec{PmemSpec::Scheme::file, env_or_empty("TENSORTIER_TEST_FSDAX_DIR"),
                                  capacity},
                         true);
                   }});
  return cases;
}

class BackendConformance : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    bool is_hardware = false;
    const std::string reason = GetParam().unavailable(is_hardware);
    if (!reason.empty()) {
      if (is_hardware) TT_SKIP_WITHOUT_HARDWARE(GetParam().label << ": " << reason);
      GTEST_SKIP() << GetParam().label << ": " << reason;
    }
    backend_ = open(kDefaultCapacity);
  }

  // A fresh backend, or nullptr after recording a failure (or a hardware skip
  // when the library reports the hardware unsupported).
  std::unique_ptr<Backend> open(std::uint64_t capacity) {
    scratch_.push_back(std::make_unique<ScratchDir>());
    if (scratch_.back()->path().empty()) {
      ADD_FAILURE() << "cannot create a temporary directory";
      return nullptr;
    }
    Result<std::unique_ptr<Backend>> opened = GetParam().open(capacity, scratch_.back()->path());
    if (!opened) {
      ADD_FAILURE() << GetParam().label << ": open failed: " << errc_name(opened.status().code())
                    << ": " << opened.status().message();
      return nullptr;
    }
    return std::move(*opened);
  }

  void TearDown() override {
    backend_.reset();
    scratch_.clear();
  }

  Backend& backend() { return *backend_; }
  std::size_t alignment() { return backend_->info().alignment_bytes; }
  bool anonymous() const {
    return GetParam().kind == TierKind::dram || GetParam().kind == TierKind::hbm ||
           GetParam().kind == TierKind::pmem_kmem;
  }

  std::unique_ptr<Backend> backend_;
  std::vector<std::unique_ptr<ScratchDir>> scratch_;  // outlive every backend of the test
};

// Every test body starts with this: SetUp may have failed to open.
#define REQUIRE_BACKEND() ASSERT_NE(backend_, nullptr) << "the backend did not open"

TEST_P(BackendConformance, InfoDescribesTheTier) {
  REQUIRE_BACKEND();
  const TierInfo& info = backend().info();
  EXPECT_EQ(info.kind, GetParam().kind);
  EXPECT_TRUE(GetParam().media.count(info.medium)) << "medium '" << info.medium << "'";
  EXPECT_EQ(info.name.rfind(tier_kind_name(info.kind), 0), 0u)
      << "name '" << info.name << "' should start with the kind '" << tier_kind_name(info.kind)
      << "'";
  EXPECT_GT(info.capacity_bytes, 0u);
  if (GetParam().kind != TierKind::pmem_devdax) {
    EXPECT_GE(info.capacity_bytes, kDefaultCapacity);
  }
  EXPECT_GE(info.alignment_bytes, page_size());
  EXPECT_EQ(info.alignment_bytes % page_size(), 0u);
  EXPECT_EQ(info.alignment_bytes & (info.alignment_bytes - 1), 0u) << "not a power of two";
  if (anonymous()) {
    EXPECT_GE(info.numa_node, 0);
    EXPECT_EQ(info.granularity, "none");
    EXPECT_FALSE(info.persistent);
    EXPECT_EQ(info.path, "");
  } else {
    EXPECT_EQ(info.numa_node, -1);
    EXPECT_TRUE(info.granularity == "byte" || info.granularity == "cache_line" ||
                info.granularity == "page")
        << "granularity '" << info.granularity << "'";
    EXPECT_FALSE(info.path.empty());
  }
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, AllocateWriteReadRelease) {
  REQUIRE_BACKEND();
  Result<Extent> ext = backend().allocate(3 * kMiB + 123);
  ASSERT_TRUE(ext) << ext.status().message();
  ASSERT_NE(ext->addr, nullptr);
  ASSERT_GE(ext->bytes, 3 * kMiB + 123);
  fill(ext->addr, ext->bytes, 1);
  EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 1), ext->bytes);
  backend().release(*ext);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, ManyExtentsAreDistinctAndDoNotOverlap) {
  REQUIRE_BACKEND();
  std::vector<Extent> extents;
  for (unsigned i = 0; i < 24; ++i) {
    Result<Extent> ext = backend().allocate((i % 5 + 1) * page_size() + (i % 3) * 100);
    ASSERT_TRUE(ext) << "extent " << i << ": " << ext.status().message();
    extents.push_back(*ext);
  }
  // Every extent is written before any is checked: extents sharing storage
  // (a file offset handed out twice) would overwrite each other.
  for (unsigned i = 0; i < extents.size(); ++i) fill(extents[i].addr, extents[i].bytes, 100 + i);
  for (unsigned i = 0; i < extents.size(); ++i) {
    EXPECT_EQ(first_mismatch(extents[i].addr, extents[i].bytes, 100 + i), extents[i].bytes)
        << "extent " << i << " was overwritten";
  }
  std::vector<Extent> sorted = extents;
  std::sort(sorted.begin(), sorted.end(),
            [](const Extent& a, const Extent& b) { return address(a.addr) < address(b.addr); });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    EXPECT_LE(address(sorted[i - 1].addr) + sorted[i - 1].bytes, address(sorted[i].addr))
        << "extents overlap";
  }
  for (Extent& ext : extents) backend().release(ext);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, SizesAreRoundedToAlignment) {
  REQUIRE_BACKEND();
  const std::size_t align = alignment();
  for (std::size_t request : {std::size_t{1}, align - 1, align, align + 1, 3 * align + 7}) {
    Result<Extent> ext = backend().allocate(request);
    ASSERT_TRUE(ext) << request << " bytes: " << ext.status().message();
    EXPECT_EQ(ext->bytes, round_up(request, align)) << request << " bytes";
    EXPECT_EQ(address(ext->addr) % align, 0u) << request << " bytes";
    EXPECT_EQ(backend().used_bytes(), ext->bytes);
    backend().release(*ext);
  }
}

TEST_P(BackendConformance, BigExtentsAreHugePageAligned) {
  REQUIRE_BACKEND();
  // Anonymous memory must be 2 MiB aligned for transparent huge pages; file
  // mappings only promise the backend's alignment.
  const std::size_t want = anonymous() ? std::max<std::size_t>(2 * kMiB, alignment()) : alignment();
  std::vector<Extent> extents;
  for (std::size_t bytes : {2 * kMiB, 2 * kMiB + page_size(), 5 * kMiB}) {
    Result<Extent> ext = backend().allocate(bytes);
    ASSERT_TRUE(ext) << bytes << " bytes: " << ext.status().message();
    EXPECT_EQ(address(ext->addr) % want, 0u) << bytes << " bytes at " << ext->addr;
    extents.push_back(*ext);
  }
  for (Extent& ext : extents) backend().release(ext);
}

TEST_P(BackendConformance, AllocatesAtAFixedAddress) {
  REQUIRE_BACKEND();
  const std::size_t bytes = 4 * alignment();
  Reservation reserved(bytes, alignment());
  ASSERT_NE(reserved.aligned(), nullptr);
  AllocateOptions options;
  options.at = reserved.aligned();
  Result<Extent> ext = backend().allocate(bytes, options);
  ASSERT_TRUE(ext) << ext.status().message();
  EXPECT_EQ(ext->addr, reserved.aligned());
  fill(ext->addr, ext->bytes, 7);
  EXPECT_EQ(first_mismatch(reserved.aligned(), bytes, 7), bytes);
  backend().release(*ext);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, MoveKeepsContentAtTheNewAddress) {
  REQUIRE_BACKEND();
  const std::size_t bytes = std::max<std::size_t>(3 * kMiB, 2 * alignment());
  Result<Extent> ext = backend().allocate(bytes);
  ASSERT_TRUE(ext) << ext.status().message();
  void* const old_addr = ext->addr;
  fill(ext->addr, ext->bytes, 11);
  Reservation target(ext->bytes, alignment());
  ASSERT_NE(target.aligned(), nullptr);

  Status moved = backend().move(*ext, target.aligned());
  ASSERT_TRUE(moved) << moved.message();
  EXPECT_EQ(ext->addr, target.aligned());
  EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 11), ext->bytes);
  EXPECT_TRUE(fully_unmapped(old_addr, ext->bytes)) << "the old mapping is still there";
  EXPECT_EQ(backend().used_bytes(), ext->bytes) << "a move neither allocates nor frees";

  // Moving back and forth keeps working (demote, then promote).
  Reservation second(ext->bytes, alignment());
  ASSERT_TRUE(backend().move(*ext, second.aligned()));
  EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 11), ext->bytes);
  backend().release(*ext);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, ReleaseOfAnAlreadyReplacedMappingFreesTheStorage) {
  REQUIRE_BACKEND();
  Result<Extent> ext = backend().allocate(alignment());
  ASSERT_TRUE(ext) << ext.status().message();
  // The caller replaced the mapping itself (e.g. mremap'd another extent over
  // it) and says so with addr = nullptr.
  void* const addr = ext->addr;
  ASSERT_EQ(munmap(addr, ext->bytes), 0);
  ext->addr = nullptr;
  backend().release(*ext);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, CopyInAtAnOffset) {
  REQUIRE_BACKEND();
  Result<Extent> ext = backend().allocate(3 * alignment());
  ASSERT_TRUE(ext) << ext.status().message();
  std::memset(ext->addr, 0xAB, ext->bytes);
  const std::size_t offset = alignment() + 17;
  const std::size_t bytes = alignment() + 1000;
  std::vector<unsigned char> src(bytes);
  fill(src.data(), bytes, 23);
  Status copied = backend().copy_in(*ext, offset, src.data(), bytes);
  ASSERT_TRUE(copied) << copied.message();
  const auto* base = static_cast<const unsigned char*>(ext->addr);
  EXPECT_EQ(first_mismatch(base + offset, bytes, 23), bytes);
  EXPECT_EQ(base[offset - 1], 0xAB) << "copy_in wrote before the offset";
  EXPECT_EQ(base[offset + bytes], 0xAB) << "copy_in wrote past the end";

  const Status overrun = backend().copy_in(*ext, ext->bytes - 10, src.data(), 11);
  EXPECT_EQ(overrun.code(), Errc::invalid_argument) << overrun.message();
  EXPECT_EQ(base[ext->bytes - 10], 0xAB) << "a rejected copy_in wrote";
  backend().release(*ext);
}

TEST_P(BackendConformance, ExhaustingTheCapacityIsNoSpaceAndRecovers) {
  REQUIRE_BACKEND();
  backend_.reset();  // a devdax device may not be open twice
  backend_ = open(kSmallCapacity);
  REQUIRE_BACKEND();
  const std::uint64_t capacity = backend().info().capacity_bytes;
  const std::size_t chunk = std::max<std::size_t>(
      alignment(), round_up(static_cast<std::size_t>(capacity / 8), alignment()));

  // More than everything at once fails cleanly.
  Result<Extent> too_big = backend().allocate(static_cast<std::size_t>(capacity) + alignment());
  ASSERT_FALSE(too_big);
  EXPECT_EQ(too_big.status().code(), Errc::no_space) << too_big.status().message();
  EXPECT_FALSE(too_big.status().message().empty());
  EXPECT_EQ(backend().used_bytes(), 0u);

  std::vector<Extent> extents;
  Status failure;
  for (int i = 0; i < 1024; ++i) {
    Result<Extent> ext = backend().allocate(chunk);
    if (!ext) {
      failure = ext.status();
      break;
    }
    extents.push_back(*ext);
  }
  ASSERT_FALSE(failure.is_ok()) << "1024 chunks of " << chunk << " bytes fit in " << capacity;
  EXPECT_EQ(failure.code(), Errc::no_space)
      << errc_name(failure.code()) << ": " << failure.message();
  EXPECT_FALSE(failure.message().empty());
  const std::uint64_t used = backend().used_bytes();
  EXPECT_EQ(used, extents.size() * chunk) << "the failed allocation left something allocated";
  EXPECT_LE(used, capacity);
  if (anonymous()) {
    EXPECT_EQ(extents.size(), capacity / chunk);
  } else {
    // File backends may keep some of the file for themselves, not most of it.
    EXPECT_GE(extents.size() * chunk, capacity / 2);
  }

  ASSERT_FALSE(extents.empty());
  backend().release(extents.back());
  extents.pop_back();
  Result<Extent> again = backend().allocate(chunk);
  ASSERT_TRUE(again) << "released storage is not reusable: " << again.status().message();
  fill(again->addr, again->bytes, 31);
  EXPECT_EQ(first_mismatch(again->addr, again->bytes, 31), again->bytes);
  extents.push_back(*again);
  for (Extent& ext : extents) backend().release(ext);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, UsedBytesAccounting) {
  REQUIRE_BACKEND();
  EXPECT_EQ(backend().used_bytes(), 0u);
  Result<Extent> a = backend().allocate(1);
  ASSERT_TRUE(a) << a.status().message();
  EXPECT_EQ(backend().used_bytes(), a->bytes);
  Result<Extent> b = backend().allocate(2 * kMiB + 1);
  ASSERT_TRUE(b) << b.status().message();
  EXPECT_EQ(backend().used_bytes(), a->bytes + b->bytes);
  const std::size_t a_bytes = a->bytes;
  backend().release(*b);
  EXPECT_EQ(backend().used_bytes(), a_bytes);
  backend().release(*a);
  EXPECT_EQ(backend().used_bytes(), 0u);
}

TEST_P(BackendConformance, PopulatePrefaultsThePages) {
  REQUIRE_BACKEND();
  AllocateOptions options;
  options.populate = true;
  const std::size_t bytes = 4 * kMiB;
  Result<Extent> ext = backend().allocate(bytes, options);
  ASSERT_TRUE(ext) << ext.status().message();
  const std::size_t pages = ext->bytes / page_size();
  // mincore sees page-cache and anonymous pages; DAX mappings have neither.
  const std::string& medium = backend().info().medium;
  if (medium == "anonymous" || medium == "kmem" || medium == "emulated") {
    EXPECT_EQ(resident_pages(ext->addr, ext->bytes), pages);
  }
  fill(ext->addr, ext->bytes, 41);
  EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 41), ext->bytes);
  backend().release(*ext);

  if (anonymous()) {
    // Without populate nothing is faulted in: the check above can fail.
    Result<Extent> lazy = backend().allocate(bytes);
    ASSERT_TRUE(lazy) << lazy.status().message();
    EXPECT_EQ(resident_pages(lazy->addr, lazy->bytes), 0u);
    backend().release(*lazy);
  }
}

TEST_P(BackendConformance, ConcurrentAllocateAndRelease) {
  REQUIRE_BACKEND();
  auto worker = [this](unsigned seed) {
    std::vector<Extent> live;
    unsigned state = seed * 2654435761u + 1;
    for (int i = 0; i < 300; ++i) {
      state = state * 1103515245u + 12345u;
      const std::size_t bytes = (1 + (state >> 16) % 8) * alignment() + (state >> 8) % 100;
      Result<Extent> ext = backend().allocate(bytes);
      if (!ext) {
        ADD_FAILURE() << "thread " << seed << ": " << ext.status().message();
        break;
      }
      auto* b = static_cast<unsigned char*>(ext->addr);
      b[0] = static_cast<unsigned char>(seed + i);
      b[ext->bytes - 1] = static_cast<unsigned char>(seed + i);
      live.push_back(*ext);
      if (live.size() > 4 || (state & 1) != 0) {
        Extent& victim = live.front();
        auto* v = static_cast<unsigned char*>(victim.addr);
        EXPECT_EQ(v[0], v[victim.bytes - 1]) << "an extent was overwritten by another thread";
        backend().release(victim);
        live.erase(live.begin());
      }
    }
    for (Extent& ext : live) backend().release(ext);
  };
  std::thread first(worker, 1u);
  std::thread second(worker, 2u);
  first.join();
  second.join();
  EXPECT_EQ(backend().used_bytes(), 0u);
}

// Migration between NUMA-node tiers without a copy: a NUMA-node backend
// takes over a DRAM extent's pages where they are; other media say they
// cannot and leave it alone.
TEST_P(BackendConformance, AdoptTakesOverADramExtentInPlace) {
  REQUIRE_BACKEND();
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, kDefaultCapacity);
  ASSERT_TRUE(dram) << dram.status().message();
  Result<Extent> ext = (*dram)->allocate(3 * kMiB);
  ASSERT_TRUE(ext) << ext.status().message();
  fill(ext->addr, ext->bytes, 23);
  const std::uint64_t used_before = backend().used_bytes();

  Result<Extent> adopted = backend().adopt(*ext);
  if (!anonymous() || !dram_numa_binding_supported()) {
    ASSERT_FALSE(adopted);
    EXPECT_EQ(adopted.status().code(), Errc::not_supported) << adopted.status().message();
    EXPECT_EQ(backend().used_bytes(), used_before);
    EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 23), ext->bytes);
    (*dram)->release(*ext);
    return;
  }
  ASSERT_TRUE(adopted) << adopted.status().message();
  EXPECT_EQ(adopted->addr, ext->addr);
  EXPECT_EQ(adopted->bytes, ext->bytes);
  EXPECT_EQ(backend().used_bytes(), used_before + ext->bytes);
  // The source lets go of its budget, not of the mapping.
  Extent given_up = *ext;
  given_up.addr = nullptr;
  (*dram)->release(given_up);
  EXPECT_EQ((*dram)->used_bytes(), 0u);
  EXPECT_EQ(first_mismatch(adopted->addr, adopted->bytes, 23), adopted->bytes);
  int mode = -1;
  unsigned long nodemask = 0;
  if (backend().info().numa_node < static_cast<int>(sizeof nodemask * CHAR_BIT) &&
      policy_of(adopted->addr, mode, nodemask)) {
    EXPECT_EQ(mode, MPOL_BIND);
    EXPECT_EQ(nodemask, 1UL << backend().info().numa_node) << "bound to the adopting node";
  }
  Extent mine = *adopted;
  backend().release(mine);
  EXPECT_EQ(backend().used_bytes(), used_before);
  EXPECT_TRUE(fully_unmapped(adopted->addr, adopted->bytes));
}

TEST_P(BackendConformance, AdoptOverTheBudgetChangesNothing) {
  REQUIRE_BACKEND();
  if (!anonymous()) GTEST_SKIP() << GetParam().label << " adopts nothing (see AdoptTakesOver...)";
  std::unique_ptr<Backend> small = open(kMiB);
  ASSERT_NE(small, nullptr);
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, kDefaultCapacity);
  ASSERT_TRUE(dram) << dram.status().message();
  Result<Extent> ext = (*dram)->allocate(3 * kMiB);
  ASSERT_TRUE(ext) << ext.status().message();
  fill(ext->addr, ext->bytes, 29);
  Result<Extent> adopted = small->adopt(*ext);
  ASSERT_FALSE(adopted);
  EXPECT_EQ(adopted.status().code(), Errc::no_space) << adopted.status().message();
  EXPECT_EQ(small->used_bytes(), 0u);
  EXPECT_EQ((*dram)->used_bytes(), ext->bytes);
  EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 29), ext->bytes);
  (*dram)->release(*ext);
}

INSTANTIATE_TEST_SUITE_P(AllBackends, BackendConformance, ::testing::ValuesIn(all_backend_cases()),
                         [](const ::testing::TestParamInfo<BackendCase>& info) {
                           return info.param.label;
                         });

// ---- DRAM specifics ---------------------------------------------------------

TEST(DramBackend, RejectsANumaNodeThatDoesNotExist) {
  for (int node : {9999, -1}) {
    Result<std::unique_ptr<Backend>> opened = open_dram_backend(node, kDefaultCapacity);
    ASSERT_FALSE(opened) << node;
    EXPECT_EQ(opened.status().code(), Errc::invalid_argument);
    EXPECT_NE(opened.status().message().find(std::to_string(node)), std::string::npos)
        << opened.status().message();
  }
}

TEST(DramBackend, RejectsNonDramKindsAndZeroCapacity) {
  Result<std::unique_ptr<Backend>> pmem =
      open_dram_backend(0, kDefaultCapacity, TierKind::pmem_file);
  ASSERT_FALSE(pmem);
  EXPECT_EQ(pmem.status().code(), Errc::invalid_argument);
  EXPECT_NE(pmem.status().message().find("pmem_file"), std::string::npos);
  Result<std::unique_ptr<Backend>> empty = open_dram_backend(0, 0);
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.status().code(), Errc::invalid_argument);
}

TEST(DramBackend, HbmKindIsNamedHbm) {
  Result<std::unique_ptr<Backend>> hbm = open_dram_backend(0, kDefaultCapacity, TierKind::hbm);
  ASSERT_TRUE(hbm) << hbm.status().message();
  EXPECT_EQ((*hbm)->info().name, "hbm0");
  EXPECT_EQ((*hbm)->info().kind, TierKind::hbm);
  EXPECT_EQ((*hbm)->info().medium, "anonymous");
}

TEST(DramBackend, RejectsBadRequests) {
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, kDefaultCapacity);
  ASSERT_TRUE(dram) << dram.status().message();
  Backend& backend = **dram;
  EXPECT_EQ(backend.allocate(0).status().code(), Errc::invalid_argument);

  Reservation reserved(2 * page_size(), page_size());
  AllocateOptions misaligned;
  misaligned.at = static_cast<char*>(reserved.aligned()) + 1;
  EXPECT_EQ(backend.allocate(page_size(), misaligned).status().code(), Errc::invalid_argument);

  Result<Extent> ext = backend.allocate(4 * page_size());
  ASSERT_TRUE(ext) << ext.status().message();
  // Overlapping source and target: mremap refuses, the extent stays put.
  void* const addr = ext->addr;
  const Status overlap = backend.move(*ext, static_cast<char*>(addr) + page_size());
  EXPECT_EQ(overlap.code(), Errc::invalid_argument) << overlap.message();
  EXPECT_EQ(ext->addr, addr);
  EXPECT_EQ(backend.move(*ext, static_cast<char*>(addr) + 1).code(), Errc::invalid_argument);
  EXPECT_EQ(backend.used_bytes(), 4 * page_size()) << "failed requests changed the budget";
  backend.release(*ext);
}

TEST(DramBackend, FailingMmapIsNoSpaceWithNothingAllocated) {
  // A budget far beyond the address space: the kernel, not the budget, says no.
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, UINT64_MAX);
  ASSERT_TRUE(dram) << dram.status().message();
  Result<Extent> huge = (*dram)->allocate(std::size_t{1} << 60);
  ASSERT_FALSE(huge);
  EXPECT_EQ(huge.status().code(), Errc::no_space) << huge.status().message();
  EXPECT_EQ((*dram)->used_bytes(), 0u);
}

TEST(DramBackend, PagesAreBoundToTheNode) {
  if (!dram_numa_binding_supported()) GTEST_SKIP() << "built without libnuma";
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, kDefaultCapacity);
  ASSERT_TRUE(dram) << dram.status().message();
  Result<Extent> ext = (*dram)->allocate(3 * kMiB);
  ASSERT_TRUE(ext) << ext.status().message();
  int mode = -1;
  unsigned long nodemask = 0;
  if (!policy_of(ext->addr, mode, nodemask) && errno == ENOSYS) {
    (*dram)->release(*ext);
    GTEST_SKIP() << "the kernel has no NUMA support";
  }
  EXPECT_EQ(mode, MPOL_BIND);
  EXPECT_EQ(nodemask, 1UL) << "bound to node 0 only";

  // Rebinding in place keeps the address and the content.
  fill(ext->addr, ext->bytes, 51);
  const Status rebound = detail::numa_move_range_to_node(ext->addr, ext->bytes, 0);
  ASSERT_TRUE(rebound) << rebound.message();
  EXPECT_EQ(first_mismatch(ext->addr, ext->bytes, 51), ext->bytes);
  ASSERT_TRUE(policy_of(ext->addr, mode, nodemask));
  EXPECT_EQ(mode, MPOL_BIND);
  EXPECT_EQ(nodemask, 1UL);
  (*dram)->release(*ext);
}

TEST(DramBackend, MovedExtentKeepsItsBinding) {
  if (!dram_numa_binding_supported()) GTEST_SKIP() << "built without libnuma";
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, kDefaultCapacity);
  ASSERT_TRUE(dram) << dram.status().message();
  Result<Extent> ext = (*dram)->allocate(page_size());
  ASSERT_TRUE(ext) << ext.status().message();
  Reservation target(page_size(), page_size());
  ASSERT_TRUE((*dram)->move(*ext, target.aligned()));
  int mode = -1;
  unsigned long nodemask = 0;
  if (policy_of(ext->addr, mode, nodemask)) {
    EXPECT_EQ(mode, MPOL_BIND);
    EXPECT_EQ(nodemask, 1UL);
  }
  (*dram)->release(*ext);
}

TEST(DramBackend, RebindingRejectsAMissingNode) {
  if (!dram_numa_binding_supported()) GTEST_SKIP() << "built without libnuma";
  Result<std::unique_ptr<Backend>> dram = open_dram_backend(0, kDefaultCapacity);
  ASSERT_TRUE(dram) << dram.status().message();
  Result<Extent> ext = (*dram)->allocate(page_size());
  ASSERT_TRUE(ext) << ext.status().message();
  const Status moved = detail::numa_move_range_to_node(ext->addr, ext->bytes, 500);
  EXPECT_EQ(moved.code(), Errc::invalid_argument) << moved.message();
  EXPECT_NE(moved.message().find("500"), std::string::npos) << moved.message();
  (*dram)->release(*ext);
}

// ---- KMEM-DAX specifics -----------------------------------------------------

TEST(PmemKmemBackend, WithoutKmemNodesReportsHowToConfigureThem) {
  if (!pmem_kmem_supported()) GTEST_SKIP() << "built without memkind";
  if (!kmem_dax_nodes().empty()) GTEST_SKIP() << "this machine has KMEM-DAX nodes";
  Result<std::unique_ptr<Backend>> kmem = open_pmem_kmem_backend(0, kDefaultCapacity);
  ASSERT_FALSE(kmem);
  EXPECT_EQ(kmem.status().code(), Errc::not_supported);
  EXPECT_NE(kmem.status().message().find("KMEM-DAX"), std::string::npos) << kmem.status().message();
  EXPECT_NE(kmem.status().message().find("daxctl"), std::string::npos) << kmem.status().message();
}

TEST(PmemKmemBackend, RejectsANodeThatIsNotKmem) {
  const std::vector<unsigned> nodes = kmem_dax_nodes();
  if (!pmem_kmem_supported() || nodes.empty()) {
    TT_SKIP_WITHOUT_HARDWARE("no KMEM-DAX NUMA node on this machine");
  }
  Result<std::unique_ptr<Backend>> kmem =
      open_pmem_kmem_backend(nodes.back() + 1000, kDefaultCapacity);
  ASSERT_FALSE(kmem);
  EXPECT_EQ(kmem.status().code(), Errc::invalid_argument) << kmem.status().message();
}

}  // namespace
}  // namespace tensortier
