// `tensortier infer --tile` as a user runs it: a 64^3 synthetic volume in
// 32^3 windows under a DRAM budget with an emulated PMem file; the report's
// fields and their relations; bad tiles end in one line and exit code 2.
#include <gtest/gtest.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "run_command.hpp"

namespace tensortier {
namespace {

using test_support::CommandResult;
using test_support::slurp;

constexpr std::uint64_t kDramLimit = 48ull << 20;

CommandResult infer(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"infer"};
  a.insert(a.end(), args.begin(), args.end());
  // PMem: the default emulated file in TMPDIR, removed at exit.
  return test_support::run_cli(a, {{"TENSORTIER_DRAM_LIMIT", "48M"}});
}

std::string temp_path(const std::string& name) { return test_support::temp_path("cli-tiled", name); }

const std::vector<std::string> kModel = {"--levels", "3", "--base-filters", "4", "--threads", "2"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(CliTiledInfer, ReportsWindowsThroughputFootprintsAndPeaks) {
  const std::string report = temp_path("report.json");
  const std::string labels = temp_path("labels.u8");
  CommandResult r = infer(with(kModel, {"--volume-size", "64", "--tile", "32", "--json", report,
                                        "--output", labels}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("tiled: windows 27/27"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("infer: 3D U-Net 3 levels"), std::string::npos) << r.err;

  const auto doc = nlohmann::json::parse(slurp(report));
  EXPECT_EQ(doc["mode"], "tiled");
  EXPECT_EQ(doc["config"]["volume"], nlohmann::json({64, 64, 64}));
  EXPECT_EQ(doc["config"]["tile"], nlohmann::json({32, 32, 32}));
  EXPECT_DOUBLE_EQ(doc["config"]["overlap"].get<double>(), 0.5);
  EXPECT_EQ(doc["windows"], 27);  // starts 0, 16, 32 per axis
  EXPECT_EQ(doc["windows_per_axis"], nlohmann::json({3, 3, 3}));
  EXPECT_EQ(doc["volume_voxels"], 64 * 64 * 64);
  EXPECT_EQ(doc["window_voxels"], 27 * 32 * 32 * 32);
  const double seconds = doc["seconds"].get<double>();
  EXPECT_GT(seconds, 0.0);
  EXPECT_NEAR(doc["voxels_per_second"].get<double>() * seconds, 64.0 * 64 * 64, 1.0);
  EXPECT_NEAR(doc["window_voxels_per_second"].get<double>() * seconds, 27.0 * 32 * 32 * 32, 1.0);
  EXPECT_LE(doc["first_pass_seconds"].get<double>(), seconds);
  const auto& m = doc["memory"];
  // Whole-volume inference of 64^3 (from shapes) vs the window's plan.
  EXPECT_EQ(m["whole_volume_dims"], nlohmann::json({64, 64, 64}));
  const auto whole = m["whole_volume_naive_bytes"].get<std::uint64_t>();
  const auto window_naive = m["window_naive_bytes"].get<std::uint64_t>();
  EXPECT_GT(whole, 7 * window_naive);  // 8x the voxels, rounding aside
  EXPECT_LT(m["window_arena_bytes"].get<std::uint64_t>(), window_naive);
  EXPECT_EQ(m["volume_bytes"], 4u * 64 * 64 * 64 * 4);
  EXPECT_EQ(m["accumulator_bytes"], 4u * 64 * 64 * 64 * 4);
  EXPECT_EQ(m["input_tier"].get<std::string>().rfind("pmem", 0), 0u) << m["input_tier"];
  EXPECT_EQ(m["accumulator_tier"].get<std::string>().rfind("pmem", 0), 0u);
  EXPECT_EQ(m["labels_tier"].get<std::string>().rfind("pmem", 0), 0u);
  EXPECT_EQ(m["dram_limit_bytes"], kDramLimit);
  EXPECT_LE(m["peak_dram_bytes"].get<std::uint64_t>(), kDramLimit);
  EXPECT_GE(m["peak_pmem_bytes"].get<std::uint64_t>(),
            m["volume_bytes"].get<std::uint64_t>() + m["accumulator_bytes"].get<std::uint64_t>());
  for (const char* c : {"background", "necrotic", "edema", "enhancing"}) {
    ASSERT_TRUE(doc["dice"].contains(c)) << c;
    EXPECT_GE(doc["dice"][c].get<double>(), 0.0);
    EXPECT_LE(doc["dice"][c].get<double>(), 1.0);
  }
  const std::string out = slurp(labels);
  EXPECT_EQ(out.size(), 64u * 64 * 64);
  EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](char c) { return c >= 0 && c < 4; }));
  std::remove(report.c_str());
  std::remove(labels.c_str());
}

TEST(CliTiledInfer, BadTilesAreOneLineAndExitCode2) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--volume-size", "64", "--tile", "30"},      // not a multiple of 4
           {"--volume-size", "64", "--tile", "128"},     // larger than the volume
           {"--volume-size", "64", "--tile", "32x32"},   // not N or DxHxW
           {"--volume-size", "64", "--tile", "32", "--overlap", "1"},
           {"--volume-size", "2000", "--tile", "32"}}) {  // beyond the generator
    CommandResult r = infer(with(kModel, args));
    EXPECT_EQ(r.exit_code, 2) << args[3] << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("tensortier: ", 0), 0u) << r.err;
  }
  CommandResult r = infer(with(kModel, {"--volume-size", "64", "--tile", "30"}));
  EXPECT_NE(r.err.find("multiple of 2^(levels-1) = 4"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace tensortier
