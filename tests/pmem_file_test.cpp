// File PMem backend specifics (the behaviour every backend shares is in
// backend_conformance_test.cpp): medium and granularity on a non-DAX
// filesystem, the file's life cycle, block reservation and punching, an
// existing file used in place, every bad
// spec, a full filesystem (ENOSPC) and a file size limit (RLIMIT_FSIZE) without
// a signal, and copy_in at unaligned offsets.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tensortier/backend.hpp"

namespace tensortier {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t kMiB = 1ULL << 20;

// A fresh directory under /tmp (ext4 here: no DAX), removed with its content.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/tt-pmem-test-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(path_), {}));
  }

 private:
  std::string path_;
};

// A tmpfs mounted on a scratch directory (we run as root in CI); `error` says
// why not when mounting is not permitted, so the test can skip with it.
class ScratchTmpfs {
 public:
  explicit ScratchTmpfs(const std::string& options, unsigned long flags = 0) {
    if (dir_.path().empty()) {
      error_ = "mkdtemp failed";
    } else if (mount("tmpfs", dir_.path().c_str(), "tmpfs", flags, options.c_str()) != 0) {
      error_ = std::string("mount -t tmpfs not permitted: ") + std::strerror(errno);
    } else {
      mounted_ = true;
    }
  }
  ~ScratchTmpfs() {
    if (mounted_) umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }
  const std::string& path() const { return dir_.path(); }

 private:
  ScratchDir dir_;
  bool mounted_ = false;
  std::string error_;
};

PmemSpec file_spec(const std::string& dir, std::optional<std::uint64_t> size) {
  PmemSpec spec;
  spec.scheme = PmemSpec::Scheme::file;
  spec.path = dir;
  spec.size_bytes = size;
  return spec;
}

std::uint64_t free_bytes(const std::string& dir) {
  struct statvfs st {};
  if (statvfs(dir.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

blkcnt_t blocks_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? st.st_blocks : -1;
}

class PmemFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!pmem_file_supported()) GTEST_SKIP() << "built without libpmem2";
    ASSERT_FALSE(dir_.path().empty());
  }
  ScratchDir dir_;
};

TEST(PmemFileSupport, OpenMatchesTheBuild) {
  auto opened = open_pmem_file_backend(file_spec("/tmp", 16 * kMiB), true);
  if (pmem_file_supported()) {
    EXPECT_TRUE(opened.has_value()) << opened.status().message();
  } else {  // the _none twin
    ASSERT_FALSE(opened.has_value());
    EXPECT_EQ(opened.status().code(), Errc::not_supported);
    EXPECT_NE(opened.status().message().find("libpmem2-dev"), std::string::npos);
  }
}

TEST_F(PmemFileTest, EmulatedWithPageGranularityOnANonDaxFilesystem) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 64 * kMiB), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  const TierInfo& info = (*backend)->info();
  EXPECT_EQ(info.name, "pmem_file");
  EXPECT_EQ(info.kind, TierKind::pmem_file);
  EXPECT_EQ(info.medium, "emulated");
  EXPECT_EQ(info.granularity, "page");
  EXPECT_EQ(info.numa_node, -1);
  EXPECT_EQ(info.capacity_bytes, 64 * kMiB);
  EXPECT_EQ(info.alignment_bytes, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_TRUE(info.persistent);
  EXPECT_EQ(info.path.rfind(dir_.path() + "/tensortier-pmem-", 0), 0u) << info.path;
  EXPECT_EQ((*backend)->used_bytes(), 0u);
}

TEST_F(PmemFileTest, SizeIsRoundedUpToPages) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 10000), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  EXPECT_EQ((*backend)->info().capacity_bytes % (*backend)->info().alignment_bytes, 0u);
  EXPECT_GE((*backend)->info().capacity_bytes, 10000u);
}

TEST_F(PmemFileTest, DefaultTempFileGoesToTmpdir) {
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("TMPDIR", dir_.path().c_str(), 1);
  const std::uint64_t clamp = free_bytes(dir_.path()) / 10 * 9;
  auto backend = open_pmem_file_backend(PmemSpec{}, true);
  if (old != nullptr) setenv("TMPDIR", saved.c_str(), 1); else unsetenv("TMPDIR");
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  EXPECT_EQ((*backend)->info().path.rfind(dir_.path() + "/tensortier-pmem-", 0), 0u)
      << (*backend)->info().path;
  // 64 GiB, or 90% of the free space when that is less (the free space moves
  // while other processes write, hence the tolerance).
  const std::uint64_t capacity = (*backend)->info().capacity_bytes;
  if (clamp > kDefaultPmemFileBytes + (1ULL << 30)) {
    EXPECT_EQ(capacity, kDefaultPmemFileBytes);
  } else {
    EXPECT_NEAR(static_cast<double>(capacity), static_cast<double>(clamp), 256.0 * kMiB);
  }
}

