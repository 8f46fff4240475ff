// `tensortier train --dram-limit` (the schedule-aware tier plan) and
// `tensortier plan` as a user runs them.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "run_command.hpp"

namespace tensortier {
namespace {

using test_support::CommandResult;
using test_support::slurp;

CommandResult cli(const std::vector<std::string>& args,
                  std::map<std::string, std::string> env = {}) {
  env.emplace("TENSORTIER_PMEM", "file:/tmp,size=2G");
  return test_support::run_cli(args, env);
}

std::string temp_path(const std::string& name) { return test_support::temp_path("cli-tiering", name); }

const std::vector<std::string> kModel = {"--size", "32", "--batch", "2", "--levels", "3",
                                         "--base-filters", "8", "--steps", "3",
                                         "--eval-cases", "0", "--threads", "2"};

nlohmann::json train_report(const std::vector<std::string>& extra, const char* name,
                            const std::map<std::string, std::string>& env = {}) {
  const std::string report = temp_path(name);
  std::vector<std::string> args = {"train"};
  args.insert(args.end(), kModel.begin(), kModel.end());
  args.insert(args.end(), extra.begin(), extra.end());
  args.insert(args.end(), {"--json", report});
  CommandResult r = cli(args, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  auto doc = nlohmann::json::parse(slurp(report));
  unlink(report.c_str());
  return doc;
}

TEST(CliTiering, TrainUnderABudgetMatchesAllDram) {
  const auto all = train_report({}, "all.json");
  ASSERT_FALSE(all.is_null());
  const std::uint64_t footprint = all["memory"]["footprint_bytes"];
  ASSERT_GT(footprint, 0u);
  const std::uint64_t budget = footprint / 4 / 4096 * 4096;
  const auto tiered = train_report(
      {"--dram-limit", std::to_string(budget), "--reserve", "1M", "--trace", temp_path("t.json")},
      "tiered.json");
  ASSERT_FALSE(tiered.is_null());
  EXPECT_EQ(tiered["losses"], all["losses"]);
  const auto& m = tiered["memory"];
  EXPECT_EQ(m["tiering"], "plan");
  EXPECT_EQ(m["policy"], "next_use");
  EXPECT_LE(m["peak_dram_bytes"].get<std::uint64_t>(), budget);
  EXPECT_GT(m["peak_pmem_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_GT(m["bytes_demoted"].get<std::uint64_t>(), 0u);
  EXPECT_GT(m["bytes_promoted"].get<std::uint64_t>(), 0u);
  EXPECT_LE(m["planned_dram_peak_bytes"].get<std::uint64_t>(), budget);
  EXPECT_GE(m["stall_seconds"].get<double>(), 0.0);
  for (const char* key : {"budget_bytes", "min_budget_bytes", "bytes_prefetched_per_step",
                          "prefetches", "demotes", "in_place_read_bytes"})
    EXPECT_TRUE(m["plan"].contains(key)) << key;
  // The Perfetto trace: JSON with counter tracks.
  const auto trace = nlohmann::json::parse(slurp(temp_path("t.json")));
  EXPECT_FALSE(trace["traceEvents"].empty());
  unlink(temp_path("t.json").c_str());
}

// --mover: with a mover sharing the compute's cores, the plan writes outputs
// in place in PMem instead of demoting them; the PMem's speed comes from the
// tier (an unthrottled emulated file: as fast as DRAM) or TENSORTIER_OPTANE.
TEST(CliTiering, ASharedMoverWritesOutputsInPlaceInsteadOfDemotingThem) {
  const auto all = train_report({}, "all-mover.json");
  ASSERT_FALSE(all.is_null());
  const std::uint64_t footprint = all["memory"]["footprint_bytes"];
  const std::string budget = std::to_string(footprint / 8 / 4096 * 4096);
  const auto own = train_report({"--dram-limit", budget, "--reserve", "1M", "--mover", "own-core"},
                                "own.json");
  const auto shared = train_report({"--dram-limit", budget, "--reserve", "1M", "--mover", "shared"},
                                   "shared.json");
  const auto optane = train_report({"--dram-limit", budget, "--reserve", "1M", "--mover", "shared"},
                                   "optane.json", {{"TENSORTIER_OPTANE", "dimms=6"}});
  ASSERT_FALSE(own.is_null() || shared.is_null() || optane.is_null());
  EXPECT_EQ(own["losses"], all["losses"]);
  EXPECT_EQ(shared["losses"], all["losses"]);
  EXPECT_EQ(optane["losses"], all["losses"]);
  const auto& o = own["memory"]["plan"];
  const auto& s = shared["memory"]["plan"];
  EXPECT_EQ(o["migration_cost"].get<double>(), 0.0);
  EXPECT_EQ(o["bytes_written_in_place_per_step"].get<std::uint64_t>(), 0u);
  EXPECT_GT(s["migration_cost"].get<double>(), 0.0);
  EXPECT_EQ(s["pmem_dimms"].get<double>(), 0.0);
  EXPECT_GT(s["bytes_written_in_place_per_step"].get<std::uint64_t>(), 0u);
  EXPECT_LT(s["bytes_demoted_per_step"].get<std::uint64_t>(),
            o["bytes_demoted_per_step"].get<std::uint64_t>());
  EXPECT_LT(shared["memory"]["bytes_demoted"].get<std::uint64_t>(),
            own["memory"]["bytes_demoted"].get<std::uint64_t>());
  EXPECT_LE(shared["memory"]["peak_dram_bytes"].get<std::uint64_t>(), footprint / 8);
  EXPECT_NEAR(optane["memory"]["plan"]["pmem_dimms"].get<double>(), 6.0, 1e-9);
  std::vector<std::string> args = {"train"};
  args.insert(args.end(), kModel.begin(), kModel.end());
  args.insert(args.end(), {"--dram-limit", budget, "--mover", "sometimes"});
  const CommandResult bad = cli(args);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--mover"), std::string::npos) << bad.err;
}

TEST(CliTiering, NaiveFilePlacementPutsTheStepInPmem) {
  const auto naive = train_report({"--placement", "naive-file"}, "naive.json");
  ASSERT_FALSE(naive.is_null());
  const auto& m = naive["memory"];
  EXPECT_EQ(m["tiering"], "none");
  EXPECT_EQ(m["policy"], "static");
  EXPECT_GT(m["peak_pmem_bytes"].get<std::uint64_t>(), m["peak_dram_bytes"].get<std::uint64_t>());
  EXPECT_EQ(m["bytes_demoted"], 0u);
}

TEST(CliTiering, InfeasibleBudgetsAreOneLineErrors) {
  std::vector<std::string> args = {"train"};
  args.insert(args.end(), kModel.begin(), kModel.end());
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    return cli(a);
  };
  CommandResult strict = with({"--dram-limit", "3M", "--reserve", "1M", "--no-in-place"});
  EXPECT_EQ(strict.exit_code, 2) << strict.err;
  EXPECT_NE(strict.err.find("minimum feasible"), std::string::npos) << strict.err;
  EXPECT_NE(strict.err.find("at once"), std::string::npos) << strict.err;
  EXPECT_EQ(std::count(strict.err.begin(), strict.err.end(), '\n'), 1) << strict.err;
  CommandResult reserve = with({"--dram-limit", "2M", "--reserve", "4M"});
  EXPECT_EQ(reserve.exit_code, 2) << reserve.err;
  EXPECT_NE(reserve.err.find("reserved for op internals"), std::string::npos) << reserve.err;
  CommandResult bad = with({"--dram-limit", "64M", "--reserve", "lots"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--reserve"), std::string::npos) << bad.err;
  CommandResult save = with({"--save", "/nonexistent-dir/w.ckpt"});
  EXPECT_EQ(save.exit_code, 2);
  EXPECT_NE(save.err.find("not writable"), std::string::npos) << save.err;
}

TEST(CliPlan, SummaryScheduleAndJson) {
  CommandResult r = cli({"plan", "--size", "32", "--levels", "3", "--base-filters", "8",
                         "--dram-limit", "8M", "--reserve", "1M", "--schedule"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"naive footprint", "footprint all-DRAM", "minimum feasible DRAM budget",
                        "planned DRAM peak", "prefetched per step", "dec0.block1.conv.backward",
                        "in PMem during steps", "demote after:", "prefetch after:"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  EXPECT_EQ(r.out.find("of which outputs written there"), std::string::npos) << r.out;
  r = cli({"plan", "--size", "32", "--levels", "3", "--base-filters", "8", "--dram-limit", "8M",
           "--reserve", "1M", "--mover", "shared"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("of which outputs written there, not demoted"), std::string::npos) << r.out;
  const std::string json = temp_path("plan.json");
  r = cli({"plan", "--size", "32", "--levels", "3", "--base-filters", "8", "--mode", "inference",
           "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto doc = nlohmann::json::parse(slurp(json));
  unlink(json.c_str());
  EXPECT_EQ(doc["config"]["mode"], "inference");
  EXPECT_GT(doc["naive_bytes"].get<std::uint64_t>(), doc["footprint_bytes"].get<std::uint64_t>());
  EXPECT_EQ(doc["tier_plan"]["pass"], "inference");
  r = cli({"plan", "--size", "30", "--levels", "3"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("multiple of"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tensortier
