// `tensortier plan`: the memory plan of a 3D U-Net configuration without
// running it — the schedule's footprints (naive, freed at last use, lower
// bound), the smallest feasible DRAM budget, and with --dram-limit the tier
// plan: planned DRAM peak and the bytes migrated per step; --schedule prints
// it per tensor and per step.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "runtime/graph/autograd.hpp"
#include "runtime/plan/tier_plan.hpp"

namespace tensortier::cli {
namespace {

namespace tg = tensortier::runtime::graph;
namespace tp = tensortier::runtime::plan;

std::string op_text(const tg::Graph& g, const tp::Liveness& l, int step) {
  if (l.steps.empty()) return "-";
  const tg::OpNode& op = g.op(l.steps[static_cast<std::size_t>(step)]);
  return "step " + std::to_string(step) + ", " + tg::op_kind_name(op.kind) + " '" + op.name + "'";
}

}  // namespace

CLI::App* add_plan_command(CLI::App& app, PlanCommand& cmd) {
  auto* c = app.add_subcommand(
      "plan", "Plan the memory of a 3D U-Net configuration without running it");
  add_model_options(c, cmd.model);
  c->add_option("--mode", cmd.mode, "training (default) or inference")
      ->check(CLI::IsMember({"training", "inference"}));
  c->add_option("--optimizer", cmd.optimizer, "sgd (momentum) or adam")
      ->check(CLI::IsMember({"sgd", "adam"}));
  c->add_option("--dram-limit", cmd.dram_limit, "Plan the tiers for this DRAM budget");
  c->add_option("--reserve", cmd.reserve,
                "DRAM kept free for op internals (default: automatic, as `train` does)");
  c->add_flag("--no-in-place", cmd.no_in_place,
              "Plan without ops using PMem in place (a budget below the largest working set "
              "of one op is then infeasible)");
  c->add_flag("--schedule", cmd.schedule,
              "Print the per-tensor plan (PMem spans) and the migrations per step");
  c->add_option("--json", cmd.json_path, "Write the plan as JSON to FILE (- for stdout)");
  return c;
}

int run_plan(const PlanCommand& cmd) {
  auto dims = parse_dims(cmd.model.size);
  if (!dims) return fail(dims.status());
  const runtime::model::UNet3dConfig config = unet_config(cmd.model);
  const runtime::Dims input{cmd.model.batch, config.in_channels, dims->depth, dims->height, dims->width};
  if (cmd.model.batch < 1) return fail(Status(Errc::invalid_argument, "--batch must be >= 1"));
  if (Status s = runtime::model::validate(config, input); !s) return fail(s);
  const bool training = cmd.mode == "training";

  tg::Graph graph;
  try {
    const auto net = runtime::model::build_unet3d(graph, config, input, {});
    if (training)
      tg::derive_backward(graph, net.loss,
                          cmd.optimizer == "adam" ? tg::OptimizerKind::adam : tg::OptimizerKind::sgd);
  } catch (const std::exception& e) {
    return fail(Status(Errc::invalid_argument, e.what()));
  }
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const tp::Liveness l =
      tp::compute_liveness(graph, training ? tp::Pass::training : tp::Pass::inference, page);
  std::uint64_t reserve = tp::automatic_reserve(graph, 0, page);
  if (!cmd.reserve.empty()) {
    auto r = parse_size(cmd.reserve);
    if (!r) return fail(r.status().with_context("--reserve"));
    reserve = *r;
  }
  // The minimum feasible budget comes from planning with an unlimited one.
  auto unlimited = tp::plan_tiers(graph, l, {~0ULL, reserve, !cmd.no_in_place});
  if (!unlimited) return fail(unlimited.status());
  std::optional<tp::TierPlan> plan;
  if (!cmd.dram_limit.empty()) {
    auto budget = parse_size(cmd.dram_limit);
    if (!budget) return fail(budget.status().with_context("--dram-limit"));
    auto p = tp::plan_tiers(graph, l, {*budget, reserve, !cmd.no_in_place});
    if (!p) return fail(p.status().with_context("--dram-limit"));
    plan = std::move(*p);
  }

  std::printf("plan: %s; %dx%dx%d, batch %d, %s%s\n", model_text(config, cmd.model).c_str(),
              dims->depth, dims->height, dims->width, cmd.model.batch, cmd.mode.c_str(),
              training ? (" (" + cmd.optimizer + ")").c_str() : "");
  std::printf("  ops %zu, tensors %zu, %.1f GFLOP per %s\n", l.steps.size(), l.intervals.size(),
              graph.total_flops() / 1e9, training ? "step" : "pass");
  std::printf("  %-52s %12s\n", "naive footprint (every tensor its own buffer)",
              format_bytes(l.naive_bytes).c_str());
  std::printf("  %-52s %12s  (peak at %s)\n", "footprint all-DRAM (freed at last use)",
              format_bytes(l.lower_bound_bytes).c_str(), op_text(graph, l, l.peak_step).c_str());
  std::printf("  %-52s %12s\n", "  of which persistent (weights, state)",
              format_bytes(l.persistent_bytes).c_str());
  std::printf("  %-52s %12s  (%s)\n", "largest working set of one op",
              format_bytes(unlimited->working_set).c_str(),
              op_text(graph, l, unlimited->critical_step).c_str());
  std::printf("  %-52s %12s  (incl. %s reserve for op internals)\n",
              "smallest budget with every op on DRAM alone",
              format_bytes(unlimited->all_in_dram_budget).c_str(), format_bytes(reserve).c_str());
  std::printf("  %-52s %12s  (%s)\n", "minimum feasible DRAM budget",
              format_bytes(unlimited->min_budget).c_str(),
              cmd.no_in_place ? "no in-place use of PMem" : "below it, ops use PMem in place");
  if (plan) {
    std::printf("  with a DRAM budget of %s (%.2f of the footprint):\n",
                format_bytes(plan->budget).c_str(),
                static_cast<double>(plan->budget) / static_cast<double>(l.lower_bound_bytes));
    std::printf("    %-50s %12s\n", "planned DRAM peak (tensors)", format_bytes(plan->planned_peak).c_str());
    std::printf("    %-50s %12s\n", "demoted per step", format_bytes(plan->bytes_demoted).c_str());
    std::printf("    %-50s %12s\n", "prefetched per step (overlapping compute)",
                format_bytes(plan->bytes_prefetched).c_str());
    std::printf("    %-50s %12s\n", "fetched on demand per step (stalls)",
                format_bytes(plan->bytes_fetched).c_str());
    std::printf("    %-50s %12s\n", "used in place in PMem per step",
                format_bytes(plan->bytes_in_place).c_str());
    if (cmd.schedule) std::printf("\n%s", tp::tier_plan_text(graph, l, *plan).c_str());
  } else if (cmd.schedule) {
    std::printf("\n%s", tp::tier_plan_text(graph, l, *unlimited).c_str());
  }
  if (!cmd.json_path.empty()) {
    nlohmann::json doc = {
        {"command", "plan"},
        {"config",
         {{"size", {dims->depth, dims->height, dims->width}},
          {"batch", cmd.model.batch},
          {"levels", config.levels},
          {"base_filters", config.base_filters},
          {"in_channels", config.in_channels},
          {"classes", config.classes},
          {"activation", cmd.model.activation},
          {"norm", cmd.model.norm},
          {"mode", cmd.mode},
          {"optimizer", cmd.optimizer}}},
        {"flops", graph.total_flops()},
        {"naive_bytes", l.naive_bytes},
        {"footprint_bytes", l.lower_bound_bytes},
        {"persistent_bytes", l.persistent_bytes},
        {"min_budget_bytes", unlimited->min_budget},
        {"reserve_bytes", reserve},
        {"tier_plan", nlohmann::json::parse(tp::tier_plan_json(graph, l, plan ? *plan : *unlimited))}};
    if (!write_json(cmd.json_path, doc)) return 1;
  }
  return 0;
}

}  // namespace tensortier::cli