TEST_F(PmemFileTest, DefaultTempFileFitsASmallFilesystem) {
  ScratchTmpfs small("size=8m");
  if (!small.mounted()) GTEST_SKIP() << small.error();
  PmemSpec spec;  // temp_file, no size: 64 GiB would not fit, so it is clamped
  spec.path = small.path();
  auto backend = open_pmem_file_backend(spec, true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  EXPECT_GT((*backend)->info().capacity_bytes, 6 * kMiB);
  EXPECT_LE((*backend)->info().capacity_bytes, 8 * kMiB / 10 * 9);

  // An explicit file: scheme gets no such clamp: the user asked for 64 GiB.
  auto explicit_default = open_pmem_file_backend(file_spec(small.path(), std::nullopt), true);
  ASSERT_FALSE(explicit_default.has_value());
  EXPECT_EQ(explicit_default.status().code(), Errc::no_space);
  EXPECT_NE(explicit_default.status().message().find("size=N"), std::string::npos)
      << explicit_default.status().message();
}

TEST_F(PmemFileTest, RemoveAtExitLeavesNoDirectoryEntry) {
  {
    auto backend = open_pmem_file_backend(file_spec(dir_.path(), 16 * kMiB), true);
    ASSERT_TRUE(backend.has_value()) << backend.status().message();
    EXPECT_EQ(dir_.entries(), 0u) << "unlinked right after creation";
    auto extent = (*backend)->allocate(kMiB);
    ASSERT_TRUE(extent.has_value()) << extent.status().message();
    static_cast<char*>(extent->addr)[0] = 1;  // the unlinked file still works
    (*backend)->release(*extent);
  }
  EXPECT_EQ(dir_.entries(), 0u);
}

TEST_F(PmemFileTest, KeepsTheFileWithoutRemoveAtExit) {
  std::string path;
  {
    auto backend = open_pmem_file_backend(file_spec(dir_.path(), 16 * kMiB), false);
    ASSERT_TRUE(backend.has_value()) << backend.status().message();
    path = (*backend)->info().path;
    EXPECT_TRUE(fs::exists(path));
  }
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::file_size(path), 16 * kMiB);
  EXPECT_EQ(unlink(path.c_str()), 0);
}

TEST_F(PmemFileTest, AllocateReservesBlocksAndReleasePunchesThem) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 64 * kMiB), false);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  const std::string path = (*backend)->info().path;
  const blkcnt_t empty = blocks_of(path);
  EXPECT_LT(empty, 64) << "the file is sparse until extents are allocated";

  auto extent = (*backend)->allocate(8 * kMiB);
  ASSERT_TRUE(extent.has_value()) << extent.status().message();
  // st_blocks counts 512-byte units: 8 MiB reserved before any page is touched.
  EXPECT_GE(blocks_of(path) - empty, static_cast<blkcnt_t>(8 * kMiB / 512));
  EXPECT_EQ((*backend)->used_bytes(), 8 * kMiB);
  std::memset(extent->addr, 0xab, extent->bytes);

  (*backend)->release(*extent);
  EXPECT_EQ(extent->addr, nullptr);
  EXPECT_LE(blocks_of(path), empty) << "release punched the range back to the filesystem";
  EXPECT_EQ((*backend)->used_bytes(), 0u);
  unlink(path.c_str());
}

TEST_F(PmemFileTest, ExtentOffsetIsTheFileOffset) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 16 * kMiB), false);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  const std::string path = (*backend)->info().path;
  auto first = (*backend)->allocate(kMiB);
  auto second = (*backend)->allocate(kMiB);
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_EQ(first->offset, 0u);
  EXPECT_EQ(second->offset, kMiB);
  const char text[] = "stored in the file";
  ASSERT_TRUE((*backend)->copy_in(*second, 100, text, sizeof text).is_ok());
  char read_back[sizeof text] = {};
  const int fd = open(path.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(pread(fd, read_back, sizeof read_back, static_cast<off_t>(kMiB + 100)),
            static_cast<ssize_t>(sizeof read_back));
  close(fd);
  EXPECT_STREQ(read_back, text);
  (*backend)->release(*first);
  (*backend)->release(*second);
  unlink(path.c_str());
}

