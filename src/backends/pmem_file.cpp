// File PMem backend through libpmem2: one file (FS-DAX, or emulated on any
// filesystem) or one device-DAX device, carved into extents by an
// OffsetAllocator. libpmem2 maps a small probe of the source once, to learn the
// store granularity and to get its copy/persist functions; extents are mapped
// with plain mmap so that each one can be moved (mremap) and unmapped alone.
#include <fcntl.h>
#include <libpmem2.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "backends/offset_allocator.hpp"
#include "tensortier/backend.hpp"

namespace tensortier {
namespace {

// Not in Debian 12's glibc headers yet.
constexpr int kMadvPopulateWrite = 23;

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

bool is_space_errno(int err) {
  return err == ENOSPC || err == EDQUOT || err == EFBIG || err == ENOMEM;
}

Status errno_status(const std::string& what, int err) {
  return {is_space_errno(err) ? Errc::no_space : Errc::io_error, what + ": " + errno_text(err)};
}

// libpmem2 returns -errno or a PMEM2_E_* code and keeps a thread-local message,
// which some paths leave empty.
Status pmem2_status(Errc code, const std::string& what, int rc) {
  std::string why = pmem2_errormsg();
  if (why.empty()) {
    if (rc == PMEM2_E_INVALID_FILE_TYPE)
      why = "not a regular file or a device-DAX device";
    else if (rc < 0 && rc > PMEM2_E_UNKNOWN)
      why = errno_text(-rc);
    else
      why = "libpmem2 error " + std::to_string(rc);
  }
  return {code, what + ": " + why};
}

// RLIMIT_FSIZE (ulimit -f); UINT64_MAX when unlimited.
std::uint64_t file_size_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return UINT64_MAX;
  return limit.rlim_cur;
}

const char* granularity_name(pmem2_granularity g) {
  switch (g) {
    case PMEM2_GRANULARITY_BYTE: return "byte";
    case PMEM2_GRANULARITY_CACHE_LINE: return "cache_line";
    case PMEM2_GRANULARITY_PAGE: return "page";
  }
  return "page";
}

// What libpmem2 tells us about a source, from one small probe mapping.
struct Probe {
  pmem2_map* map = nullptr;
  pmem2_granularity granularity = PMEM2_GRANULARITY_PAGE;
  pmem2_memcpy_fn memcpy_fn = nullptr;
  pmem2_persist_fn persist_fn = nullptr;
  std::size_t alignment = 0;
  std::size_t source_bytes = 0;
};

// Maps only `alignment` bytes: granularity is a property of the whole file or
// device, and a full-size probe would pin 64 GiB of address space (ulimit -v).
Result<Probe> probe_with_pmem2(int fd, const std::string& path) {
  pmem2_source* source = nullptr;
  if (int rc = pmem2_source_from_fd(&source, fd); rc != 0)
    return pmem2_status(Errc::invalid_argument, "libpmem2 cannot use " + path, rc);
  std::unique_ptr<pmem2_source, void (*)(pmem2_source*)> source_guard(
      source, [](pmem2_source* s) { pmem2_source_delete(&s); });
  Probe probe;
  if (int rc = pmem2_source_alignment(source, &probe.alignment); rc != 0)
    return pmem2_status(Errc::io_error, "libpmem2 cannot read the alignment of " + path, rc);
  if (int rc = pmem2_source_size(source, &probe.source_bytes); rc != 0)
    return pmem2_status(Errc::io_error, "libpmem2 cannot read the size of " + path, rc);
  if (probe.source_bytes < probe.alignment)
    return Status(Errc::invalid_argument, path + " is smaller than its alignment");

  pmem2_config* config = nullptr;
  if (int rc = pmem2_config_new(&config); rc != 0)
    return pmem2_status(Errc::no_space, "pmem2_config_new", rc);
  std::unique_ptr<pmem2_config, void (*)(pmem2_config*)> config_guard(
      config, [](pmem2_config* c) { pmem2_config_delete(&c); });
  // PAGE is the weakest requirement: any medium satisfies it, and the map
  // reports the real (possibly finer) granularity.
  if (int rc = pmem2_config_set_required_store_granularity(config, PMEM2_GRANULARITY_PAGE); rc != 0)
    return pmem2_status(Errc::internal, "libpmem2 granularity", rc);
  if (int rc = pmem2_config_set_length(config, probe.alignment); rc != 0)
    return pmem2_status(Errc::internal, "libpmem2 length", rc);
  if (int rc = pmem2_map_new(&probe.map, config, source); rc != 0)
    return pmem2_status(Errc::io_error, "libpmem2 cannot map " + path, rc);
  probe.granularity = pmem2_map_get_store_granularity(probe.map);
  probe.memcpy_fn = pmem2_get_memcpy_fn(probe.map);
  probe.persist_fn = pmem2_get_persist_fn(probe.map);
  return probe;
}

class PmemFileBackend final : public Backend {
 public:
  // Whose blocks the extents live on: a file this backend created (blocks
  // reserved per extent and punched back on release), a file the user gave
  // (reserved if sparse, never punched: the user sized and owns it), or a
  // device-DAX device (no blocks to manage).
  enum class Source { created_file, user_file, device };

