// Reads an hwloc XML file with plain syscalls, then loads it once in a forked
// child so that an hwloc crash (SIGSEGV on incomplete cpusets in 2.9) kills the
// child, not the caller. The parent later loads the very same bytes.
#include "topology/xml_guard.hpp"

#include <fcntl.h>
#include <hwloc.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

namespace tensortier::topology_detail {
namespace {

// Real machines export a few MB at most; this only stops a runaway read.
constexpr std::size_t kMaxXmlBytes = std::size_t{256} << 20;
// Loading even a large machine's XML takes well under a second; a child that
// takes longer most likely inherited a lock another thread held at fork().
constexpr int kProbeTimeoutMs = 10'000;
// Such a deadlock is a race, so a timed-out probe is tried once more.
constexpr int kProbeAttempts = 2;

constexpr const char* kHint =
    " (hwloc 2.9 needs complete_cpuset/complete_nodeset on Machine/Package/NUMANode/Core)";

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

std::string quoted(const std::string& path) { return "'" + path + "'"; }

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }
  int get() const noexcept { return fd_; }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

Result<std::string> read_xml_file(const std::string& path) {
  if (path.empty()) return Status(Errc::invalid_argument, "topology XML path is empty");
  // O_NONBLOCK: opening a FIFO must not hang; fstat below rejects it anyway.
  FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      return Status(Errc::not_found, "topology XML " + quoted(path) + " does not exist");
    return Status(Errc::io_error, "cannot open topology XML " + quoted(path) + ": " + errno_text(err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return Status(Errc::io_error, "cannot stat topology XML " + quoted(path) + ": " + errno_text(errno));
  if (S_ISDIR(st.st_mode))
    return Status(Errc::invalid_argument,
                  "topology XML " + quoted(path) + " is a directory, expected an hwloc XML file");
  if (!S_ISREG(st.st_mode))
    return Status(Errc::invalid_argument,
                  "topology XML " + quoted(path) + " is not a regular file, expected an hwloc XML file");
  if (st.st_size == 0)
    return Status(Errc::invalid_argument,
                  "topology XML " + quoted(path) + " is empty, expected an hwloc XML file (lstopo --of xml)");
  if (static_cast<std::size_t>(st.st_size) > kMaxXmlBytes)
    return Status(Errc::invalid_argument, "topology XML " + quoted(path) + " is " +
                                              std::to_string(st.st_size) +
                                              " bytes; at most 256 MiB is accepted");

  std::string xml;
  xml.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < xml.size()) {
    const ssize_t n = ::read(fd.get(), xml.data() + got, xml.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      return Status(Errc::io_error, "cannot read topology XML " + quoted(path) + ": " + errno_text(errno));
    if (n == 0) break;  // shrank while reading: judge what we got
    got += static_cast<std::size_t>(n);
  }
  xml.resize(got);

  // A cheap first verdict with a clearer message than hwloc's EINVAL.
  std::size_t i = xml.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;
  while (i < xml.size() && (xml[i] == ' ' || xml[i] == '\t' || xml[i] == '\n' || xml[i] == '\r')) ++i;
  if (i == xml.size())
    return Status(Errc::invalid_argument,
                  "topology XML " + quoted(path) + " holds only whitespace, expected an hwloc XML file");
  if (xml[i] != '<')
    return Status(Errc::invalid_argument,
                  "topology XML " + quoted(path) + " is not XML (it does not start with '<')");
  return xml;
}

// The child's side of the probe: load with hwloc, report one message, _exit.
[[noreturn]] void run_probe_child(int report_fd, const std::string& xml) {
  // hwloc's chatter on a bad file belongs to no one.
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0) {
    ::dup2(devnull, STDOUT_FILENO);
    ::dup2(devnull, STDERR_FILENO);
  }
  // A crash here is an expected verdict: no core file, no inherited handler
  // (the host may own SIGSEGV, e.g. a write barrier that would wait forever).
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  sigset_t fatal;
  ::sigemptyset(&fatal);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
    ::signal(sig, SIG_DFL);
    ::sigaddset(&fatal, sig);
  }
  ::sigprocmask(SIG_UNBLOCK, &fatal, nullptr);

  char message[32];
  hwloc_topology_t topology = nullptr;
  int failed_errno = 0;
  if (hwloc_topology_init(&topology) < 0) {
    failed_errno = errno;
  } else if (hwloc_topology_set_xmlbuffer(topology, xml.c_str(), static_cast<int>(xml.size() + 1)) < 0 ||
             hwloc_topology_load(topology) < 0) {
    failed_errno = errno;
  }
  int len = failed_errno == 0 ? std::snprintf(message, sizeof message, "K")
                              : std::snprintf(message, sizeof message, "E%d", failed_errno);
  // One small write is atomic on a pipe; nothing to do if the parent is gone.
  [[maybe_unused]] ssize_t ignored = ::write(report_fd, message, static_cast<std::size_t>(len));
  ::_exit(failed_errno == 0 ? 0 : 1);
}

std::string signal_text(int sig) {
  const char* name = sigabbrev_np(sig);
  const char* description = sigdescr_np(sig);
  std::string text = "signal " + std::to_string(sig);
  if (name != nullptr) text += std::string(" (SIG") + name;
  if (description != nullptr) text += std::string(name != nullptr ? ", " : " (") + description;
  if (name != nullptr || description != nullptr) text += ")";
  return text;
}

// hwloc dlopens its plugins (libxml2 among them) with its first topology and
// unloads them with its last; libxml2's cleanup then leaks other threads'
// parser state. One empty topology kept for the process pins them, and the
// probe child finds them loaded instead of calling dlopen after fork.
Status pin_hwloc_plugins() {
  static hwloc_topology_t pinned = nullptr;
  std::lock_guard<std::mutex> lock(hwloc_lock());
  if (pinned == nullptr && hwloc_topology_init(&pinned) < 0) {
    pinned = nullptr;
    return Status(Errc::io_error, "hwloc_topology_init failed: " + errno_text(errno));
  }
  return Status::ok();
}

Status probe_in_child(const std::string& path, const std::string& xml, bool& timed_out) {
  timed_out = false;

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return Status(Errc::io_error, "cannot create a pipe to probe topology XML " + quoted(path) + ": " +
                                      errno_text(errno));
  FileDescriptor read_end(fds[0]);
  FileDescriptor write_end(fds[1]);

  pid_t pid;
  {
    std::lock_guard<std::mutex> lock(hwloc_lock());
    pid = ::fork();
  }
  if (pid < 0)
    return Status(Errc::io_error,
                  "cannot fork to probe topology XML " + quoted(path) + ": " + errno_text(errno));
  if (pid == 0) run_probe_child(write_end.get(), xml);
  write_end.reset();  // so a dead child reads as EOF

  // Wait for the child's one message (or EOF when it dies), with a deadline.
  char message[32] = {};
  ssize_t got = -1;
  int poll_errno = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kProbeTimeoutMs);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd pfd{read_end.get(), POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) {
      poll_errno = errno;
      break;
    }
    if (ready == 0) continue;  // the loop re-checks the deadline
    got = ::read(read_end.get(), message, sizeof message - 1);
    if (got < 0 && errno == EINTR) continue;
    break;
  }
  if (timed_out || poll_errno != 0) ::kill(pid, SIGKILL);  // never wait on a hung child

  int wstatus = 0;
  pid_t waited;
  do {
    waited = ::waitpid(pid, &wstatus, 0);
  } while (waited < 0 && errno == EINTR);
  // waited < 0 (ECHILD) when the host ignores SIGCHLD: the pipe message decides.

  const std::string prefix = "hwloc could not load topology XML " + quoted(path) + ": ";
  if (got > 0 && message[0] == 'K') return Status::ok();
  std::string why;
  if (timed_out) {
    why = "hwloc did not finish loading it within " + std::to_string(kProbeTimeoutMs / 1000) + " s, " +
          std::to_string(kProbeAttempts) + " times";
  } else if (poll_errno != 0) {
    why = "waiting for the hwloc probe process failed (" + errno_text(poll_errno) + ")";
  } else if (got > 0 && message[0] == 'E') {
    why = "hwloc rejected it as an invalid topology (" + errno_text(std::atoi(message + 1)) + ")";
  } else if (waited == pid && WIFSIGNALED(wstatus)) {
    why = "hwloc crashed with " + signal_text(WTERMSIG(wstatus)) + " while loading it";
  } else if (waited == pid && WIFEXITED(wstatus)) {
    why = "the hwloc probe process exited with status " + std::to_string(WEXITSTATUS(wstatus));
  } else {
    why = "the hwloc probe process ended without a verdict";
  }
  return Status(Errc::invalid_argument, prefix + why + kHint);
}

}  // namespace

std::mutex& hwloc_lock() {
  static std::mutex lock;
  return lock;
}

Result<std::string> read_probed_topology_xml(const std::string& path) {
  Result<std::string> xml = read_xml_file(path);
  if (!xml) return xml;
  if (Status pinned = pin_hwloc_plugins(); !pinned) return pinned;
  Status probed;
  bool timed_out = true;
  for (int attempt = 0; attempt < kProbeAttempts && timed_out; ++attempt)
    probed = probe_in_child(path, *xml, timed_out);
  if (!probed) return probed;
  return xml;
}

}  // namespace tensortier::topology_detail
