// `tensortier plan`: the memory of a 3D U-Net configuration without running
// it (docs/planner.md) — the exact footprints (naive, with buffer reuse, and
// the peak the runtime's allocator will reach, from the footprint model in
// src/runtime/plan/footprint.hpp), the smallest feasible DRAM budget, the
// tier plan for a DRAM budget (--dram-limit: PMem needed, bytes migrated per
// step) or the DRAM needed next to a PMem size (--pmem), and the projected
// step time for given bandwidths; --schedule prints the plan per tensor and
// per step.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>

#include "commands.hpp"
#include "runtime/graph/autograd.hpp"
#include "runtime/plan/footprint.hpp"
#include "runtime/plan/tier_plan.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::cli {

void add_read_in_place_option(CLI::App* command, double& flops_per_byte) {
  command
      ->add_option("--read-in-place", flops_per_byte,
                   "An op doing at least this many FLOPs per byte of its inputs in PMem reads "
                   "them in place instead of having them promoted (its compute outlasts the "
                   "reads); 0: only when its working set does not fit DRAM (default " +
                       std::to_string(static_cast<int>(
                           runtime::plan::kDefaultReadInPlaceFlopsPerByte)) +
                       ")")
      ->check(CLI::NonNegativeNumber);
}

double read_in_place_flops_per_byte(double option) {
  return option < 0 ? runtime::plan::kDefaultReadInPlaceFlopsPerByte : option;
}

void add_mover_option(CLI::App* command, std::string& mover, bool with_auto) {
  std::vector<std::string> choices{"own-core", "shared"};
  std::string text =
      "own-core: the allocator's mover thread has a core of its own, migrating is free for the "
      "compute; shared: its copies take CPU time from the compute, so an output is written in "
      "place in PMem instead of demoted where that costs less";
  if (with_auto) {
    choices.insert(choices.begin(), "auto");
    text += "; auto (default): shared when the compute threads use every CPU";
  } else {
    text += " (default own-core)";
  }
  command->add_option("--mover", mover, text)->check(CLI::IsMember(choices));
}

double migration_cost(const std::string& mover, bool compute_uses_every_cpu) {
  const bool shared = mover == "shared" || (mover == "auto" && compute_uses_every_cpu);
  return shared ? runtime::plan::shared_mover_migration_cost() : 0;
}

