// `tensortier infer` as a user runs it: the report's fields and their
// relations, --no-reuse giving the same prediction, --weights reading a
// checkpoint, --output, and bad input ending in one line and exit code 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "run_command.hpp"
#include "runtime/model/checkpoint.hpp"
#include "runtime/train/threads.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier {
namespace {

using test_support::CommandResult;
using test_support::slurp;

CommandResult infer(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"infer"};
  a.insert(a.end(), args.begin(), args.end());
  return test_support::run_cli(a, {{"TENSORTIER_PMEM", "none"}});
}

std::string temp_path(const std::string& name) { return test_support::temp_path("cli-infer", name); }

const std::vector<std::string> kSmall = {"--size",    "32", "--levels", "3", "--base-filters",
                                         "4",         "--threads", "2", "--batch", "2",
                                         "--case",    "3"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::size_t count_lines(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(CliInfer, ReportsFootprintsPeaksAndDice) {
  const std::string report = temp_path("report.json");
  const std::string labels = temp_path("labels.u8");
  CommandResult r = infer(with(kSmall, {"--json", report, "--output", labels}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("infer: 3D U-Net 3 levels"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("untrained"), std::string::npos) << r.err;

  const auto doc = nlohmann::json::parse(slurp(report));
  for (const char* key : {"config", "model", "seconds", "voxels_per_second", "memory", "dice",
                          "mean_dice"})
    EXPECT_TRUE(doc.contains(key)) << key;
  EXPECT_EQ(doc["config"]["levels"], 3);
  EXPECT_EQ(doc["config"]["batch"], 2);
  EXPECT_EQ(doc["config"]["case"], 3);
  EXPECT_EQ(doc["config"]["weights"], "untrained");
  EXPECT_EQ(doc["config"]["reuse"], true);
  EXPECT_GT(doc["seconds"].get<double>(), 0.0);
  EXPECT_NEAR(doc["voxels_per_second"].get<double>() * doc["seconds"].get<double>(),
              2.0 * 32 * 32 * 32, 1.0);
  const auto& m = doc["memory"];
  const auto naive = m["naive_bytes"].get<std::uint64_t>();
  const auto arena = m["planned_arena_bytes"].get<std::uint64_t>();
  const auto lower = m["lower_bound_bytes"].get<std::uint64_t>();
  const auto persistent = m["persistent_bytes"].get<std::uint64_t>();
  EXPECT_LE(lower, arena);
  EXPECT_LT(arena, naive);
  EXPECT_DOUBLE_EQ(m["planned_over_naive"].get<double>(),
                   static_cast<double>(arena) / static_cast<double>(naive));
  EXPECT_GE(persistent, doc["model"]["parameter_bytes"].get<std::uint64_t>());
  // The arena and the weights were allocated: the peak holds at least them.
  EXPECT_GE(m["peak_dram_bytes"].get<std::uint64_t>(), arena + persistent);
  EXPECT_EQ(m["peak_pmem_bytes"], 0u);
  for (const char* c : {"background", "necrotic", "edema", "enhancing"}) {
    ASSERT_TRUE(doc["dice"].contains(c)) << c;
    EXPECT_GE(doc["dice"][c].get<double>(), 0.0);
    EXPECT_LE(doc["dice"][c].get<double>(), 1.0);
  }
  // --output: one class id per voxel of both cases.
  const std::string out = slurp(labels);
  EXPECT_EQ(out.size(), 2u * 32 * 32 * 32);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](char c) { return c >= 0 && c < 4; }));
  std::remove(report.c_str());
  std::remove(labels.c_str());
}

TEST(CliInfer, NoReuseGivesTheSamePredictionWithAHigherPeak) {
  const std::string planned_json = temp_path("planned.json");
  const std::string naive_json = temp_path("naive.json");
  const std::string planned_out = temp_path("planned.u8");
  const std::string naive_out = temp_path("naive.u8");
  ASSERT_EQ(infer(with(kSmall, {"--json", planned_json, "--output", planned_out})).exit_code, 0);
  CommandResult r = infer(with(kSmall, {"--no-reuse", "--json", naive_json, "--output", naive_out}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("no reuse"), std::string::npos) << r.err;
  const auto planned = nlohmann::json::parse(slurp(planned_json));
  const auto naive = nlohmann::json::parse(slurp(naive_json));
  EXPECT_EQ(naive["config"]["reuse"], false);
  EXPECT_EQ(planned["dice"], naive["dice"]);
  EXPECT_EQ(slurp(planned_out), slurp(naive_out));
  // Every tensor in its own buffer: the naive footprint shows in the peak.
  EXPECT_GE(naive["memory"]["peak_dram_bytes"].get<std::uint64_t>(),
            naive["memory"]["naive_bytes"].get<std::uint64_t>());
  EXPECT_LT(planned["memory"]["peak_dram_bytes"].get<std::uint64_t>(),
            naive["memory"]["peak_dram_bytes"].get<std::uint64_t>());
  for (const auto& p : {planned_json, naive_json, planned_out, naive_out}) std::remove(p.c_str());
}

// A checkpoint of the initial weights of seed 5 predicts what --seed 5 does.
TEST(CliInfer, WeightsFromACheckpoint) {
  AllocatorOptions options;
  options.config.pmem.scheme = PmemSpec::Scheme::none;
  auto alloc = Allocator::create(options);
  ASSERT_TRUE(alloc) << alloc.status().message();
  runtime::model::UNet3dConfig config;
  config.levels = 3;
  config.base_filters = 4;
  runtime::graph::Graph g;
  runtime::model::build_unet3d(g, config, {1, 4, 32, 32, 32}, {});
  const std::string ckpt = temp_path("weights.ttckpt");
  ASSERT_TRUE(runtime::model::save_parameters(ckpt, config,
                                              runtime::model::init_parameters(g, **alloc, 5)));
  const std::string a_json = temp_path("a.json");
  const std::string b_json = temp_path("b.json");
  CommandResult a = infer({"--size", "32", "--weights", ckpt, "--threads", "2", "--json", a_json});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.err.find(ckpt), std::string::npos) << a.err;
  CommandResult b = infer({"--size", "32", "--levels", "3", "--base-filters", "4", "--seed", "5",
                           "--threads", "2", "--json", b_json});
  ASSERT_EQ(b.exit_code, 0) << b.err;
  const auto da = nlohmann::json::parse(slurp(a_json));
  const auto db = nlohmann::json::parse(slurp(b_json));
  EXPECT_EQ(da["config"]["weights"], ckpt);
  EXPECT_EQ(da["config"]["levels"], 3);  // from the checkpoint
  EXPECT_EQ(da["dice"], db["dice"]);
  // A model option that contradicts the checkpoint: one line, exit 2.
  CommandResult c = infer({"--size", "32", "--weights", ckpt, "--levels", "2"});
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(count_lines(c.err), 1u) << c.err;
  EXPECT_NE(c.err.find("--levels"), std::string::npos) << c.err;
  // A corrupt checkpoint: one line naming it, exit 2.
  {
    std::string bytes = slurp(ckpt);
    bytes.resize(bytes.size() / 2);
    std::FILE* f = std::fopen(ckpt.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
  CommandResult d = infer({"--size", "32", "--weights", ckpt});
  EXPECT_EQ(d.exit_code, 2);
  EXPECT_EQ(count_lines(d.err), 1u) << d.err;
  EXPECT_NE(d.err.find(ckpt), std::string::npos) << d.err;
  for (const auto& p : {ckpt, a_json, b_json}) std::remove(p.c_str());
}

TEST(CliInfer, BadInputIsOneLineAndExitCode2) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--size", "3x"},
                                             {"--size", "0"},
                                             {"--size", "20"},
                                             {"--size", "36", "--levels", "4"},
                                             {"--size", "32", "--batch", "0"},
                                             {"--size", "32", "--threads", "-1"},
                                             {"--size", "32", "--weights", "/nonexistent/w"}}) {
    CommandResult r = infer(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 2) << joined << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << joined << r.err;
    EXPECT_EQ(r.err.rfind("tensortier: ", 0), 0u) << joined << r.err;
  }
}

}  // namespace
}  // namespace tensortier