  PmemFileBackend(TierInfo info, int fd, Probe probe, Source source)
      : info_(std::move(info)),
        fd_(fd),
        probe_(probe),
        source_(source),
        ranges_(info_.capacity_bytes, info_.alignment_bytes) {}

  ~PmemFileBackend() override {
    // Extents still mapped stay valid: a mapping holds its own file reference.
    pmem2_map_delete(&probe_.map);
    close(fd_);
  }

  const TierInfo& info() const noexcept override { return info_; }
  std::uint64_t used_bytes() const noexcept override { return ranges_.used_bytes(); }

  Result<Extent> allocate(std::size_t bytes, const AllocateOptions& options) override {
    if (bytes == 0) return Status(Errc::invalid_argument, "cannot allocate 0 bytes");
    if (reinterpret_cast<std::uintptr_t>(options.at) % info_.alignment_bytes != 0)
      return Status(Errc::invalid_argument,
                    "address to map at is not aligned to " + std::to_string(info_.alignment_bytes));
    const std::uint64_t size = ranges_.round_up(bytes);
    const std::optional<std::uint64_t> offset = size == 0 ? std::nullopt : ranges_.allocate(size);
    if (!offset)
      return Status(Errc::no_space, "PMem file full: no free range of " + format_bytes(bytes) +
                                        " in " + info_.path + " (" + format_bytes(used_bytes()) +
                                        " of " + format_bytes(info_.capacity_bytes) + " in use)");
    if (Status reserved = reserve(*offset, size); !reserved) {
      ranges_.release(*offset, size);
      return reserved;
    }
    // MAP_SYNC keeps the file's block map stable under CPU stores on FS-DAX,
    // which is what makes byte/cache-line persistence real there.
    int flags = probe_.granularity == PMEM2_GRANULARITY_PAGE ? MAP_SHARED
                                                             : MAP_SHARED_VALIDATE | MAP_SYNC;
    if (options.at != nullptr) flags |= MAP_FIXED;
    void* addr = mmap(options.at, size, PROT_READ | PROT_WRITE, flags, fd_,
                      static_cast<off_t>(*offset));
    // MAP_POPULATE only read-faults a shared file mapping: every first store
    // would still take a write fault. MADV_POPULATE_WRITE (Linux 5.14) makes the
    // pages writable in one call; on older kernels the stores fault as usual.
    if (addr != MAP_FAILED && options.populate) madvise(addr, size, kMadvPopulateWrite);
    if (addr == MAP_FAILED) {
      const int err = errno;
      punch(*offset, size);
      ranges_.release(*offset, size);
      return errno_status("mmap of " + format_bytes(size) + " of " + info_.path, err);
    }
    return Extent{addr, static_cast<std::size_t>(size), *offset};
  }

