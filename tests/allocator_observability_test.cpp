// What the allocator reports and how it is configured: the Optane throttle
// and its projection, the Perfetto trace file, TENSORTIER_POLICY and
// TENSORTIER_OPTANE.
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory_resource>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "allocator_test_util.hpp"
#include "tensortier/allocator.hpp"
#include "tensortier/stats.hpp"

namespace tensortier {
namespace {

using test::budgets_respected;
using test::dram_tier;
using test::fill_pattern;
using test::kKiB;
using test::kMiB;
using test::make_allocator;
using test::pattern_intact;
using test::pmem_tier;
using test::small_options;


using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// ---- Optane throttle ---------------------------------------------------------------

// 128 MiB of DRAM and 256 MiB of PMem behind one emulated DIMM that reads
// 1.0 GB/s and writes 0.5 GB/s: a 64 MiB transfer takes 67 or 134 ms.
std::unique_ptr<Allocator> slow_optane_allocator() {
  AllocatorOptions options = small_options(128 * kMiB, 256 * kMiB);
  options.throttle.enabled = true;
  options.throttle.write_gbps_per_dimm = 0.5;
  options.throttle.read_gbps_per_dimm = 1.0;
  options.throttle.dimms = 1;
  return make_allocator(options);
}

TEST(OptaneThrottle, MigrationTakesAtLeastTheThrottledTime) {
  auto alloc = slow_optane_allocator();
  ASSERT_NE(alloc, nullptr);
  const std::size_t bytes = 64 * kMiB;
  void* p = alloc->allocate(bytes, 64, Hint::hot);
  fill_pattern(p, bytes, 11);

  auto t0 = Clock::now();
  ASSERT_TRUE(alloc->demote(p).is_ok());
  const double demote_seconds = seconds_since(t0);
  const double expected_demote = static_cast<double>(bytes) / 0.5e9;  // 0.134 s
  EXPECT_GE(demote_seconds, expected_demote * 0.99);
  Stats stats = alloc->stats();
  EXPECT_NEAR(stats.projected_optane_seconds, expected_demote, expected_demote * 0.01);
  EXPECT_GE(stats.migration_seconds, expected_demote * 0.99);

  t0 = Clock::now();
  ASSERT_TRUE(alloc->promote(p).is_ok());
  const double promote_seconds = seconds_since(t0);
  const double expected_promote = static_cast<double>(bytes) / 1.0e9;  // 0.067 s
  EXPECT_GE(promote_seconds, expected_promote * 0.99);
  stats = alloc->stats();
  EXPECT_NEAR(stats.projected_optane_seconds, expected_demote + expected_promote,
              (expected_demote + expected_promote) * 0.01);
  EXPECT_TRUE(pattern_intact(p, bytes, 11));
  const auto doc = nlohmann::json::parse(stats_to_json(stats));
  EXPECT_NEAR(doc["migrations"]["projected_optane_seconds"].get<double>(),
              stats.projected_optane_seconds, 1e-9);
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

TEST(OptaneThrottle, MoreDimmsMeanMoreBandwidth) {
  AllocatorOptions options = small_options(64 * kMiB, 128 * kMiB);
  options.throttle.enabled = true;
  options.throttle.write_gbps_per_dimm = 0.25;
  options.throttle.dimms = 4;  // 1 GB/s in all
  auto alloc = make_allocator(options);
  ASSERT_NE(alloc, nullptr);
  const std::size_t bytes = 32 * kMiB;
  void* p = alloc->allocate(bytes, 64, Hint::hot);
  const auto t0 = Clock::now();
  ASSERT_TRUE(alloc->demote(p).is_ok());
  const double expected = static_cast<double>(bytes) / 1e9;
  EXPECT_GE(seconds_since(t0), expected * 0.99);
  EXPECT_NEAR(alloc->stats().projected_optane_seconds, expected, expected * 0.01);
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

// The emulated DIMMs carry migrations and in-place traffic alike: an op's
// in-place traffic is done later by the migration time that overlapped it,
// and traffic after the migrations is not delayed.
TEST(OptaneThrottle, InPlaceTrafficSharesTheDimmsWithMigrations) {
  auto alloc = slow_optane_allocator();
  ASSERT_NE(alloc, nullptr);
  const std::uint64_t traffic = 64 * kMiB;
  const double read_seconds = static_cast<double>(traffic) / 1.0e9;  // 0.067 s
  auto seconds_between = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  const std::size_t bytes = 32 * kMiB;
  const double demote_seconds = static_cast<double>(bytes) / 0.5e9;  // 0.067 s
  void* p = alloc->allocate(bytes, 64, Hint::hot);
  const auto t1 = Clock::now();
  ASSERT_TRUE(alloc->demote(p).is_ok());  // starts within the traffic's 0.067 s
  const auto overlapped = alloc->pmem_traffic_done(traffic, 0, t1);
  EXPECT_GE(seconds_between(t1, overlapped), (read_seconds + demote_seconds) * 0.99);
  const auto t2 = Clock::now();  // the demotion is over
  EXPECT_NEAR(seconds_between(t2, alloc->pmem_traffic_done(traffic, 0, t2)), read_seconds, 1e-6);
  const double write_seconds = static_cast<double>(traffic) / 0.5e9;
  EXPECT_NEAR(seconds_between(t2, alloc->pmem_traffic_done(0, traffic, t2)), write_seconds, 1e-6);
  ASSERT_TRUE(alloc->deallocate(p).is_ok());

  auto plain = make_allocator(small_options(64 * kMiB, 128 * kMiB));  // no throttle
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->pmem_traffic_done(traffic, traffic, t2), t2);
}

TEST(OptaneThrottle, ProjectionIsReportedWithTheThrottleOff) {
  auto alloc = make_allocator(small_options(64 * kMiB, 128 * kMiB));
  ASSERT_NE(alloc, nullptr);
  const std::size_t bytes = 16 * kMiB;
  void* p = alloc->allocate(bytes, 64, Hint::hot);
  ASSERT_TRUE(alloc->demote(p).is_ok());
  const double expected = static_cast<double>(bytes) / 2.3e9;  // published write bandwidth
  EXPECT_NEAR(alloc->stats().projected_optane_seconds, expected, expected * 0.01);
  ASSERT_TRUE(alloc->deallocate(p).is_ok());
}

// ---- trace -----------------------------------------------------------------------------

std::string temp_path(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/" + name + "-" +
         std::to_string(getpid()) + ".json";
}

TEST(Trace, IsChromeTraceJsonWithCountersAndMigrationSlices) {
  AllocatorOptions options = small_options(8 * kMiB, 32 * kMiB);
  options.record_trace = true;
  auto alloc = make_allocator(options);
  ASSERT_NE(alloc, nullptr);
  void* p = alloc->allocate(2 * kMiB, 64, Hint::hot);
  ASSERT_TRUE(alloc->demote(p).is_ok());
  ASSERT_TRUE(alloc->promote(p).is_ok());
  ASSERT_TRUE(alloc->deallocate(p).is_ok());

  const std::string path = temp_path("tensortier-trace");
  Status s = alloc->write_trace(path);
  ASSERT_TRUE(s.is_ok()) << s.message();
  std::ifstream in(path);
  ASSERT_TRUE(in.good());
  nlohmann::json doc;
  ASSERT_NO_THROW(doc = nlohmann::json::parse(in));
  std::remove(path.c_str());
  ASSERT_TRUE(doc.contains("traceEvents"));
  ASSERT_TRUE(doc["traceEvents"].is_array());
  std::map<std::string, int> counters;
  std::vector<nlohmann::json> slices;
  for (const auto& e : doc["traceEvents"]) {
    ASSERT_TRUE(e.contains("ph"));
    ASSERT_TRUE(e.contains("name"));
    if (e["ph"] == "C") {
      counters[e["name"].get<std::string>()]++;
      EXPECT_TRUE(e["args"].contains("bytes"));
      EXPECT_GE(e["ts"].get<double>(), 0.0);
    }
    if (e["ph"] == "X") slices.push_back(e);
  }
  for (const auto& tier : alloc->tiers())
    EXPECT_GE(counters["bytes " + tier.name], 2) << "counter track of " << tier.name;
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[0]["args"]["from"], "dram0");
  EXPECT_EQ(slices[0]["args"]["to"], "pmem_file");
  EXPECT_EQ(slices[1]["args"]["from"], "pmem_file");
  EXPECT_EQ(slices[1]["args"]["to"], "dram0");
  for (const auto& x : slices) {
    EXPECT_EQ(x["cat"], "migration");
    EXPECT_EQ(x["args"]["bytes"].get<std::uint64_t>(), 2 * kMiB);
    EXPECT_GE(x["dur"].get<double>(), 0.0);
    EXPECT_GE(x["ts"].get<double>(), 0.0);
  }
  EXPECT_LE(slices[0]["ts"].get<double>(), slices[1]["ts"].get<double>());
}

TEST(Trace, NeedsRecordingAndAWritablePath) {
  auto plain = make_allocator(small_options(8 * kMiB, std::nullopt));
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->write_trace(temp_path("tensortier-never")).code(), Errc::invalid_argument);
  AllocatorOptions options = small_options(8 * kMiB, std::nullopt);
  options.record_trace = true;
  auto traced = make_allocator(options);
  ASSERT_NE(traced, nullptr);
  Status s = traced->write_trace("/nonexistent-dir/trace.json");
  EXPECT_EQ(s.code(), Errc::io_error);
  EXPECT_NE(s.message().find("/nonexistent-dir/trace.json"), std::string::npos) << s.message();
}

// ---- environment -------------------------------------------------------------------------

TEST(Environment, PolicyAndOptaneParse) {
  using test::fake_env;
  auto defaults = allocator_options_from_env(fake_env({}));
  ASSERT_TRUE(defaults.has_value());
  EXPECT_EQ(defaults->policy, Policy::lru);
  EXPECT_FALSE(defaults->throttle.enabled);

  for (auto [text, policy] : {std::pair{"lru", Policy::lru}, std::pair{"next_use", Policy::next_use},
                              std::pair{"static", Policy::static_placement}}) {
    auto o = allocator_options_from_env(fake_env({{"TENSORTIER_POLICY", text}}));
    ASSERT_TRUE(o.has_value()) << text;
    EXPECT_EQ(o->policy, policy);
    EXPECT_STREQ(policy_name(policy), text);
  }
  auto on = allocator_options_from_env(fake_env({{"TENSORTIER_OPTANE", "on"}}));
  ASSERT_TRUE(on.has_value());
  EXPECT_TRUE(on->throttle.enabled);
  EXPECT_DOUBLE_EQ(on->throttle.write_gbps_per_dimm, 2.3);
  EXPECT_DOUBLE_EQ(on->throttle.read_gbps_per_dimm, 6.6);
  auto off = allocator_options_from_env(fake_env({{"TENSORTIER_OPTANE", "off"}}));
  ASSERT_TRUE(off.has_value());
  EXPECT_FALSE(off->throttle.enabled);
  auto custom =
      allocator_options_from_env(fake_env({{"TENSORTIER_OPTANE", "dimms=6,read=5.5,write=0.5"}}));
  ASSERT_TRUE(custom.has_value()) << custom.status().message();
  EXPECT_TRUE(custom->throttle.enabled);
  EXPECT_EQ(custom->throttle.dimms, 6u);
  EXPECT_DOUBLE_EQ(custom->throttle.read_gbps_per_dimm, 5.5);
  EXPECT_DOUBLE_EQ(custom->throttle.write_gbps_per_dimm, 0.5);
}

TEST(Environment, BadValuesNameTheVariableAndWhatIsAccepted) {
  using test::fake_env;
  for (const char* bad : {"fifo", "", "LRU", "lru "}) {
    auto o = allocator_options_from_env(fake_env({{"TENSORTIER_POLICY", bad}}));
    ASSERT_FALSE(o.has_value()) << "'" << bad << "'";
    EXPECT_EQ(o.status().code(), Errc::invalid_argument);
    const std::string m = o.status().message();
    EXPECT_NE(m.find("TENSORTIER_POLICY"), std::string::npos) << m;
    EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << m;
    EXPECT_NE(m.find("next_use"), std::string::npos) << m;
  }
  for (const char* bad : {"yes", "", "dimms=0", "dimms=-2", "dimms=1.5", "read=abc", "write=0",
                          "speed=3", "dimms=2,,write=1", "dimms=2,write", "dimms=2,"}) {
    auto o = allocator_options_from_env(fake_env({{"TENSORTIER_OPTANE", bad}}));
    ASSERT_FALSE(o.has_value()) << "'" << bad << "'";
    EXPECT_EQ(o.status().code(), Errc::invalid_argument);
    const std::string m = o.status().message();
    EXPECT_NE(m.find("TENSORTIER_OPTANE"), std::string::npos) << m;
    EXPECT_NE(m.find(std::string("'") + bad + "'"), std::string::npos) << m;
    EXPECT_NE(m.find("accepted"), std::string::npos) << m;
  }
  // The Config variables keep naming themselves through this entry point.
  auto o = allocator_options_from_env(fake_env({{"TENSORTIER_DRAM_LIMIT", "12Q"}}));
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.status().message().find("TENSORTIER_DRAM_LIMIT"), std::string::npos);
}

TEST(Environment, OptionsFromTheEnvironmentCreateAnAllocator) {
  auto options = allocator_options_from_env(test::fake_env({{"TENSORTIER_DRAM_LIMIT", "16M"},
                                                            {"TENSORTIER_PMEM", "none"},
                                                            {"TENSORTIER_POLICY", "next_use"},
                                                            {"TENSORTIER_OPTANE", "dimms=2"}}));
  ASSERT_TRUE(options.has_value()) << options.status().message();
  auto alloc = make_allocator(*options);
  ASSERT_NE(alloc, nullptr);
  ASSERT_EQ(alloc->tiers().size(), 1u);
  const Stats stats = alloc->stats();
  EXPECT_EQ(stats.tiers[0].limit_bytes, 16 * kMiB);
  EXPECT_EQ(stats.policy, "next_use");
}

}  // namespace
}  // namespace tensortier