namespace {

namespace tg = tensortier::runtime::graph;
namespace tp = tensortier::runtime::plan;

std::string op_text(const tg::Graph& g, const tp::Liveness& l, int step) {
  if (l.steps.empty()) return "-";
  const tg::OpNode& op = g.op(l.steps[static_cast<std::size_t>(step)]);
  return "step " + std::to_string(step) + ", " + tg::op_kind_name(op.kind) + " '" + op.name + "'";
}

// Bytes of planned tensors outside DRAM at the worst step: what PMem must hold.
std::uint64_t pmem_needed(const tp::Liveness& l, const tp::TierPlan& plan) {
  std::uint64_t need = 0;
  for (std::size_t s = 0; s < plan.dram_bytes.size(); ++s) {
    const std::uint64_t live = l.live_bytes[s] + l.persistent_bytes;
    if (live > plan.dram_bytes[s]) need = std::max(need, live - plan.dram_bytes[s]);
  }
  return need;
}

struct Bandwidths {
  double compute_gflops, dram_gbps, pmem_read_gbps, pmem_write_gbps;
  double mover_copy_gbps = 0;  // a mover sharing the compute's cores; 0: its own core
};

// The projected step (or pass) time under a tier plan (docs/planner.md):
// max(compute, the mover's demotions and prefetches) + in-place PMem traffic
// + synchronous fetches. A mover sharing the compute's cores adds its copies'
// CPU time to the compute.
struct Projection {
  double compute_s = 0, mover_s = 0, in_place_s = 0, fetch_s = 0, step_s = 0;
  std::uint64_t in_place_read = 0, in_place_write = 0;
};

Projection project(const tg::Graph& g, const tp::Liveness& l, const tp::TierPlan* plan,
                   const Bandwidths& bw) {
  Projection p;
  const double giga = 1e9;
  double flops = 0;
  for (tp::OpId id : l.steps) flops += g.op(id).flops;
  p.compute_s = flops / (bw.compute_gflops * giga);
  if (plan != nullptr) {
    const double to_pmem = std::min(bw.dram_gbps, bw.pmem_write_gbps) * giga;
    const double from_pmem = std::min(bw.dram_gbps, bw.pmem_read_gbps) * giga;
    p.mover_s = static_cast<double>(plan->bytes_demoted) / to_pmem +
                static_cast<double>(plan->bytes_prefetched) / from_pmem;
    for (std::size_t s = 0; s < plan->actions.size(); ++s) {
      const tg::OpNode& op = g.op(l.steps[s]);
      std::uint64_t read = 0, written = 0;
      for (tp::TensorId t : plan->actions[s].in_place) {
        const tp::Interval* i = l.find(t);
        if (i == nullptr) continue;
        // Written where the op defines or updates it, read where it is an input.
        const bool updated = std::find(op.updates.begin(), op.updates.end(), t) != op.updates.end();
        if (i->first == static_cast<int>(s) || updated) written += i->bytes;
        if (i->first != static_cast<int>(s)) read += i->bytes;
      }
      p.in_place_read += read;
      p.in_place_write += written;
      // The op takes the longer of its compute and its PMem traffic (as the
      // runtime's Optane throttle holds it): only the excess adds up.
      const double traffic = static_cast<double>(read) / (bw.pmem_read_gbps * giga) +
                             static_cast<double>(written) / (bw.pmem_write_gbps * giga);
      p.in_place_s += std::max(0.0, traffic - op.flops / (bw.compute_gflops * giga));
    }
    p.fetch_s = static_cast<double>(plan->bytes_fetched) / from_pmem;
  }
  const double copies_s =
      plan != nullptr && bw.mover_copy_gbps > 0
          ? static_cast<double>(plan->bytes_demoted + plan->bytes_prefetched) /
                (bw.mover_copy_gbps * giga)
          : 0;
  p.step_s = std::max(p.compute_s + copies_s, p.mover_s) + p.in_place_s + p.fetch_s;
  return p;
}

nlohmann::json projection_json(const Projection& p) {
  return {{"compute_seconds", p.compute_s},   {"mover_seconds", p.mover_s},
          {"in_place_seconds", p.in_place_s}, {"fetch_seconds", p.fetch_s},
          {"step_seconds", p.step_s},         {"in_place_read_bytes", p.in_place_read},
          {"in_place_write_bytes", p.in_place_write}};
}

nlohmann::json plan_json(const tp::Liveness& l, const tp::TierPlan& plan) {
  return {{"dram_budget_bytes", plan.budget},
          {"planned_dram_peak_bytes", plan.planned_peak},
          {"pmem_needed_bytes", pmem_needed(l, plan)},
          {"bytes_demoted", plan.bytes_demoted},
          {"bytes_prefetched", plan.bytes_prefetched},
          {"bytes_fetched", plan.bytes_fetched},
          {"bytes_in_place", plan.bytes_in_place},
          {"bytes_written_in_place", plan.bytes_written_in_place}};
}

void print_plan(const char* title, const tp::Liveness& l, const tp::TierPlan& plan,
                const Projection& p) {
  std::printf("  %s\n", title);
  std::printf("    %-50s %12s\n", "planned DRAM peak (tensors)", format_bytes(plan.planned_peak).c_str());
  std::printf("    %-50s %12s\n", "PMem needed (tensors outside DRAM at the worst op)",
              format_bytes(pmem_needed(l, plan)).c_str());
  std::printf("    %-50s %12s\n", "demoted per step", format_bytes(plan.bytes_demoted).c_str());
  std::printf("    %-50s %12s\n", "prefetched per step (overlapping compute)",
              format_bytes(plan.bytes_prefetched).c_str());
  std::printf("    %-50s %12s\n", "fetched on demand per step (stalls)",
              format_bytes(plan.bytes_fetched).c_str());
  std::printf("    %-50s %12s\n", "used in place in PMem per step",
              format_bytes(plan.bytes_in_place).c_str());
  if (plan.bytes_written_in_place > 0)
    std::printf("    %-50s %12s\n", "  of which outputs written there, not demoted",
                format_bytes(plan.bytes_written_in_place).c_str());
  std::printf("    %-50s %10.3f s  (compute %.3f, mover %.3f, in place %.3f, stalls %.3f)\n",
              "projected step time", p.step_s, p.compute_s, p.mover_s, p.in_place_s, p.fetch_s);
}

// "1024^3" as well as what parse_dims takes.
std::string cube_size(std::string text) {
  if (const auto hat = text.find('^'); hat != std::string::npos && text.substr(hat) == "^3")
    text.resize(hat);
  return text;
}

}  // namespace