  Status move(Extent& extent, void* to) override {
    if (extent.addr == nullptr) return Status(Errc::invalid_argument, "move of an unmapped extent");
    if (reinterpret_cast<std::uintptr_t>(to) % info_.alignment_bytes != 0)
      return Status(Errc::invalid_argument,
                    "move target is not aligned to " + std::to_string(info_.alignment_bytes));
    if (to == extent.addr) return Status::ok();
    void* moved =
        mremap(extent.addr, extent.bytes, extent.bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to);
    if (moved == MAP_FAILED) {
      const int err = errno;
      return {err == ENOMEM ? Errc::no_space : Errc::io_error, "mremap: " + errno_text(err)};
    }
    extent.addr = moved;
    return Status::ok();
  }

  void release(Extent& extent) noexcept override {
    // Punching a range we did not hand out would destroy another extent's
    // data, so a foreign or double release is reported and otherwise ignored.
    if (!ranges_.is_allocated(extent.offset, extent.bytes)) {
      std::fprintf(stderr,
                   "tensortier: %s: ignored release of a range not allocated here "
                   "(offset %llu, %zu bytes)\n",
                   info_.name.c_str(), static_cast<unsigned long long>(extent.offset),
                   extent.bytes);
      return;
    }
    if (extent.addr != nullptr) munmap(extent.addr, extent.bytes);
    extent.addr = nullptr;
    // Punch before the range becomes allocatable again, or we could punch a
    // new owner's freshly reserved blocks.
    punch(extent.offset, extent.bytes);
    ranges_.release(extent.offset, extent.bytes);
  }

  using Backend::copy_in;
  Status copy_in(const Extent& dst, std::size_t offset, const void* src, std::size_t bytes,
                 Persist persist_mode) override {
    if (dst.addr == nullptr) return Status(Errc::invalid_argument, "copy into an unmapped extent");
    if (offset > dst.bytes || bytes > dst.bytes - offset)
      return Status(Errc::invalid_argument,
                    "copy of " + std::to_string(bytes) + " bytes at offset " +
                        std::to_string(offset) + " overruns the extent of " +
                        std::to_string(dst.bytes) + " bytes");
    if (bytes == 0) return Status::ok();
    char* to = static_cast<char*>(dst.addr) + offset;
    // Without NOFLUSH libpmem2 persists inside every call (an msync on page
    // granularity, 100x slower); we persist the whole range once below.
    // NONTEMPORAL is not forced: measured no gain on page granularity, and on
    // real PMem libpmem2 already switches to non-temporal stores for big copies.
    if (persist_mode == Persist::no && probe_.granularity == PMEM2_GRANULARITY_PAGE) {
      // Page cache underneath and nothing to persist: glibc's memcpy measured
      // 1.6x faster than libpmem2's here (11.5 vs 7.1 GB/s).
      std::memcpy(to, src, bytes);
      return Status::ok();
    }
    probe_.memcpy_fn(to, src, bytes, PMEM2_F_MEM_NOFLUSH);
    return persist_mode == Persist::yes ? persist(to, bytes) : Status::ok();
  }

 private:
  Status persist(const char* addr, std::size_t bytes) {
    if (probe_.granularity != PMEM2_GRANULARITY_PAGE) {
      probe_.persist_fn(addr, bytes);  // CPU cache flush + fence: cannot fail
      return Status::ok();
    }
    // libpmem2's page persist aborts the process when msync fails (EIO after a
    // writeback error); we call msync ourselves to report it as a status.
    const std::uintptr_t page = info_.alignment_bytes;
    const std::uintptr_t start = reinterpret_cast<std::uintptr_t>(addr) / page * page;
    const std::uintptr_t end = reinterpret_cast<std::uintptr_t>(addr) + bytes;
    if (msync(reinterpret_cast<void*>(start), end - start, MS_SYNC) != 0)
      return Status(Errc::io_error, "msync of " + info_.path + ": " + errno_text(errno));
    return Status::ok();
  }

