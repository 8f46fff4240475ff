// `tensortier`: see the tiers, and (as their issues land) train, infer, plan
// and benchmark. Configuration comes from TENSORTIER_* (docs/configuration.md);
// a bad value is one line on stderr and exit code 2.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.hpp"

using namespace tensortier;

namespace {

// CLI11 validator for sizes with K/M/G/T suffixes.
std::function<std::string(std::string&)> size_option(std::uint64_t& out) {
  return [&out](std::string& text) -> std::string {
    auto size = parse_size(text);
    if (!size) return size.status().message();
    out = *size;
    return {};
  };
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tensortier: DRAM + persistent-memory tiering for large 3D imaging models"};
  app.require_subcommand(1);

  cli::TopoOptions topo;
  auto* topo_cmd = app.add_subcommand("topo", "Show the memory targets and the tiers in use");
  topo_cmd->add_flag("--json", topo.json, "Print JSON instead of a table");

  cli::DemoOptions demo;
  std::uint64_t demo_dram_limit = 0;
  auto* demo_cmd =
      app.add_subcommand("demo", "Allocate past the DRAM budget and spill to PMem at stable addresses");
  demo_cmd->add_option("--bytes", "Total bytes to allocate (default 256M)")
      ->check(CLI::Validator(size_option(demo.total_bytes), "SIZE"));
  demo_cmd->add_option("--block", "Block size (default 16M)")
      ->check(CLI::Validator(size_option(demo.block_bytes), "SIZE"));
  auto* limit_opt = demo_cmd->add_option("--dram-limit", "DRAM budget (default: TENSORTIER_DRAM_LIMIT, else 64M)")
      ->check(CLI::Validator(size_option(demo_dram_limit), "SIZE"));
  demo_cmd->add_option("--json", demo.json_path, "Write a JSON report to FILE (- for stdout)");

  cli::TrainCommand train;
  auto* train_cmd = cli::add_train_command(app, train);

  cli::InferCommand infer;
  auto* infer_cmd = cli::add_infer_command(app, infer);

  cli::GenerateCommand generate;
  auto* generate_cmd = cli::add_generate_command(app, generate);

  cli::PlanCommand plan;
  auto* plan_cmd = cli::add_plan_command(app, plan);

  CLI11_PARSE(app, argc, argv);

  auto config = config_from_env(process_env());
  if (!config) return cli::fail(config.status());

  if (*topo_cmd) return cli::run_topo(*config, topo);
  if (*demo_cmd) {
    if (limit_opt->count() > 0) demo.dram_limit_bytes = demo_dram_limit;
    return cli::run_demo(*config, demo);
  }
  if (*train_cmd) return cli::run_train(*config, train);
  if (*infer_cmd) return cli::run_infer(*config, infer);
  if (*plan_cmd) return cli::run_plan(plan);
  if (*generate_cmd) return cli::run_generate(generate);
  return 2;
}
