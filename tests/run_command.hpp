// Runs a program with extra environment variables and captures its output and
// how it ended (exit code or signal), for tests of the CLI and of scripts.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace tensortier::test_support {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// /tmp/tt-<test>-<pid>-<name>: a file name no other test process uses.
inline std::string temp_path(const std::string& test, const std::string& name) {
  return "/tmp/tt-" + test + "-" + std::to_string(getpid()) + "-" + name;
}

// `unset` names variables removed from the inherited environment.
inline CommandResult run_command(const std::vector<std::string>& argv,
                                 const std::map<std::string, std::string>& env = {},
                                 const std::vector<std::string>& unset = {}) {
  char out_path[] = "/tmp/tt-test-out-XXXXXX";
  char err_path[] = "/tmp/tt-test-err-XXXXXX";
  const int out_fd = mkstemp(out_path);
  const int err_fd = mkstemp(err_path);
  CommandResult result;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    for (const auto& name : unset) unsetenv(name.c_str());
    for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  close(out_fd);
  close(err_fd);
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  unlink(out_path);
  unlink(err_path);
  return result;
}

// The variables that configure tensortier: a CLI test clears them all so the
// caller's environment cannot change what it checks.
inline const std::vector<std::string>& tensortier_variables() {
  static const std::vector<std::string> names = {
      "TENSORTIER_DRAM_LIMIT", "TENSORTIER_PMEM",   "TENSORTIER_MIN_SIZE", "TENSORTIER_STATS",
      "TENSORTIER_TOPOLOGY_XML", "TENSORTIER_POLICY", "TENSORTIER_OPTANE"};
  return names;
}

#ifdef TT_CLI_PATH
// `tensortier ARGS...` with two OpenMP threads, every TENSORTIER_* variable
// cleared and then `env` set.
inline CommandResult run_cli(const std::vector<std::string>& args,
                             const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {TT_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> e = {{"OMP_NUM_THREADS", "2"}};
  for (const auto& [k, v] : env) e[k] = v;
  return run_command(argv, e, tensortier_variables());
}
#endif

}  // namespace tensortier::test_support