  // Reserves the blocks behind a range before it is mapped, so that a full
  // filesystem is a clean no_space now instead of a SIGBUS on first write.
  Status reserve(std::uint64_t offset, std::uint64_t bytes) {
    if (source_ == Source::device) return Status::ok();
    int err = 0;
    do {
      const int rc = fallocate(fd_, 0, static_cast<off_t>(offset), static_cast<off_t>(bytes));
      err = rc == 0 ? 0 : errno;
    } while (err == EINTR);
    if (err == EOPNOTSUPP) {
      // The filesystem cannot reserve natively; glibc's posix_fallocate then
      // writes into every block, and a write past RLIMIT_FSIZE raises SIGXFSZ
      // (fatal by default), so refuse such a range instead. A native fallocate
      // inside the file's size never trips the limit: it does not grow the file.
      if (offset + bytes > file_size_limit())
        return Status(Errc::no_space, "extent at " + format_bytes(offset) + " of " + info_.path +
                                          " is past the file size limit (ulimit -f) of " +
                                          format_bytes(file_size_limit()));
      err = posix_fallocate(fd_, static_cast<off_t>(offset), static_cast<off_t>(bytes));
    }
    if (err == 0) return Status::ok();
    if (is_space_errno(err))
      return Status(Errc::no_space, "no space left for " + format_bytes(bytes) + " of PMem in " +
                                        info_.path + " (" + errno_text(err) + ")");
    return Status(Errc::io_error, "fallocate of " + info_.path + ": " + errno_text(err));
  }

  // Gives a range's blocks back to the filesystem; the file keeps its size.
  void punch(std::uint64_t offset, std::uint64_t bytes) noexcept {
    if (source_ != Source::created_file) return;
    // Failure (e.g. EOPNOTSUPP) only means the blocks stay allocated until the
    // range is reused or the file is closed.
    (void)fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                    static_cast<off_t>(bytes));
  }

  const TierInfo info_;
  const int fd_;
  Probe probe_;
  const Source source_;
  OffsetAllocator ranges_;
};

// Removes a created file unless the open succeeded (or it was already
// unlinked), so a failed open leaves nothing behind.
struct FileGuard {
  int fd = -1;
  std::string path;
  bool unlinked = false;
  ~FileGuard() {
    if (fd < 0) return;
    if (!unlinked) unlink(path.c_str());
    close(fd);
  }
  int release() { return std::exchange(fd, -1); }
};

std::string pick_directory(const PmemSpec& spec) {
  if (!spec.path.empty() || spec.scheme != PmemSpec::Scheme::temp_file) return spec.path;
  const char* tmpdir = std::getenv("TMPDIR");
  return tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
}

Status check_directory(const std::string& dir) {
  if (dir.empty())
    return Status(Errc::invalid_argument, "PMem file needs a directory (file:/dir[,size=N])");
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return Status(Errc::not_found, "PMem directory " + dir + " does not exist");
    if (err == EACCES)
      return Status(Errc::invalid_argument, "PMem directory " + dir + " is not accessible");
    return errno_status("stat " + dir, err);
  }
  if (!S_ISDIR(st.st_mode))
    return Status(Errc::invalid_argument,
                  "PMem path " + dir + " is neither a directory nor a regular file (file:/dir " +
                      "creates a file in a directory; file:/path/file uses an existing file)");
  // Root passes access(W_OK) except on a read-only filesystem; creating the
  // file below catches what is left (e.g. /proc).
  if (access(dir.c_str(), W_OK) != 0)
    return Status(Errc::invalid_argument, "PMem directory " + dir + " is not writable (" +
                                              errno_text(errno) + ")");
  return Status::ok();
}

