// The `tensortier` command as a user runs it: topo on this machine and on XML
// fixtures, the demo, and every bad configuration ending in a one-line error.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "run_command.hpp"

namespace tensortier {
namespace {

using test_support::CommandResult;
using test_support::run_command;

const std::vector<std::string> kAllVars = {"TENSORTIER_DRAM_LIMIT", "TENSORTIER_PMEM",
                                           "TENSORTIER_MIN_SIZE", "TENSORTIER_STATS",
                                           "TENSORTIER_TOPOLOGY_XML"};

CommandResult cli(const std::vector<std::string>& args,
                  const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> argv = {TT_CLI_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, kAllVars);
}

nlohmann::json topo_json(const std::map<std::string, std::string>& env = {}) {
  CommandResult r = cli({"topo", "--json"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(CliTopo, LiveMachineHasDramNode0AndEmulatedPmemFile) {
  auto doc = topo_json();
  EXPECT_EQ(doc["topology"]["source"], "live");
  const auto& tiers = doc["tiers"];
  ASSERT_GE(tiers.size(), 2u);
  EXPECT_EQ(tiers[0]["kind"], "dram");
  EXPECT_EQ(tiers[0]["numa_node"], 0);
  EXPECT_GT(tiers[0]["limit_bytes"].get<std::uint64_t>(), 0u);
  const auto& pmem = tiers.back();
  EXPECT_EQ(pmem["kind"], "pmem_file");
  EXPECT_EQ(pmem["medium"], "emulated");
  EXPECT_EQ(pmem["granularity"], "page");
  EXPECT_TRUE(pmem["opened"].get<bool>());
  EXPECT_GT(pmem["capacity_bytes"].get<std::uint64_t>(), 0u);
}

TEST(CliTopo, DramLimitFromEnvironment) {
  auto doc = topo_json({{"TENSORTIER_DRAM_LIMIT", "3G"}, {"TENSORTIER_PMEM", "none"}});
  std::uint64_t dram_total = 0;
  for (const auto& t : doc["tiers"]) {
    EXPECT_NE(t["kind"], "pmem_file");
    if (t["kind"] == "dram") dram_total += t["limit_bytes"].get<std::uint64_t>();
  }
  EXPECT_EQ(dram_total, 3ull << 30);
}

TEST(CliTopo, TwoSocketFixtureListsTwoDramAndTwoNvmTargets) {
  auto doc = topo_json({{"TENSORTIER_TOPOLOGY_XML", TT_FIXTURES_DIR "/two_socket_dram_nvm.xml"},
                        {"TENSORTIER_PMEM", "kmem"}});
  int dram = 0, nvm = 0;
  for (const auto& t : doc["topology"]["targets"]) {
    EXPECT_GT(t["capacity_bytes"].get<std::uint64_t>(), 0u);
    EXPECT_FALSE(t["local_cpus"].empty()) << t.dump();
    if (t["kind"] == "dram") ++dram;
    if (t["kind"] == "nvm") ++nvm;
  }
  EXPECT_EQ(dram, 2);
  EXPECT_EQ(nvm, 2);
  int kmem_tiers = 0;
  for (const auto& t : doc["tiers"]) kmem_tiers += t["kind"] == "pmem_kmem" ? 1 : 0;
  EXPECT_EQ(kmem_tiers, 2);
}

TEST(CliTopo, TableNamesTheTiers) {
  CommandResult r = cli({"topo"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("dram0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pmem_file"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("emulated"), std::string::npos) << r.out;
}

TEST(CliDemo, SpillsToPmemAndKeepsEveryBlockIntact) {
  CommandResult r = cli({"demo", "--bytes", "64M", "--block", "4M", "--dram-limit", "16M",
                         "--json", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto json_start = r.out.find('{');
  ASSERT_NE(json_start, std::string::npos);
  auto doc = nlohmann::json::parse(r.out.substr(json_start));
  EXPECT_EQ(doc["blocks"], 16);
  EXPECT_EQ(doc["intact_blocks"], 16);
  EXPECT_EQ(doc["spilled_blocks"], 12);
  EXPECT_LE(doc["dram_used_bytes"].get<std::uint64_t>(), 16ull << 20);
  EXPECT_EQ(doc["pmem_used_bytes"].get<std::uint64_t>(), 48ull << 20);
}

TEST(CliDemo, SpillsIntoAnExistingFileAndLeavesItInPlace) {
  char path[] = "/tmp/tt-cli-reserved-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(fallocate(fd, 0, 0, 64 << 20), 0);
  close(fd);
  CommandResult r = cli({"demo", "--bytes", "32M", "--block", "4M", "--dram-limit", "8M",
                         "--json", "-"},
                        {{"TENSORTIER_PMEM", std::string("file:") + path}});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto doc = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  EXPECT_EQ(doc["intact_blocks"], 8);
  EXPECT_EQ(doc["pmem_used_bytes"].get<std::uint64_t>(), 24ull << 20);
  struct stat st {};
  ASSERT_EQ(stat(path, &st), 0) << "the user's file is kept";
  EXPECT_EQ(st.st_size, 64 << 20);
  EXPECT_GE(st.st_blocks, (64 << 20) / 512) << "and keeps its blocks";
  unlink(path);
}

std::string free_space_plus_one_tib(const std::string& dir) {
  struct statvfs fs {};
  statvfs(dir.c_str(), &fs);
  const unsigned long long free_bytes = static_cast<unsigned long long>(fs.f_bavail) * fs.f_frsize;
  return std::to_string(free_bytes / (1ull << 30) + 1024) + "G";
}

TEST(CliBadConfig, EveryBadValueIsOneLineNamingTheVariable) {
  char regular_file[] = "/tmp/tt-cli-regular-XXXXXX";
  close(mkstemp(regular_file));
  struct Case {
    std::string var, value;
  };
  const std::vector<Case> cases = {
      {"TENSORTIER_PMEM", "bogus:/tmp"},
      {"TENSORTIER_PMEM", "file:relative"},
      {"TENSORTIER_DRAM_LIMIT", "12Q"},
      {"TENSORTIER_DRAM_LIMIT", "-1"},
      {"TENSORTIER_DRAM_LIMIT", "0"},
      {"TENSORTIER_PMEM", "file:/tmp,size=12Q"},
      {"TENSORTIER_PMEM", "file:/tmp,size=0"},
      {"TENSORTIER_PMEM", "file:/nonexistent/tensortier-dir"},
      {"TENSORTIER_PMEM", "file:/sys"},  // not writable, even for root
      {"TENSORTIER_PMEM", std::string("file:") + regular_file},
      {"TENSORTIER_PMEM", "file:/tmp,size=" + free_space_plus_one_tib("/tmp")},
      {"TENSORTIER_PMEM", "devdax:/dev/dax-does-not-exist"},
      {"TENSORTIER_MIN_SIZE", "-5"},
      {"TENSORTIER_TOPOLOGY_XML", TT_FIXTURES_DIR "/missing_complete_cpuset.xml"},
      {"TENSORTIER_TOPOLOGY_XML", TT_FIXTURES_DIR "/not_xml.xml"},
      {"TENSORTIER_TOPOLOGY_XML", "/nonexistent/topology.xml"},
  };
  for (const auto& c : cases) {
    for (const char* cmd : {"topo", "demo"}) {
      CommandResult r = cli({cmd}, {{c.var, c.value}});
      SCOPED_TRACE(std::string(cmd) + " with " + c.var + "=" + c.value);
      EXPECT_EQ(r.signal, 0) << "ended in signal " << r.signal;
      EXPECT_NE(r.exit_code, 0) << r.out;
      EXPECT_NE(r.err.find(c.var), std::string::npos) << r.err;
      ASSERT_FALSE(r.err.empty());
      EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not one line: " << r.err;
    }
  }
  unlink(regular_file);
}

TEST(CliBadConfig, BadCommandLineSizeIsRejected) {
  CommandResult r = cli({"demo", "--bytes", "12Q"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.signal, 0);
  EXPECT_NE(r.err.find("12Q"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tensortier