TEST_F(PmemFileTest, CopyInAtUnalignedOffsetsAndSizes) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 16 * kMiB), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  auto extent = (*backend)->allocate(5 * 4096 + 1);  // rounds to 6 pages
  ASSERT_TRUE(extent.has_value()) << extent.status().message();
  ASSERT_EQ(extent->bytes, 6u * 4096);
  auto* bytes = static_cast<unsigned char*>(extent->addr);
  std::vector<unsigned char> expect(extent->bytes, 0);
  std::memset(bytes, 0, extent->bytes);

  const std::size_t offsets[] = {0, 1, 4095, 4097, 8191, 12345};
  const std::size_t sizes[] = {1, 7, 100, 4095, 4096, 4097, 9000};
  unsigned seed = 1;
  for (std::size_t off : offsets) {
    for (std::size_t size : sizes) {
      if (off + size > extent->bytes) continue;
      std::vector<unsigned char> src(size);
      for (auto& b : src) b = static_cast<unsigned char>(seed = seed * 1103515245 + 12345);
      ASSERT_TRUE((*backend)->copy_in(*extent, off, src.data(), size).is_ok());
      std::memcpy(expect.data() + off, src.data(), size);
      ASSERT_EQ(std::memcmp(bytes, expect.data(), extent->bytes), 0)
          << "offset " << off << " size " << size;
    }
  }
  // The last byte exactly, then one too far.
  const unsigned char last = 0x5a;
  EXPECT_TRUE((*backend)->copy_in(*extent, extent->bytes - 1, &last, 1).is_ok());
  EXPECT_EQ(bytes[extent->bytes - 1], last);
  EXPECT_EQ((*backend)->copy_in(*extent, extent->bytes, &last, 1).code(), Errc::invalid_argument);
  EXPECT_EQ((*backend)->copy_in(*extent, 1, expect.data(), extent->bytes).code(),
            Errc::invalid_argument);
  EXPECT_EQ((*backend)->copy_in(*extent, SIZE_MAX, &last, 2).code(), Errc::invalid_argument);
  EXPECT_TRUE((*backend)->copy_in(*extent, extent->bytes, &last, 0).is_ok());
  (*backend)->release(*extent);
  EXPECT_EQ((*backend)->copy_in(*extent, 0, &last, 1).code(), Errc::invalid_argument)
      << "the extent is unmapped";
}

TEST_F(PmemFileTest, FullFileIsNoSpace) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 4 * kMiB), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  std::vector<Extent> extents;
  for (int i = 0; i < 4; ++i) {
    auto e = (*backend)->allocate(kMiB);
    ASSERT_TRUE(e.has_value()) << e.status().message();
    extents.push_back(*e);
  }
  auto full = (*backend)->allocate(1);
  ASSERT_FALSE(full.has_value());
  EXPECT_EQ(full.status().code(), Errc::no_space);
  EXPECT_NE(full.status().message().find("PMem file full"), std::string::npos)
      << full.status().message();
  EXPECT_EQ((*backend)->allocate(0).status().code(), Errc::invalid_argument);
  for (auto& e : extents) (*backend)->release(e);
  EXPECT_EQ((*backend)->used_bytes(), 0u);
}

TEST_F(PmemFileTest, ForeignOrDoubleReleaseIsIgnored) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 4 * kMiB), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  auto kept = (*backend)->allocate(kMiB);
  ASSERT_TRUE(kept.has_value());
  std::memset(kept->addr, 0x77, kept->bytes);
  Extent stale = *kept;
  stale.addr = nullptr;
  Extent foreign{nullptr, kMiB, 2 * kMiB};
  (*backend)->release(foreign);  // never allocated
  Extent copy = stale;
  (*backend)->release(copy);     // the real one, via a copy without mapping
  (*backend)->release(stale);    // double release
  EXPECT_EQ((*backend)->used_bytes(), 0u);
  // The range went back exactly once and can be handed out again.
  auto again = (*backend)->allocate(kMiB);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->offset, kept->offset);
  (*backend)->release(*again);
  munmap(kept->addr, kept->bytes);
}