// The file size: the spec's, or the default, checked against the free space
// and RLIMIT_FSIZE (ftruncate past it raises SIGXFSZ, fatal by default).
Result<std::uint64_t> pick_size(const PmemSpec& spec, const std::string& dir, std::uint64_t page) {
  struct statvfs fs {};
  if (statvfs(dir.c_str(), &fs) != 0) return errno_status("statvfs " + dir, errno);
  const std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  std::uint64_t size = spec.size_bytes.value_or(kDefaultPmemFileBytes);
  if (size == 0) return Status(Errc::invalid_argument, "PMem file size must be at least 1 byte");
  if (size > UINT64_MAX - page) return Status(Errc::invalid_argument, "PMem file size too large");
  size = (size + page - 1) / page * page;
  // The default must work on a small disk too (CI runners): take at most 90%
  // of the free space, leaving room for the rest of the system.
  if (spec.scheme == PmemSpec::Scheme::temp_file && !spec.size_bytes) {
    const std::uint64_t clamp = free_bytes / 10 * 9 / page * page;
    if (clamp < size) size = clamp;
    if (size == 0)
      return Status(Errc::no_space, "only " + format_bytes(free_bytes) + " free on " + dir +
                                        ", too little for a PMem file");
  }
  if (size > free_bytes)
    return Status(Errc::no_space, "size " + format_bytes(size) + " exceeds the " +
                                      format_bytes(free_bytes) + " free on " + dir +
                                      " (file:/dir,size=N sets a smaller size)");
  if (size > file_size_limit())
    return Status(Errc::no_space, "size " + format_bytes(size) +
                                      " exceeds the file size limit (ulimit -f) of " +
                                      format_bytes(file_size_limit()));
  return size;
}

// The backend over an open regular file of `size` bytes. It owns `fd` once
// this succeeds; on failure the caller still does.
Result<std::unique_ptr<Backend>> file_backend(int fd, const std::string& path, std::uint64_t size,
                                              PmemFileBackend::Source source) {
  Result<Probe> probe = probe_with_pmem2(fd, path);
  if (!probe) return probe.status();
  TierInfo info;
  info.name = "pmem_file";
  info.kind = TierKind::pmem_file;
  info.medium = probe->granularity == PMEM2_GRANULARITY_PAGE ? "emulated" : "fsdax";
  info.numa_node = -1;
  info.capacity_bytes = size;
  info.alignment_bytes = probe->alignment;
  info.granularity = granularity_name(probe->granularity);
  info.path = path;
  info.persistent = true;
  return std::unique_ptr<Backend>(
      std::make_unique<PmemFileBackend>(std::move(info), fd, *probe, source));
}

// file:/path naming an existing regular file: used in place, as it is. Its
// size (or the first size=N bytes of it) is the tier; it is never truncated,
// punched or removed, so space the user reserved stays reserved (fallocate -l
// on FS-DAX; on tmpfs, pages charged to whoever created the file, which is how
// an emulated PMem tier stays outside a DRAM cgroup's limit). Its content is
// scratch: extents overwrite it.
Result<std::unique_ptr<Backend>> open_user_file(const PmemSpec& spec, const struct stat& st) {
  const std::string& path = spec.path;
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const std::uint64_t file_bytes = static_cast<std::uint64_t>(st.st_size) / page * page;
  if (file_bytes == 0)
    return Status(Errc::invalid_argument,
                  "PMem file " + path + " is smaller than a page (" +
                      std::to_string(st.st_size) + " bytes): file:/path takes a directory to " +
                      "create a file in, or an existing file sized for the tier (fallocate -l)");
  std::uint64_t size = file_bytes;
  if (spec.size_bytes) {
    if (*spec.size_bytes > file_bytes)
      return Status(Errc::invalid_argument,
                    "size=" + format_bytes(*spec.size_bytes) + " exceeds the " +
                        format_bytes(file_bytes) + " of the existing file " + path +
                        " (grow it with fallocate -l, or drop size=)");
    size = (*spec.size_bytes + page - 1) / page * page;
  }
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS || err == ETXTBSY)
      return Status(Errc::invalid_argument, "PMem file " + path + " is not writable (" +
                                                errno_text(err) + ")");
    return errno_status("open " + path, err);
  }
  auto backend = file_backend(fd, path, size, PmemFileBackend::Source::user_file);
  if (!backend) close(fd);
  return backend;
}