CLI::App* add_plan_command(CLI::App& app, PlanCommand& cmd) {
  auto* c = app.add_subcommand(
      "plan", "Plan the memory of a 3D U-Net configuration without running it");
  add_model_options(c, cmd.model);
  c->add_option("--channels", cmd.channels, "Input channels (MRI modalities, default 4)");
  c->add_option("--mode", cmd.mode, "training (default) or inference")
      ->check(CLI::IsMember({"training", "inference"}));
  c->add_option("--optimizer", cmd.optimizer, "sgd (momentum) or adam")
      ->check(CLI::IsMember({"sgd", "adam"}));
  c->add_option("--dram-limit", cmd.dram_limit,
                "Plan the tiers for this DRAM budget: PMem needed, bytes migrated, step time");
  c->add_option("--pmem", cmd.pmem, "DRAM needed next to this much PMem (the smallest budget "
                                    "whose plan fits the rest in it)");
  c->add_option("--reserve", cmd.reserve,
                "DRAM kept free for op internals (default: automatic, as `train` does)");
  c->add_flag("--no-in-place", cmd.no_in_place,
              "Plan without ops using PMem in place (a budget below the largest working set "
              "of one op is then infeasible)");
  add_read_in_place_option(c, cmd.read_in_place);
  add_mover_option(c, cmd.mover, false);
  c->add_option("--compute-gflops", cmd.compute_gflops,
                "Sustained convolution GFLOP/s for the projected step time (default 1000)");
  c->add_option("--dram-gbps", cmd.dram_gbps, "DRAM bandwidth, GB/s (default 100)");
  c->add_option("--dimms", cmd.dimms, "Optane DIMMs (default 6: one socket)");
  c->add_option("--pmem-read-gbps", cmd.pmem_read_gbps, "PMem read bandwidth, GB/s (default 6.6 x dimms)");
  c->add_option("--pmem-write-gbps", cmd.pmem_write_gbps,
                "PMem write bandwidth, GB/s (default 2.3 x dimms)");
  c->add_flag("--schedule", cmd.schedule,
              "Print the per-tensor plan (PMem spans) and the migrations per step");
  c->add_option("--json", cmd.json_path, "Write the plan as JSON to FILE (- for stdout)");
  return c;
}

