// `tensortier plan` as a user runs it: the footprint model against the
// allocator's measured peak (small configurations; tools/validate_planner.sh
// runs the larger ones), the tiered options (--dram-limit, --pmem, bandwidths)
// and bad input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "run_command.hpp"

namespace tensortier {
namespace {

using test_support::CommandResult;
using test_support::slurp;

CommandResult cli(const std::vector<std::string>& args,
                  std::map<std::string, std::string> env = {}) {
  env.emplace("TENSORTIER_PMEM", "none");
  return test_support::run_cli(args, env);
}

std::string temp_path(const std::string& name) { return test_support::temp_path("cli-plan", name); }

nlohmann::json json_of(const std::vector<std::string>& args, const std::string& name) {
  const std::string path = temp_path(name);
  std::vector<std::string> a = args;
  a.insert(a.end(), {"--json", path});
  CommandResult r = cli(a);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return {};
  auto doc = nlohmann::json::parse(slurp(path));
  unlink(path.c_str());
  return doc;
}

struct Config {
  const char* mode;  // "training" / "inference"
  std::vector<std::string> model;
  const char* optimizer;
};

// The model's prediction and the allocator's measured peak of live DRAM bytes
// (train: its report; infer: the TENSORTIER_STATS dump), within 3%.
TEST(CliPlanFootprint, PredictsTheMeasuredPeak) {
  const std::vector<Config> configs = {
      {"training", {"--size", "32", "--batch", "2", "--levels", "3", "--base-filters", "8"}, "sgd"},
      {"training",
       {"--size", "32", "--levels", "3", "--base-filters", "16", "--activation", "leaky_relu"},
       "adam"},
      {"inference", {"--size", "32", "--batch", "2", "--levels", "3", "--base-filters", "8"}, "-"},
  };
  for (const Config& c : configs) {
    SCOPED_TRACE(std::string(c.mode) + " " + c.optimizer);
    std::vector<std::string> plan = {"plan", "--mode", c.mode};
    plan.insert(plan.end(), c.model.begin(), c.model.end());
    if (std::string(c.mode) == "training") plan.insert(plan.end(), {"--optimizer", c.optimizer});
    const auto p = json_of(plan, "plan.json");
    ASSERT_FALSE(p.is_null());
    const double predicted = p["footprint"]["runtime_peak_bytes"].get<double>();
    double measured = 0;
    if (std::string(c.mode) == "training") {
      std::vector<std::string> train = {"train", "--optimizer", c.optimizer, "--steps", "2",
                                        "--eval-cases", "0", "--threads", "2"};
      train.insert(train.end(), c.model.begin(), c.model.end());
      const auto t = json_of(train, "train.json");
      ASSERT_FALSE(t.is_null());
      measured = t["memory"]["peak_live_dram_bytes"].get<double>();
    } else {
      const std::string stats = temp_path("stats.json");
      std::vector<std::string> infer = {"infer", "--threads", "2"};
      infer.insert(infer.end(), c.model.begin(), c.model.end());
      CommandResult r = cli(infer, {{"TENSORTIER_STATS", stats}});
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const auto s = nlohmann::json::parse(slurp(stats));
      unlink(stats.c_str());
      for (const auto& t : s["tiers"])
        if (t["kind"].get<std::string>().rfind("pmem", 0) != 0)
          measured += t["peak_live_bytes"].get<double>();
    }
    ASSERT_GT(measured, 0);
    EXPECT_LE(std::abs(predicted - measured) / measured, 0.03)
        << "predicted " << predicted << ", measured " << measured;
  }
}

const std::vector<std::string> kSmall = {"plan", "--size", "32", "--batch", "2", "--levels", "3",
                                         "--base-filters", "8"};

std::vector<std::string> small(std::vector<std::string> extra) {
  std::vector<std::string> a = kSmall;
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

TEST(CliPlanFootprint, FiguresAndTheirRelations) {
  CommandResult r = cli(small({}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"naive footprint", "footprint all-DRAM", "runtime peak",
                        "op internals at the peak", "projected time all-DRAM"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  const auto d = json_of(small({}), "rel.json");
  ASSERT_FALSE(d.is_null());
  const auto& f = d["footprint"];
  const auto naive = f["naive_bytes"].get<std::uint64_t>();
  const auto reuse = f["reuse_bytes"].get<std::uint64_t>();
  const auto peak = f["runtime_peak_bytes"].get<std::uint64_t>();
  EXPECT_LT(reuse, naive);
  EXPECT_GT(peak, reuse);  // the op internals and the caller's image come on top
  EXPECT_EQ(peak, f["tensors_at_peak_bytes"].get<std::uint64_t>() +
                      f["persistent_bytes"].get<std::uint64_t>() +
                      f["fed_bytes"].get<std::uint64_t>() +
                      f["internals_at_peak_bytes"].get<std::uint64_t>());
  EXPECT_EQ(peak % 4096, 0u);
  EXPECT_GT(f["scratchpad_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_EQ(d["footprint_bytes"], reuse);  // the existing field: the liveness bound
  // Adam keeps two moments per weight, SGD one.
  const auto adam = json_of(small({"--optimizer", "adam"}), "adam.json");
  EXPECT_GT(adam["footprint"]["persistent_bytes"].get<std::uint64_t>(),
            f["persistent_bytes"].get<std::uint64_t>());
  // Inference: the arena, far below training.
  const auto inf = json_of(small({"--mode", "inference"}), "inf.json");
  EXPECT_GT(inf["footprint"]["arena_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_LT(inf["footprint"]["runtime_peak_bytes"].get<std::uint64_t>(), peak);
  // N^3 sizes and the number of input channels.
  const auto cube = json_of({"plan", "--size", "32^3", "--levels", "3", "--base-filters", "8",
                             "--channels", "1"},
                            "cube.json");
  EXPECT_EQ(cube["config"]["size"], nlohmann::json({32, 32, 32}));
  EXPECT_EQ(cube["config"]["in_channels"], 1);
}

TEST(CliPlanTiered, DramLimitGivesPmemMigrationsAndTime) {
  const auto all = json_of(small({}), "all.json");
  ASSERT_FALSE(all.is_null());
  const std::uint64_t footprint = all["footprint_bytes"];
  const std::uint64_t budget = footprint / 3 / 4096 * 4096;
  const auto d = json_of(small({"--dram-limit", std::to_string(budget), "--reserve", "1M"}),
                         "limit.json");
  ASSERT_FALSE(d.is_null());
  const auto& t = d["tiered"];
  EXPECT_EQ(t["mode"], "dram_limit");
  EXPECT_EQ(t["dram_budget_bytes"].get<std::uint64_t>(), budget);
  EXPECT_LE(t["planned_dram_peak_bytes"].get<std::uint64_t>(), budget);
  EXPECT_GT(t["pmem_needed_bytes"].get<std::uint64_t>(), 0u);
  EXPECT_GT(t["bytes_demoted"].get<std::uint64_t>(), 0u);
  const auto& p = t["projection"];
  const double step = p["step_seconds"], compute = p["compute_seconds"], mover = p["mover_seconds"];
  EXPECT_GT(mover, 0);
  EXPECT_DOUBLE_EQ(step, std::max(compute, mover) + p["in_place_seconds"].get<double>() +
                             p["fetch_seconds"].get<double>());
  EXPECT_DOUBLE_EQ(d["bandwidths"]["pmem_read_gbps"].get<double>(), 6.6 * 6);
  // Slower PMem, slower step; faster compute, faster step.
  const auto slow = json_of(small({"--dram-limit", std::to_string(budget), "--reserve", "1M",
                                   "--dimms", "1"}),
                            "slow.json");
  EXPECT_GT(slow["tiered"]["projection"]["mover_seconds"].get<double>(), mover);
  const auto fast = json_of(small({"--compute-gflops", "4000"}), "fast.json");
  EXPECT_LT(fast["projection_all_dram"]["compute_seconds"].get<double>(),
            all["projection_all_dram"]["compute_seconds"].get<double>());
}

TEST(CliPlanTiered, PmemSizeGivesTheDramNeeded) {
  const auto all = json_of(small({}), "all.json");
  ASSERT_FALSE(all.is_null());
  const std::uint64_t footprint = all["footprint_bytes"];
  const std::uint64_t pmem = footprint / 2;
  // Every op on DRAM: --read-in-place (on by default) does not apply.
  for (const char* read : {"32", "0"}) {
    SCOPED_TRACE(std::string("--read-in-place ") + read);
    const auto d = json_of(
        small({"--pmem", std::to_string(pmem), "--reserve", "1M", "--read-in-place", read}),
        "pmem.json");
    ASSERT_FALSE(d.is_null());
    const auto& t = d["tiered"];
    EXPECT_EQ(t["mode"], "pmem");
    EXPECT_LE(t["pmem_needed_bytes"].get<std::uint64_t>(), pmem);
    EXPECT_EQ(t["bytes_in_place"].get<std::uint64_t>(), 0u);
    EXPECT_LT(t["dram_budget_bytes"].get<std::uint64_t>(), footprint);
    // More PMem, less DRAM.
    const auto more = json_of(small({"--pmem", std::to_string(footprint), "--reserve", "1M",
                                     "--read-in-place", read}),
                              "more.json");
    EXPECT_LE(more["tiered"]["dram_budget_bytes"].get<std::uint64_t>(),
              t["dram_budget_bytes"].get<std::uint64_t>());
  }
}

TEST(CliPlanBadInput, OneLineAndExitCode2) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {small({"--pmem", "lots"}), "--pmem"},
      {small({"--dram-limit", "1G", "--pmem", "1G"}), "give one"},
      {small({"--compute-gflops", "0"}), "--compute-gflops"},
      {small({"--dram-gbps=0"}), "--dram-gbps"},
      {small({"--dimms", "0"}), "--dimms"},
      {small({"--channels", "0"}), "--channels"},
      {small({"--pmem-read-gbps=-2"}), "--pmem-read-gbps"},
      {{"plan", "--size", "32^2"}, "--size"},
      {{"plan", "--size", "30", "--levels", "3"}, "multiple of"},
      {small({"--dram-limit", "4K"}), "below the minimum feasible"},
  };
  for (const auto& [args, what] : cases) {
    CommandResult r = cli(args);
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
    EXPECT_NE(r.err.find(what), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

}  // namespace
}  // namespace tensortier