Result<std::unique_ptr<Backend>> open_file(const PmemSpec& spec, bool remove_at_exit) {
  struct stat st {};
  if (spec.scheme == PmemSpec::Scheme::file && stat(spec.path.c_str(), &st) == 0 &&
      S_ISREG(st.st_mode))
    return open_user_file(spec, st);
  const std::string dir = pick_directory(spec);
  if (Status s = check_directory(dir); !s) return s;
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  Result<std::uint64_t> size = pick_size(spec, dir, page);
  if (!size) return size.status();

  FileGuard file;
  file.path = dir + (dir.back() == '/' ? "" : "/") + "tensortier-pmem-XXXXXX";
  file.fd = mkostemp(file.path.data(), O_CLOEXEC);
  if (file.fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS || err == ENOENT)
      return Status(Errc::invalid_argument, "PMem directory " + dir + " is not writable (" +
                                                errno_text(err) + ")");
    return errno_status("cannot create a PMem file in " + dir, err);
  }
  // Unlinked right away, the file cannot outlive the process, even on a crash.
  if (remove_at_exit) file.unlinked = unlink(file.path.c_str()) == 0;
  // Sparse: blocks are reserved per extent by allocate().
  if (ftruncate(file.fd, static_cast<off_t>(*size)) != 0)
    return errno_status("cannot size " + file.path + " to " + format_bytes(*size), errno);

  auto backend = file_backend(file.fd, file.path, *size, PmemFileBackend::Source::created_file);
  if (backend) file.release();
  return backend;
}

Result<std::unique_ptr<Backend>> open_devdax(const PmemSpec& spec) {
  const std::string& path = spec.path;
  if (path.empty())
    return Status(Errc::invalid_argument, "devdax needs a device path (devdax:/dev/daxX.Y)");
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return Status(Errc::not_found, "device-DAX device " + path +
                                         " does not exist (ndctl create-namespace -m devdax "
                                         "makes one; ls /dev/dax* lists them)");
    return errno_status("stat " + path, err);
  }
  if (!S_ISCHR(st.st_mode))
    return Status(Errc::invalid_argument, path + " is not a device-DAX character device");
  const int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM || err == EROFS)
      return Status(Errc::invalid_argument, path + " is not writable (" + errno_text(err) + ")");
    return errno_status("open " + path, err);
  }
  Result<Probe> probe = probe_with_pmem2(fd, path);
  if (!probe) {
    close(fd);
    return probe.status();
  }
  TierInfo info;
  info.name = "pmem_devdax";
  info.kind = TierKind::pmem_devdax;
  info.medium = "devdax";
  info.numa_node = -1;
  info.capacity_bytes = probe->source_bytes;
  info.alignment_bytes = probe->alignment;
  info.granularity = granularity_name(probe->granularity);
  info.path = path;
  info.persistent = true;
  return std::unique_ptr<Backend>(
      std::make_unique<PmemFileBackend>(std::move(info), fd, *probe, PmemFileBackend::Source::device));
}

}  // namespace

Result<std::unique_ptr<Backend>> open_pmem_file_backend(const PmemSpec& spec, bool remove_at_exit) {
  switch (spec.scheme) {
    case PmemSpec::Scheme::temp_file:
    case PmemSpec::Scheme::file: return open_file(spec, remove_at_exit);
    case PmemSpec::Scheme::devdax: return open_devdax(spec);
    case PmemSpec::Scheme::kmem:
    case PmemSpec::Scheme::none: break;
  }
  return Status(Errc::invalid_argument,
                "the file PMem backend takes file:/dir, devdax:/dev/daxX.Y or the default temp "
                "file; kmem and none are handled elsewhere");
}

bool pmem_file_supported() noexcept { return true; }

}  // namespace tensortier