int run_plan(const PlanCommand& cmd) {
  auto bad_value = [](const std::string& what) { return fail(bad(what)); };
  auto dims = parse_dims(cube_size(cmd.model.size));
  if (!dims) return fail(dims.status());
  if (dims->depth < 1 || dims->height < 1 || dims->width < 1)
    return bad_value("--size '" + cmd.model.size + "': every dimension must be >= 1");
  runtime::model::UNet3dConfig config = unet_config(cmd.model);
  config.in_channels = cmd.channels;
  if (cmd.model.batch < 1) return bad_value("--batch must be >= 1");
  if (cmd.channels < 1) return bad_value("--channels must be >= 1");
  if (!(cmd.compute_gflops > 0)) return bad_value("--compute-gflops must be > 0");
  if (!(cmd.dram_gbps > 0)) return bad_value("--dram-gbps must be > 0");
  if (cmd.dimms < 1) return bad_value("--dimms must be >= 1");
  if (cmd.pmem_read_gbps < 0 || cmd.pmem_write_gbps < 0)
    return bad_value("--pmem-read-gbps and --pmem-write-gbps must be > 0");
  if (!cmd.dram_limit.empty() && !cmd.pmem.empty())
    return bad_value("--dram-limit and --pmem: give one (the other is what the plan finds)");
  const double cost = migration_cost(cmd.mover, false);
  const Bandwidths bw{cmd.compute_gflops, cmd.dram_gbps,
                      cmd.pmem_read_gbps > 0 ? cmd.pmem_read_gbps : 6.6 * cmd.dimms,
                      cmd.pmem_write_gbps > 0 ? cmd.pmem_write_gbps : 2.3 * cmd.dimms,
                      cost > 0 ? tp::kSharedMoverCopyGbps : 0};
  const double dimms = tp::pmem_dimms_reading(bw.pmem_read_gbps);
  const runtime::Dims input{cmd.model.batch, config.in_channels, dims->depth, dims->height,
                            dims->width};
  if (Status s = runtime::model::validate(config, input); !s) return fail(s);
  const bool training = cmd.mode == "training";
  std::optional<std::uint64_t> budget, pmem_size, reserve_option;
  if (!cmd.dram_limit.empty()) {
    auto b = parse_size(cmd.dram_limit);
    if (!b) return fail(b.status().with_context("--dram-limit"));
    budget = *b;
  }
  if (!cmd.pmem.empty()) {
    auto b = parse_size(cmd.pmem);
    if (!b) return fail(b.status().with_context("--pmem"));
    pmem_size = *b;
  }
  if (!cmd.reserve.empty()) {
    auto r = parse_size(cmd.reserve);
    if (!r) return fail(r.status().with_context("--reserve"));
    reserve_option = *r;
  }

  // A context for the primitive descriptors; nothing is allocated from it.
  AllocatorOptions alloc_options;
  alloc_options.config.pmem.scheme = PmemSpec::Scheme::none;
  auto alloc = Allocator::create(alloc_options);
  if (!alloc) return fail(alloc.status());
  runtime::Context ctx(**alloc);

  tg::Graph graph;
  tp::Footprint fp;
  try {
    const auto net = runtime::model::build_unet3d(graph, config, input, {});
    if (training)
      tg::derive_backward(graph, net.loss,
                          cmd.optimizer == "adam" ? tg::OptimizerKind::adam : tg::OptimizerKind::sgd);
    fp = tp::model_footprint(graph, training ? tp::Pass::training : tp::Pass::inference, ctx);
  } catch (const std::exception& e) {
    return bad_value(e.what());
  }
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  const tp::Liveness l =
      tp::compute_liveness(graph, training ? tp::Pass::training : tp::Pass::inference, page);
  const std::uint64_t reserve =
      reserve_option ? *reserve_option : tp::automatic_reserve(graph, fp.scratchpad_bytes,
                                                           fp.peak_temporaries_bytes, page);
  // The minimum feasible budget comes from planning with an unlimited one.
  const double read_in_place = read_in_place_flops_per_byte(cmd.read_in_place);
  auto unlimited =
      tp::plan_tiers(graph, l, {~0ULL, reserve, !cmd.no_in_place, read_in_place, dimms, cost});
  if (!unlimited) return fail(unlimited.status());
  std::optional<tp::TierPlan> plan;
  const char* plan_title = nullptr;
  if (budget) {
    auto p = tp::plan_tiers(graph, l,
                            {*budget, reserve, !cmd.no_in_place, read_in_place, dimms, cost});
    if (!p) return fail(p.status().with_context("--dram-limit"));
    plan = std::move(*p);
    plan_title = "with that DRAM budget:";
  } else if (pmem_size) {
    // The smallest budget (to a MiB) at which every op runs on DRAM (no
    // in-place PMem use, so no reading in place by choice either) and the
    // tensors outside DRAM fit in pmem_size.
    std::uint64_t lo = unlimited->all_in_dram_budget, hi = std::max(lo, fp.runtime_peak_bytes);
    auto fits = [&](std::uint64_t b) -> std::optional<tp::TierPlan> {
      auto p = tp::plan_tiers(graph, l, {b, reserve, !cmd.no_in_place, 0});
      if (!p || p->bytes_in_place > 0 || pmem_needed(l, *p) > *pmem_size) return std::nullopt;
      return std::move(*p);
    };
    std::optional<tp::TierPlan> best = fits(hi);
    while (best && hi - lo > (1ULL << 20)) {
      const std::uint64_t mid = lo + (hi - lo) / 2;
      if (auto p = fits(mid)) {
        best = std::move(p);
        hi = mid;
      } else {
        lo = mid;
      }
    }
    if (!best) return bad_value("--pmem " + cmd.pmem + ": no DRAM budget up to the all-DRAM peak fits");
    if (auto p = fits(lo)) best = std::move(p);  // lo itself may fit (the minimum)
    plan = std::move(*best);
    plan_title = "DRAM needed: the smallest budget with every op on DRAM and the rest in that PMem:";
  }

  const char* unit = training ? "step" : "pass";
  const Projection all_dram = project(graph, l, nullptr, bw);
  std::printf("plan: %s; %dx%dx%d, batch %d, %s%s\n", model_text(config, cmd.model).c_str(),
              dims->depth, dims->height, dims->width, cmd.model.batch, cmd.mode.c_str(),
              training ? (" (" + cmd.optimizer + ")").c_str() : "");
  std::printf("  ops %zu, tensors %zu, %.1f GFLOP per %s\n", l.steps.size(), l.intervals.size(),
              graph.total_flops() / 1e9, unit);
  std::printf("  %-52s %12s\n", "naive footprint (every tensor its own buffer)",
              format_bytes(fp.naive_bytes).c_str());
  std::printf("  %-52s %12s  (peak at %s)\n", "footprint all-DRAM (freed at last use)",
              format_bytes(l.lower_bound_bytes).c_str(), op_text(graph, l, l.peak_step).c_str());
  if (!training)
    std::printf("  %-52s %12s  (arena %s + weights + image)\n", "footprint with the reuse plan",
                format_bytes(fp.reuse_bytes).c_str(), format_bytes(fp.arena_bytes).c_str());
  std::printf("  %-52s %12s  (at %s)\n", "runtime peak (allocator's live bytes, predicted)",
              format_bytes(fp.runtime_peak_bytes).c_str(),
              op_text(graph, l, fp.peak_step).c_str());
  std::printf("  %-52s %12s\n", "  of which persistent (weights, state)",
              format_bytes(fp.persistent_bytes).c_str());
  std::printf("  %-52s %12s\n", "  of which image and labels", format_bytes(fp.fed_bytes).c_str());
  std::printf("  %-52s %12s  (largest scratchpad %s)\n", "  of which op internals at the peak",
              format_bytes(fp.internals_at_peak).c_str(), format_bytes(fp.scratchpad_bytes).c_str());
  std::printf("  %-52s %12s  (%s)\n", "largest working set of one op",
              format_bytes(unlimited->working_set).c_str(),
              op_text(graph, l, unlimited->critical_step).c_str());
  std::printf("  %-52s %12s  (incl. %s reserve for op internals)\n",
              "smallest budget with every op on DRAM alone",
              format_bytes(unlimited->all_in_dram_budget).c_str(), format_bytes(reserve).c_str());
  std::printf("  %-52s %12s  (%s)\n", "minimum feasible DRAM budget",
              format_bytes(unlimited->min_budget).c_str(),
              cmd.no_in_place ? "no in-place use of PMem" : "below it, ops use PMem in place");
  std::printf("  %-52s %10.3f s  (%.0f GFLOP/s)\n", "projected time all-DRAM", all_dram.step_s,
              bw.compute_gflops);
  std::optional<Projection> tiered;
  if (plan) {
    tiered = project(graph, l, &*plan, bw);
    std::printf("  DRAM budget %s (%.2f of the footprint); PMem %.1f GB/s read, %.1f GB/s write\n",
                format_bytes(plan->budget).c_str(),
                static_cast<double>(plan->budget) / static_cast<double>(l.lower_bound_bytes),
                bw.pmem_read_gbps, bw.pmem_write_gbps);
    print_plan(plan_title, l, *plan, *tiered);
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
        {"tier_plan", nlohmann::json::parse(tp::tier_plan_json(graph, l, plan ? *plan : *unlimited))},
        {"footprint",
         {{"naive_bytes", fp.naive_bytes},
          {"reuse_bytes", fp.reuse_bytes},
          {"runtime_peak_bytes", fp.runtime_peak_bytes},
          {"peak_step", fp.peak_step},
          {"peak_op", l.steps.empty() ? std::string() : graph.op(l.steps[static_cast<std::size_t>(fp.peak_step)]).name},
          {"persistent_bytes", fp.persistent_bytes},
          {"fed_bytes", fp.fed_bytes},
          {"arena_bytes", fp.arena_bytes},
          {"scratchpad_bytes", fp.scratchpad_bytes},
          {"largest_temporary_bytes", fp.largest_temporary_bytes},
          {"peak_temporaries_bytes", fp.peak_temporaries_bytes},
          {"tensors_at_peak_bytes", fp.tensors_at_peak},
          {"internals_at_peak_bytes", fp.internals_at_peak}}},
        {"bandwidths",
         {{"compute_gflops", bw.compute_gflops},
          {"dram_gbps", bw.dram_gbps},
          {"pmem_read_gbps", bw.pmem_read_gbps},
          {"pmem_write_gbps", bw.pmem_write_gbps},
          {"dimms", cmd.dimms},
          {"mover", cmd.mover}}},
        {"projection_all_dram", projection_json(all_dram)}};
    if (plan) {
      nlohmann::json t = plan_json(l, *plan);
      t["mode"] = budget ? "dram_limit" : "pmem";
      if (pmem_size) t["pmem_bytes"] = *pmem_size;
      t["projection"] = projection_json(*tiered);
      doc["tiered"] = t;
    }
    if (!write_json(cmd.json_path, doc)) return 1;
  }
  return 0;
}

}  // namespace tensortier::cli
