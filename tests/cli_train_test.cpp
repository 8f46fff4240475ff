// `tensortier train` as a user runs it: a short run with --json and
// --schedule, the report's fields, the progress lines, bad options.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "run_command.hpp"

namespace tensortier {
namespace {

using test_support::CommandResult;
using test_support::slurp;

CommandResult train(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env = {}) {
  std::vector<std::string> a = {"train"};
  a.insert(a.end(), args.begin(), args.end());
  return test_support::run_cli(a, env);
}

std::string temp_path(const std::string& name) { return test_support::temp_path("cli-train", name); }

TEST(CliTrain, ShortRunWritesTheReport) {
  const std::string report = temp_path("report.json");
  const std::string schedule = temp_path("schedule.json");
  CommandResult r = train({"--size", "32", "--levels", "2", "--base-filters", "4", "--steps", "3",
                           "--eval-cases", "1", "--threads", "2", "--json", report, "--schedule",
                           schedule});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Progress on stderr: plain lines when not a terminal, one per step.
  EXPECT_NE(r.err.find("step 1/3 loss"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("step 3/3 loss"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("DRAM"), std::string::npos);
  EXPECT_NE(r.err.find("eval after step 3"), std::string::npos) << r.err;

  const auto doc = nlohmann::json::parse(slurp(report));
  for (const char* key : {"config", "model", "flops_per_step", "step_seconds", "losses", "steps",
                          "summary", "eval", "memory", "op_time"})
    EXPECT_TRUE(doc.contains(key)) << key;
  EXPECT_EQ(doc["config"]["threads"], 2);
  EXPECT_EQ(doc["config"]["levels"], 2);
  EXPECT_EQ(doc["step_seconds"].size(), 3u);
  EXPECT_EQ(doc["losses"].size(), 3u);
  EXPECT_GT(doc["flops_per_step"].get<double>(), 1e8);
  EXPECT_GT(doc["summary"]["gflops"].get<double>(), 0.0);
  EXPECT_GT(doc["summary"]["median_step_seconds"].get<double>(), 0.0);
  const auto& step = doc["steps"][2];
  for (const char* key : {"loss", "dice", "seconds", "dram_bytes", "pmem_bytes", "gflops"})
    EXPECT_TRUE(step.contains(key)) << key;
  for (const char* c : {"background", "necrotic", "edema", "enhancing"}) {
    EXPECT_TRUE(step["dice"].contains(c)) << c;
    EXPECT_TRUE(doc["eval"]["dice"].contains(c)) << c;
  }
  EXPECT_EQ(doc["eval"]["cases"], 1);
  ASSERT_FALSE(doc["memory"]["tiers"].empty());
  EXPECT_GT(doc["memory"]["peak_dram_bytes"].get<std::uint64_t>(),
            doc["model"]["schedule_peak_live_bytes"].get<std::uint64_t>());
  EXPECT_EQ(doc["memory"]["peak_pmem_bytes"], 0u);
  EXPECT_FALSE(doc["op_time"].empty());

  const auto sched = nlohmann::json::parse(slurp(schedule));
  EXPECT_EQ(sched["ops"].size(), doc["model"]["ops"].get<std::size_t>());
  EXPECT_TRUE(sched["tensors"][0].contains("uses"));
  std::remove(report.c_str());
  std::remove(schedule.c_str());
}

TEST(CliTrain, JsonToStdout) {
  CommandResult r = train({"--size", "24", "--levels", "1", "--base-filters", "2", "--steps", "1",
                           "--eval-cases", "0", "--json", "-"},
                          {{"TENSORTIER_PMEM", "none"}, {"TENSORTIER_DRAM_LIMIT", "1G"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  EXPECT_EQ(doc["memory"]["tiers"].size(), 1u);
  EXPECT_EQ(doc["memory"]["tiers"][0]["limit_bytes"], 1ull << 30);
  EXPECT_TRUE(doc["eval"].is_null());
}

TEST(CliTrain, BadOptionsAreOneLineErrors) {
  struct Case {
    std::vector<std::string> args;
    const char* says;
  };
  const Case cases[] = {
      {{"--size", "abc"}, "--size 'abc'"},
      {{"--size", "36", "--levels", "4"}, "multiple of 2^(levels-1)"},
      {{"--size", "16"}, "dims.depth = 16"},
      {{"--batch", "0"}, "batch = 0"},
      {{"--lr", "-1"}, "learning rate"},
      {{"--dram-limit", "12Q"}, "--dram-limit"},
  };
  for (const Case& c : cases) {
    CommandResult r = train(c.args);
    EXPECT_EQ(r.exit_code, 2) << c.args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  CommandResult r = train({"--size", "32"}, {{"TENSORTIER_DRAM_LIMIT", "lots"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("TENSORTIER_DRAM_LIMIT"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tensortier