TEST_F(PmemFileTest, ThreadsAllocateAndReleaseConcurrently) {
  auto backend = open_pmem_file_backend(file_spec(dir_.path(), 64 * kMiB), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  Backend& b = **backend;
  std::atomic<int> errors{0};
  auto worker = [&](unsigned char tag) {
    for (int i = 0; i < 200; ++i) {
      auto e = b.allocate(64 * 1024 * (1 + i % 4));
      if (!e) { ++errors; continue; }
      std::memset(e->addr, tag, e->bytes);
      const auto* p = static_cast<const unsigned char*>(e->addr);
      if (p[0] != tag || p[e->bytes - 1] != tag) ++errors;  // someone else's range
      b.release(*e);
    }
  };
  std::thread t1(worker, 1), t2(worker, 2);
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(b.used_bytes(), 0u);
}

// ---- bad specs ------------------------------------------------------------

TEST_F(PmemFileTest, MissingDirectoryIsNotFound) {
  auto r = open_pmem_file_backend(file_spec(dir_.path() + "/does-not-exist", 16 * kMiB), true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Errc::not_found);
  EXPECT_NE(r.status().message().find("does-not-exist"), std::string::npos) << r.status().message();
}

// A file made the way a user reserves PMem: fallocate -l.
std::string reserved_file(const std::string& dir, std::uint64_t bytes) {
  const std::string path = dir + "/reserved.pmem";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return "";
  const bool ok = fallocate(fd, 0, 0, static_cast<off_t>(bytes)) == 0;
  close(fd);
  return ok ? path : "";
}

TEST_F(PmemFileTest, AnExistingFileIsUsedInPlaceNeverPunchedAndKept) {
  const std::string path = reserved_file(dir_.path(), 16 * kMiB);
  ASSERT_FALSE(path.empty()) << std::strerror(errno);
  const blkcnt_t reserved = blocks_of(path);
  ASSERT_GE(reserved, static_cast<blkcnt_t>(16 * kMiB / 512));
  {
    // remove_at_exit is for files tensortier creates: a user's file stays.
    auto backend = open_pmem_file_backend(file_spec(path, std::nullopt), true);
    ASSERT_TRUE(backend.has_value()) << backend.status().message();
    EXPECT_EQ((*backend)->info().path, path);
    EXPECT_EQ((*backend)->info().capacity_bytes, 16 * kMiB) << "the file's size is the tier";
    EXPECT_EQ((*backend)->info().medium, "emulated");
    auto first = (*backend)->allocate(8 * kMiB);
    auto second = (*backend)->allocate(4 * kMiB);
    ASSERT_TRUE(first.has_value() && second.has_value());
    const char text[] = "in the user's file";
    ASSERT_TRUE((*backend)->copy_in(*second, 100, text, sizeof text).is_ok());
    char read_back[sizeof text] = {};
    const int fd = open(path.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(pread(fd, read_back, sizeof read_back, static_cast<off_t>(second->offset + 100)),
              static_cast<ssize_t>(sizeof read_back));
    close(fd);
    EXPECT_STREQ(read_back, text);
    (*backend)->release(*first);
    (*backend)->release(*second);
    EXPECT_EQ(blocks_of(path), reserved) << "released extents keep the user's blocks";
    EXPECT_EQ((*backend)->used_bytes(), 0u);
  }
  EXPECT_TRUE(fs::exists(path));
  EXPECT_EQ(fs::file_size(path), 16 * kMiB) << "never truncated";
  EXPECT_EQ(blocks_of(path), reserved);
}

TEST_F(PmemFileTest, SizeOfAnExistingFileTakesAPrefixAndNeverGrowsIt) {
  const std::string path = reserved_file(dir_.path(), 16 * kMiB);
  ASSERT_FALSE(path.empty()) << std::strerror(errno);
  auto prefix = open_pmem_file_backend(file_spec(path, 4 * kMiB), true);
  ASSERT_TRUE(prefix.has_value()) << prefix.status().message();
  EXPECT_EQ((*prefix)->info().capacity_bytes, 4 * kMiB);
  EXPECT_FALSE((*prefix)->allocate(5 * kMiB).has_value()) << "only the first 4 MiB are the tier";

  auto larger = open_pmem_file_backend(file_spec(path, 32 * kMiB), true);
  ASSERT_FALSE(larger.has_value());
  EXPECT_EQ(larger.status().code(), Errc::invalid_argument);
  EXPECT_NE(larger.status().message().find("exceeds"), std::string::npos)
      << larger.status().message();
  EXPECT_EQ(fs::file_size(path), 16 * kMiB);
}

TEST_F(PmemFileTest, AnEmptyFileOrAPathThroughAFileIsRefused) {
  const std::string file = dir_.path() + "/plain";
  { std::FILE* f = std::fopen(file.c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  auto r = open_pmem_file_backend(file_spec(file, 16 * kMiB), true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument);
  EXPECT_NE(r.status().message().find("smaller than a page"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(fs::file_size(file), 0u) << "not grown";
  // A path through the regular file does not exist.
  auto through = open_pmem_file_backend(file_spec(file + "/sub", 16 * kMiB), true);
  EXPECT_EQ(through.status().code(), Errc::not_found);
  // Neither a directory nor a regular file.
  auto device = open_pmem_file_backend(file_spec("/dev/null", 16 * kMiB), true);
  ASSERT_FALSE(device.has_value());
  EXPECT_NE(device.status().message().find("neither a directory nor a regular file"),
            std::string::npos)
      << device.status().message();
}

// Root ignores permission bits, so an unwritable directory needs a read-only
// filesystem (a read-only tmpfs), or /proc/self, which no one can create in.
TEST_F(PmemFileTest, ReadOnlyFilesystemIsNotWritable) {
  ScratchTmpfs readonly("size=1m", MS_RDONLY);
  if (!readonly.mounted()) GTEST_SKIP() << readonly.error();
  auto r = open_pmem_file_backend(file_spec(readonly.path(), kMiB / 2), true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument);
  EXPECT_NE(r.status().message().find("not writable"), std::string::npos) << r.status().message();
}

TEST_F(PmemFileTest, ProcDirectoryIsNotWritable) {
  auto r = open_pmem_file_backend(file_spec("/proc/self", 16 * kMiB), true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Errc::invalid_argument);
  EXPECT_NE(r.status().message().find("not writable"), std::string::npos) << r.status().message();
}

TEST_F(PmemFileTest, SizeBeyondFreeSpaceIsNoSpace) {
  const std::uint64_t free_now = free_bytes(dir_.path());
  auto r = open_pmem_file_backend(file_spec(dir_.path(), free_now + (1ULL << 30)), true);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), Errc::no_space);
  const std::string m = r.status().message();
  EXPECT_NE(m.find("exceeds the"), std::string::npos) << m;
  EXPECT_NE(m.find("free on " + dir_.path()), std::string::npos) << m;
  EXPECT_EQ(dir_.entries(), 0u) << "nothing created";
}

TEST_F(PmemFileTest, OtherBadSpecs) {
  EXPECT_EQ(open_pmem_file_backend(file_spec(dir_.path(), 0), true).status().code(),
            Errc::invalid_argument);
  EXPECT_EQ(open_pmem_file_backend(file_spec("", 16 * kMiB), true).status().code(),
            Errc::invalid_argument);
  PmemSpec kmem;
  kmem.scheme = PmemSpec::Scheme::kmem;
  EXPECT_EQ(open_pmem_file_backend(kmem, true).status().code(), Errc::invalid_argument);
  PmemSpec none;
  none.scheme = PmemSpec::Scheme::none;
  EXPECT_EQ(open_pmem_file_backend(none, true).status().code(), Errc::invalid_argument);
}

TEST_F(PmemFileTest, DevdaxBadPaths) {
  PmemSpec spec;
  spec.scheme = PmemSpec::Scheme::devdax;
  spec.path = "/dev/dax97.3";
  auto missing = open_pmem_file_backend(spec, false);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), Errc::not_found);
  EXPECT_NE(missing.status().message().find("/dev/dax97.3"), std::string::npos);

  spec.path = "/dev/null";  // a character device, but not device-DAX
  auto null_device = open_pmem_file_backend(spec, false);
  EXPECT_EQ(null_device.status().code(), Errc::invalid_argument);
  EXPECT_NE(null_device.status().message().find("device-DAX"), std::string::npos)
      << null_device.status().message();
  spec.path = dir_.path();  // a directory
  EXPECT_EQ(open_pmem_file_backend(spec, false).status().code(), Errc::invalid_argument);
  spec.path = "";
  EXPECT_EQ(open_pmem_file_backend(spec, false).status().code(), Errc::invalid_argument);
}

// ---- a full filesystem and a file size limit --------------------------------

TEST_F(PmemFileTest, FullFilesystemIsNoSpaceNotSigbus) {
  ScratchTmpfs small("size=8m");
  if (!small.mounted()) GTEST_SKIP() << small.error();
  auto backend = open_pmem_file_backend(file_spec(small.path(), 8 * kMiB), true);
  ASSERT_TRUE(backend.has_value()) << backend.status().message();
  // Someone else takes 3 MiB of the filesystem after the file was sized.
  const std::string filler = small.path() + "/filler";
  {
    std::vector<char> junk(3 * kMiB, 'x');
    std::FILE* f = std::fopen(filler.c_str(), "w");
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(std::fwrite(junk.data(), 1, junk.size(), f), junk.size());
    std::fclose(f);
  }
  std::vector<Extent> extents;
  Status last;
  for (int i = 0; i < 16; ++i) {
    auto e = (*backend)->allocate(kMiB);
    if (!e) {
      last = e.status();
      break;
    }
    extents.push_back(*e);
  }
  EXPECT_EQ(last.code(), Errc::no_space);
  EXPECT_NE(last.message().find("no space left"), std::string::npos) << last.message();
  ASSERT_GE(extents.size(), 3u);
  ASSERT_LE(extents.size(), 5u);
  EXPECT_EQ((*backend)->used_bytes(), extents.size() * kMiB) << "the failed range was given back";
  // Every byte of what was handed out is backed: writing it cannot SIGBUS.
  for (Extent& e : extents) std::memset(e.addr, 0x42, e.bytes);

  // Freeing the filler makes room again.
  ASSERT_EQ(unlink(filler.c_str()), 0);
  auto after = (*backend)->allocate(kMiB);
  EXPECT_TRUE(after.has_value()) << after.status().message();
  if (after) extents.push_back(*after);
  for (Extent& e : extents) (*backend)->release(e);
  EXPECT_EQ((*backend)->used_bytes(), 0u);
}

// Runs `child` in a forked process and returns its wait status.
template <typename F>
int run_in_child(F child) {
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

int limit_file_size(rlim_t bytes) {
  rlimit limit{bytes, bytes};
  return setrlimit(RLIMIT_FSIZE, &limit);
}

TEST_F(PmemFileTest, FileSizeLimitIsNoSpaceWithoutSigxfsz) {
  const std::string dir = dir_.path();
  // The hazard is real: growing a file past RLIMIT_FSIZE raises SIGXFSZ, which
  // kills a process with the default disposition.
  const int raw = run_in_child([&] {
    if (limit_file_size(kMiB) != 0) return 10;
    const std::string path = dir + "/raw";
    const int fd = open(path.c_str(), O_RDWR | O_CREAT, 0600);
    unlink(path.c_str());
    return ftruncate(fd, 16 * kMiB) == 0 ? 0 : 1;
  });
  ASSERT_TRUE(WIFSIGNALED(raw) && WTERMSIG(raw) == SIGXFSZ) << "status " << raw;

  // The backend checks the limit first: a clean no_space even with SIGXFSZ at
  // its default (fatal) disposition.
  const int opened = run_in_child([&] {
    signal(SIGXFSZ, SIG_DFL);
    if (limit_file_size(kMiB) != 0) return 10;
    auto r = open_pmem_file_backend(file_spec(dir, 16 * kMiB), true);
    if (r.has_value()) return 1;
    if (r.status().code() != Errc::no_space) return 2;
    if (r.status().message().find("file size limit") == std::string::npos) return 3;
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(opened) && WEXITSTATUS(opened) == 0) << "status " << opened;

  // A limit lowered after the file was sized does not matter: fallocate inside
  // the file's size does not grow it, and the kernel checks the limit only on
  // growth (and on write(), which we never use), so extents past it still work.
  const int allocated = run_in_child([&] {
    signal(SIGXFSZ, SIG_IGN);
    auto r = open_pmem_file_backend(file_spec(dir, 16 * kMiB), true);
    if (!r) return 1;
    if (limit_file_size(kMiB) != 0) return 10;
    for (int i = 0; i < 4; ++i) {
      auto e = (*r)->allocate(4 * kMiB);
      if (!e) return 20 + static_cast<int>(e.status().code());
      std::memset(e->addr, 1, e->bytes);
      const char byte = 2;
      if (!(*r)->copy_in(*e, e->bytes - 1, &byte, 1)) return 3;
    }
    return 0;
  });
  EXPECT_TRUE(WIFEXITED(allocated) && WEXITSTATUS(allocated) == 0) << "status " << allocated;
  EXPECT_EQ(dir_.entries(), 0u);
}

}  // namespace
}  // namespace tensortier
