// The subcommands of the `tensortier` CLI, one file each.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model_options.hpp"
#include "runtime/data/synthetic_brats.hpp"
#include "tensortier/config.hpp"
#include "tensortier/stats.hpp"
#include "tensortier/tiers.hpp"
#include "tensortier/topology.hpp"

namespace CLI {
class App;
}

namespace tensortier::cli {

struct TopoOptions {
  bool json = false;
};

struct DemoOptions {
  std::uint64_t total_bytes = 256ULL << 20;
  std::uint64_t block_bytes = 16ULL << 20;
  std::optional<std::uint64_t> dram_limit_bytes;  // --dram-limit; else env; else 64 MiB
  std::string json_path;                          // --json FILE ("-" for stdout)
};

// `tensortier train` (cmd_train.cpp; defaults in add_train_command's help).
struct TrainCommand {
  ModelCommand model;
  int steps = 50;
  std::string optimizer = "sgd", loss = "ce+dice";
  std::string lr_schedule = "constant";
  float lr = 0, momentum = 0.9f, weight_decay = 0;  // lr 0: the optimizer's default
  std::uint64_t train_cases = 0, seed = 0;
  int eval_cases = 4, eval_every = 0, threads = 0;
  std::string data_dir;  // --data: NIfTI cases instead of synthetic ones (docs/nifti.md)
  std::string dram_limit, json_path, schedule_path;
  std::string tiering = "plan";      // plan | lru (with a DRAM budget)
  std::string placement = "tiered";  // tiered | naive-file
  std::string reserve, trace_path, save_path;
  bool no_in_place = false;
  double read_in_place = -1;  // FLOPs per byte; -1: the plan's default
  std::string mover = "auto";  // auto | own-core | shared
  bool profile = false;
};

// `tensortier plan` (cmd_plan.cpp).
struct PlanCommand {
  ModelCommand model;
  std::string mode = "training", optimizer = "sgd";
  std::string dram_limit, reserve, json_path;
  bool schedule = false, no_in_place = false;
  double read_in_place = -1;  // FLOPs per byte; -1: the plan's default
  std::string mover = "own-core";  // own-core | shared
  // The footprint model and the projection (docs/planner.md).
  int channels = 4, dimms = 6;
  std::string pmem;
  double compute_gflops = 1000, dram_gbps = 100, pmem_read_gbps = 0, pmem_write_gbps = 0;
};

// `tensortier infer` (cmd_infer.cpp). With --weights the model comes from the
// checkpoint; model options given as well must agree with it.
struct InferCommand {
  ModelCommand model;
  std::vector<std::string> model_options_given;  // e.g. "--levels", filled while parsing
  int threads = 0;
  std::string weights_path, json_path, output_path;
  std::uint64_t seed = 0, case_index = 0;
  bool no_reuse = false;
  // A NIfTI scan (cmd_infer_nifti.cpp, docs/nifti.md): 4 files or one 4D file;
  // --output is then a NIfTI label volume with the input's geometry.
  std::vector<std::string> input_paths;
  std::string probabilities_path;
  // Tiled (sliding-window) inference, cmd_infer_tiled.cpp: on when --tile is given.
  std::string tile, volume_size;  // "N" or "DxHxW"; volume_size "" = --size
  double overlap = 0.5;
};

int run_topo(const Config& config, const TopoOptions& options);
int run_demo(Config config, const DemoOptions& options);
// --read-in-place for `train` and `plan` (cmd_plan.cpp), and its value for
// TierPlanOptions::read_in_place_flops_per_byte (-1, unset: the default).
void add_read_in_place_option(CLI::App* command, double& flops_per_byte);
double read_in_place_flops_per_byte(double option);
// --mover for `train` (with auto) and `plan`: whether the allocator's mover
// thread shares the compute's cores, which makes migrating cost the compute
// (TierPlanOptions::migration_cost).
void add_mover_option(CLI::App* command, std::string& mover, bool with_auto);
double migration_cost(const std::string& mover, bool compute_uses_every_cpu);
CLI::App* add_train_command(CLI::App& app, TrainCommand& command);
int run_train(const Config& config, const TrainCommand& command);
CLI::App* add_infer_command(CLI::App& app, InferCommand& command);
int run_infer(const Config& config, const InferCommand& command);
// `infer --input` (cmd_infer_nifti.cpp): adds --input and --probabilities;
// runs with the model, parameters and allocator of run_infer.
void add_infer_nifti_options(CLI::App* infer, InferCommand& command);
int run_infer_nifti(const InferCommand& command, const runtime::model::UNet3dConfig& model,
                    const runtime::model::Parameters* weights, Allocator& allocator, int threads);

// `tensortier generate` (cmd_generate.cpp): synthetic cases as NIfTI files.
struct GenerateCommand {
  std::string out_dir, size, format = "4files";
  int cases = 0;
  std::uint64_t seed = 0;
  bool gz = false, force = false;
};
CLI::App* add_generate_command(CLI::App& app, GenerateCommand& command);
int run_generate(const GenerateCommand& command);
// `infer --tile`: the model, its parameters (a checkpoint's or nullptr for
// untrained weights of --seed) and the allocator come from run_infer.
int run_infer_tiled(const InferCommand& command, const runtime::model::UNet3dConfig& model,
                    const runtime::model::Parameters* weights, Allocator& allocator, int threads);
CLI::App* add_plan_command(CLI::App& app, PlanCommand& command);
int run_plan(const PlanCommand& command);

// Shared by the subcommands: JSON and table renderings of tiers and targets.
nlohmann::json target_json(const MemoryTarget& target);
nlohmann::json tier_json(const TierPlan& plan, const Backend* backend);
void print_tier_table(const std::vector<TierPlan>& plans,
                      const std::vector<const Backend*>& backends);

// The topology the configuration names (TENSORTIER_TOPOLOGY_XML or live); an
// error names the variable.
Result<Topology> load_topology(const Config& config);

// Bytes of the allocator's tiers, DRAM (and HBM) apart from PMem.
struct TierBytes {
  std::uint64_t dram = 0, pmem = 0;            // live blocks now
  std::uint64_t dram_cached = 0;               // freed DRAM kept for reuse
  std::uint64_t dram_peak = 0, pmem_peak = 0;  // highest use (live + cache + spares)
  std::uint64_t dram_peak_live = 0, pmem_peak_live = 0;  // highest bytes of live blocks
  std::uint64_t dram_limit = 0;
};
TierBytes tier_bytes(const Stats& stats);
// [{"name","kind","limit_bytes","current_bytes","peak_bytes","peak_live_bytes"}] per tier.
nlohmann::json tier_stats_json(const Stats& stats);
// "1.23 GiB", "12.0 MiB", "512 B".
std::string short_bytes(std::uint64_t bytes);
// {"class name": dice, ...}
nlohmann::json dice_json(const std::vector<double>& dice, const std::vector<std::string>& names);

// Prints "tensortier: <message>" to stderr and returns the exit code for errors.
int fail(const Status& status);

// The status of a bad command-line value or input file: `what` says which and why.
inline Status bad(const std::string& what) { return Status(Errc::invalid_argument, what); }

// Writes `doc` to path ("-" = stdout); false with a message on error.
bool write_json(const std::string& path, const nlohmann::json& doc);

}  // namespace tensortier::cli
