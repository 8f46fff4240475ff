// `tensortier train`: trains the 3D U-Net on synthetic BraTS cases with the
// runtime (src/runtime/train), showing a progress bar on stderr (one updating
// line on a terminal, a line per step otherwise) and writing a JSON report
// with --json: step times, losses, Dice per class, peak bytes per tier, FLOPs
// and GFLOP/s, the schedule's memory figures and the time per op kind.
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>

#include "commands.hpp"
#include "runtime/model/checkpoint.hpp"
#include "runtime/train/threads.hpp"
#include "runtime/train/trainer.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::cli {
namespace {

namespace tt = tensortier::runtime::train;
namespace tg = tensortier::runtime::graph;
namespace tp = tensortier::runtime::plan;

// The tier plan's PMem bandwidth in Optane DIMMs (TierPlanOptions::pmem_dimms):
// the throttle's when Optane is emulated; an unthrottled emulated file (page
// cache) is as fast as DRAM (0); real PMem counts as the one DIMM that
// --read-in-place is calibrated to.
double pmem_dimms(const Allocator& allocator, const OptaneThrottle& throttle) {
  if (throttle.enabled)
    return tp::pmem_dimms_reading(std::max(1U, throttle.dimms) * throttle.read_gbps_per_dimm);
  for (const TierInfo& t : allocator.tiers())
    if (t.kind != TierKind::dram && t.kind != TierKind::hbm) return t.medium == "emulated" ? 0 : 1;
  return 1;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


// One progress line; a bar that rewrites itself on a terminal.
class Progress {
 public:
  explicit Progress(int total) : total_(total), tty_(isatty(STDERR_FILENO) == 1) {}
  void update(const tt::StepResult& r, const std::vector<std::string>& names, double gflops,
              const TierBytes& bytes) {
    std::string dice;
    for (std::size_t c = 1; c < r.dice.size(); ++c) {
      char buf[48];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", c > 1 ? " " : "", names[c].substr(0, 3).c_str(),
                    r.dice[c]);
      dice += buf;
    }
    char line[512];
    std::snprintf(line, sizeof line,
                  "step %d/%d loss %.4f dice %.3f (%s) %.3f s/step %.1f GFLOP/s DRAM %s (peak %s) "
                  "PMem %s (peak %s)",
                  r.step + 1, total_, r.loss.loss, tt::mean_dice(r.dice), dice.c_str(), r.seconds,
                  gflops, short_bytes(bytes.dram).c_str(), short_bytes(bytes.dram_peak).c_str(),
                  short_bytes(bytes.pmem).c_str(), short_bytes(bytes.pmem_peak).c_str());
    if (tty_) {
      constexpr int kWidth = 20;
      const int filled = total_ > 0 ? (r.step + 1) * kWidth / total_ : kWidth;
      std::string bar(static_cast<std::size_t>(filled), '#');
      bar.resize(kWidth, '.');
      std::fprintf(stderr, "\r\033[K[%s] %s", bar.c_str(), line);
    } else {
      std::fprintf(stderr, "train: %s\n", line);
    }
    std::fflush(stderr);
  }
  void done() {
    if (tty_) std::fprintf(stderr, "\n");
  }

 private:
  int total_;
  bool tty_;
};


nlohmann::json eval_json(const tt::EvalResult& e, const std::vector<std::string>& names, int step) {
  return {{"after_step", step},
          {"cases", e.cases},
          {"split", "validation"},
          {"dice", dice_json(e.dice, names)},
          {"mean_dice", e.mean_dice},
          {"dice_pooled", dice_json(e.dice_pooled, names)},
          {"seconds", e.seconds}};
}

void print_eval(const tt::EvalResult& e, const std::vector<std::string>& names, int step) {
  std::fprintf(stderr, "eval after step %d on %d held-out cases: mean Dice %.3f (", step, e.cases,
               e.mean_dice);
  for (std::size_t c = 1; c < e.dice.size(); ++c)
    std::fprintf(stderr, "%s%s %.3f", c > 1 ? ", " : "", names[c].c_str(), e.dice[c]);
  std::fprintf(stderr, "), %.1f s\n", e.seconds);
}

}  // namespace

CLI::App* add_train_command(CLI::App& app, TrainCommand& cmd) {
  auto* c = app.add_subcommand("train", "Train the 3D U-Net on synthetic brain-tumour volumes or NIfTI cases");
  add_model_options(c, cmd.model);
  c->add_option("--steps", cmd.steps, "Training steps (default 50)");
  c->add_option("--lr", cmd.lr, "Learning rate (default 0.01 for SGD, 0.001 for Adam)");
  c->add_option("--lr-schedule", cmd.lr_schedule, "constant or poly ((1 - step/steps)^0.9)")
      ->check(CLI::IsMember({"constant", "poly"}));
  c->add_option("--optimizer", cmd.optimizer, "sgd (momentum) or adam")
      ->check(CLI::IsMember({"sgd", "adam"}));
  c->add_option("--momentum", cmd.momentum, "SGD momentum (default 0.9)");
  c->add_option("--weight-decay", cmd.weight_decay, "L2 weight decay (default 0)");
  c->add_option("--loss", cmd.loss, "ce, dice or ce+dice (default)")
      ->check(CLI::IsMember({"ce", "dice", "ce+dice"}));
  c->add_option("--train-cases", cmd.train_cases,
                "Distinct training cases, cycled (default 0: a new case every time)");
  c->add_option("--data", cmd.data_dir,
                "Train on the NIfTI cases in DIR (one subdirectory per case; the last min(4, n/5) "
                "held out for evaluation; docs/nifti.md) instead of synthetic ones");
  c->add_option("--eval-cases", cmd.eval_cases, "Held-out validation cases scored at the end (default 4)");
  c->add_option("--eval-every", cmd.eval_every, "Also score them every N steps (default 0: at the end only)");
  c->add_option("--threads", cmd.threads, "Compute threads (default: all CPUs)");
  c->add_option("--seed", cmd.seed, "Seed of the weights and of the training cases (default 0)");
  c->add_option("--dram-limit", cmd.dram_limit,
                "DRAM budget (default: TENSORTIER_DRAM_LIMIT, else 3/4 of the machine's memory)");
  c->add_option("--tiering", cmd.tiering,
                "With a DRAM budget: plan (the schedule-aware tier plan: demote after the last "
                "forward use, prefetch before the backward use; default) or lru (the allocator "
                "alone, least recently used first)")
      ->check(CLI::IsMember({"plan", "lru"}));
  c->add_option("--reserve", cmd.reserve,
                "DRAM the tier plan keeps free for op internals (default: automatic)");
  c->add_flag("--no-in-place", cmd.no_in_place,
              "Refuse a budget below the largest working set of one op instead of letting ops "
              "use tensors in place in PMem");
  add_read_in_place_option(c, cmd.read_in_place);
  add_mover_option(c, cmd.mover, true);
  c->add_option("--placement", cmd.placement,
                "tiered (default) or naive-file: every tensor of the step in the PMem file "
                "mapping, paged by the kernel (the benchmarks' naive baseline)")
      ->check(CLI::IsMember({"tiered", "naive-file"}));
  c->add_option("--trace", cmd.trace_path,
                "Write a Perfetto trace (bytes per tier over time, migrations) to FILE");
  c->add_option("--save", cmd.save_path,
                "Write the trained weights to FILE (a checkpoint `tensortier infer --weights` reads)");
  c->add_option("--json", cmd.json_path, "Write a JSON report to FILE (- for stdout)");
  c->add_option("--schedule", cmd.schedule_path,
                "Write the step's schedule (ops, tensors, bytes, uses) as JSON to FILE");
  c->add_flag("--profile", cmd.profile, "Print the time per op kind at the end");
  return c;
}

int run_train(const Config& config, const TrainCommand& cmd) {
  auto dims = parse_dims(cmd.model.size);
  if (!dims) return fail(dims.status());
  tt::TrainOptions o;
  o.dims = *dims;
  o.batch = cmd.model.batch;
  o.model = unet_config(cmd.model);
  o.steps = cmd.steps;
  o.optimizer = cmd.optimizer == "adam" ? tg::OptimizerKind::adam : tg::OptimizerKind::sgd;
  if (cmd.lr < 0 || !std::isfinite(cmd.lr))
    return fail(Status(Errc::invalid_argument, "--lr " + std::to_string(cmd.lr) +
                                                   ": the learning rate must be > 0"));
  o.lr = cmd.lr > 0 ? cmd.lr : (o.optimizer == tg::OptimizerKind::adam ? 1e-3f : 1e-2f);
  o.lr_schedule = cmd.lr_schedule == "poly" ? tt::LrSchedule::poly : tt::LrSchedule::constant;
  o.momentum = cmd.momentum;
  o.weight_decay = cmd.weight_decay;
  o.loss.ce_weight = cmd.loss == "dice" ? 0.0 : 1.0;
  o.loss.dice_weight = cmd.loss == "ce" ? 0.0 : 1.0;
  o.seed = cmd.seed;
  o.train_cases = cmd.train_cases;
  o.data_dir = cmd.data_dir;
  if (Status s = tt::validate(o); !s) return fail(s);
  if (!cmd.save_path.empty()) {
    // Found out now, not after hours of training.
    const auto slash = cmd.save_path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : cmd.save_path.substr(0, slash + 1);
    if (access(dir.c_str(), W_OK) != 0)
      return fail(Status(Errc::invalid_argument,
                         "--save '" + cmd.save_path + "': directory '" + dir + "' is not writable"));
  }
  if (cmd.threads < 0) return fail(Status(Errc::invalid_argument, "--threads must be >= 0"));
  const int threads = tt::set_threads(cmd.threads);

  // Tiers from TENSORTIER_*; the DRAM budget defaults to most of the machine
  // (the node size hwloc reports can be far below it, DESIGN.md).
  auto alloc_options = allocator_options_from_env(process_env());
  if (!alloc_options) return fail(alloc_options.status());
  alloc_options->config = config;
  if (!cmd.dram_limit.empty()) {
    auto limit = parse_size(cmd.dram_limit);
    if (!limit) return fail(limit.status().with_context("--dram-limit"));
    alloc_options->config.dram_limit_bytes = *limit;
  } else if (!alloc_options->config.dram_limit_bytes) {
    const auto pages = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES));
    const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    alloc_options->config.dram_limit_bytes = pages * page / 4 * 3;
  }
  // The tier plan's budget: an explicit DRAM limit (option or environment).
  const bool naive = cmd.placement == "naive-file";
  // (Without a PMem tier there is nowhere to move to: the limit just caps DRAM.)
  const bool planned = cmd.tiering == "plan" && !naive &&
                       alloc_options->config.pmem.scheme != PmemSpec::Scheme::none &&
                       (!cmd.dram_limit.empty() || config.dram_limit_bytes.has_value());
  if (planned) {
    o.tiering.dram_budget = *alloc_options->config.dram_limit_bytes;
    o.tiering.in_place = !cmd.no_in_place;
    o.tiering.read_in_place_flops_per_byte = read_in_place_flops_per_byte(cmd.read_in_place);
    alloc_options->policy = Policy::next_use;
    if (!cmd.reserve.empty()) {
      auto reserve = parse_size(cmd.reserve);
      if (!reserve) return fail(reserve.status().with_context("--reserve"));
      o.tiering.reserve_bytes = *reserve;
    }
  }
  if (naive) {
    o.tensor_hint = Hint::cold;
    alloc_options->policy = Policy::static_placement;
  }
  alloc_options->record_trace = !cmd.trace_path.empty();
  auto alloc = Allocator::create(*alloc_options);
  if (!alloc) return fail(alloc.status());
  if (planned) {
    o.tiering.pmem_dimms = pmem_dimms(**alloc, alloc_options->throttle);
    o.tiering.migration_cost = migration_cost(cmd.mover, threads >= tt::usable_cpus());
  }

  std::unique_ptr<tt::Trainer> trainer;
  try {
    trainer = std::make_unique<tt::Trainer>(**alloc, o);
  } catch (const std::exception& e) {
    return fail(Status(Errc::invalid_argument, e.what()));
  }
  const auto names = tt::class_names(o.model.classes);
  const tg::Graph& graph = trainer->graph();
  const double flops = graph.total_flops();
  std::fprintf(stderr,
               "train: %s; %dx%dx%d, batch %d, "
               "%d steps, %s lr %g; %d threads; %llu parameters, %.1f GFLOP/step; %zu ops "
               "(%zu fwd, %zu bwd, %zu update)\n",
               model_text(o.model, cmd.model).c_str(), o.dims.depth,
               o.dims.height, o.dims.width, o.batch, o.steps, tg::optimizer_name(o.optimizer),
               static_cast<double>(o.lr), threads,
               static_cast<unsigned long long>(trainer->parameters().count()), flops / 1e9,
               graph.ops().size(), graph.count(tg::Phase::forward),
               graph.count(tg::Phase::backward), graph.count(tg::Phase::update));
  const data::NiftiDataset* nifti_cases = trainer->dataset();
  if (nifti_cases != nullptr) std::fprintf(stderr, "train: %s\n", nifti_cases->summary().c_str());
  const int eval_cases = nifti_cases != nullptr
                            ? std::min(cmd.eval_cases, static_cast<int>(nifti_cases->held_out()))
                            : cmd.eval_cases;

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  Progress progress(o.steps);
  nlohmann::json steps = nlohmann::json::array();
  nlohmann::json evals = nlohmann::json::array();
  std::vector<double> step_seconds, cpu_seconds, losses;
  std::map<std::string, double> kind_seconds;
  int code = 0;
  try {
    for (int s = 0; s < o.steps; ++s) {
      const tt::StepResult r = trainer->step();
      if (!std::isfinite(r.loss.loss)) {
        progress.done();
        code = fail(Status(Errc::internal, "the loss diverged at step " + std::to_string(s + 1) +
                                               " (try a smaller --lr)"));
        break;
      }
      const TierBytes bytes = tier_bytes((*alloc)->stats());
      step_seconds.push_back(r.seconds);
      cpu_seconds.push_back(r.cpu_seconds);
      losses.push_back(r.loss.loss);
      if (s > 0 || o.steps == 1)  // the first step also builds every primitive
        for (const tg::OpNode& op : graph.ops())
          kind_seconds[tg::op_kind_name(op.kind)] += trainer->op_seconds()[static_cast<std::size_t>(op.id)];
      const double gflops = r.seconds > 0 ? flops / r.seconds / 1e9 : 0;
      progress.update(r, names, gflops, bytes);
      steps.push_back({{"step", s + 1},
                       {"loss", r.loss.loss},
                       {"ce", r.loss.ce},
                       {"dice_loss", r.loss.dice},
                       {"dice", dice_json(r.dice, names)},
                       {"mean_dice", tt::mean_dice(r.dice)},
                       {"seconds", r.seconds},
                       {"cpu_seconds", r.cpu_seconds},
                       {"data_seconds", r.data_seconds},
                       {"gflops", gflops},
                       {"lr", r.lr},
                       {"dram_bytes", bytes.dram},
                       {"pmem_bytes", bytes.pmem}});
      if (s == 0 && !cmd.schedule_path.empty()) {
        std::ofstream out(cmd.schedule_path);
        out << graph.to_json() << "\n";
        if (!out) code = fail(Status(Errc::io_error, "cannot write " + cmd.schedule_path));
      }
      if (cmd.eval_every > 0 && (s + 1) % cmd.eval_every == 0 && s + 1 < o.steps &&
          eval_cases > 0) {
        progress.done();
        const tt::EvalResult e = trainer->evaluate(eval_cases);
        print_eval(e, names, s + 1);
        evals.push_back(eval_json(e, names, s + 1));
      }
    }
    progress.done();
    if (code == 0 && eval_cases > 0) {
      const tt::EvalResult e = trainer->evaluate(eval_cases);
      print_eval(e, names, trainer->steps_done());
      evals.push_back(eval_json(e, names, trainer->steps_done()));
    }
  } catch (const std::exception& e) {
    progress.done();
    return fail(Status(Errc::internal, std::string("training failed: ") + e.what()));
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();

  // Steady-state figures leave out the first step (primitive creation, first touch).
  std::vector<double> steady(step_seconds.begin() + (step_seconds.size() > 1 ? 1 : 0),
                             step_seconds.end());
  const double med = median(steady);
  const TierBytes bytes = tier_bytes((*alloc)->stats());
  const tg::MemoryProfile mem = graph.memory_profile();
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  if (!step_seconds.empty())
    std::fprintf(stderr,
                 "train: %zu steps in %.1f s; median step %.3f s (%.1f GFLOP/s); peak DRAM %s, "
                 "PMem %s; schedule peak %s live + %s persistent\n",
                 step_seconds.size(), total, med, med > 0 ? flops / med / 1e9 : 0.0,
                 short_bytes(bytes.dram_peak).c_str(), short_bytes(bytes.pmem_peak).c_str(),
                 short_bytes(mem.peak_bytes).c_str(), short_bytes(mem.persistent_bytes).c_str());
  double kind_total = 0;
  for (const auto& [k, v] : kind_seconds) kind_total += v;
  nlohmann::json op_time = nlohmann::json::array();
  std::vector<std::pair<double, std::string>> by_time;
  for (const auto& [k, v] : kind_seconds) by_time.emplace_back(v, k);
  std::sort(by_time.rbegin(), by_time.rend());
  for (const auto& [v, k] : by_time) {
    op_time.push_back({{"kind", k}, {"seconds", v}, {"share", kind_total > 0 ? v / kind_total : 0}});
    if (cmd.profile)
      std::fprintf(stderr, "  %-28s %9.3f s  %5.1f%%\n", k.c_str(), v,
                   kind_total > 0 ? 100 * v / kind_total : 0);
  }

  const Stats stats = (*alloc)->stats();
  const tp::TierScheduler* sched = trainer->tiering();
  if (sched != nullptr) {
    const tp::TierPlan& plan = sched->plan();
    const tp::TieringCounters& c = sched->counters();
    std::fprintf(stderr,
                 "tiering: budget %s (footprint if all-DRAM %s, planned DRAM peak %s + %s "
                 "reserve); moved %s down, %s up; stalled %.2f s\n",
                 short_bytes(plan.budget).c_str(), short_bytes(plan.footprint).c_str(),
                 short_bytes(plan.planned_peak).c_str(), short_bytes(plan.reserve).c_str(),
                 short_bytes(stats.bytes_demoted).c_str(), short_bytes(stats.bytes_promoted).c_str(),
                 c.stall_seconds);
  }
  if (!cmd.save_path.empty() && code == 0) {
    if (Status s = runtime::model::save_parameters(cmd.save_path, o.model, trainer->parameters()); !s)
      code = fail(s);
    else
      std::fprintf(stderr, "train: weights saved to %s\n", cmd.save_path.c_str());
  }
  if (!cmd.trace_path.empty())
    if (Status s = (*alloc)->write_trace(cmd.trace_path); !s && code == 0) code = fail(s);

  if (!cmd.json_path.empty()) {
    nlohmann::json memory = {
        {"placement", cmd.placement},
        {"tiering", sched != nullptr ? "plan" : (naive ? "none" : "allocator")},
        {"policy", stats.policy},
        {"peak_dram_bytes", bytes.dram_peak},
        {"peak_pmem_bytes", bytes.pmem_peak},
        {"peak_live_dram_bytes", bytes.dram_peak_live},
        {"peak_live_pmem_bytes", bytes.pmem_peak_live},
        {"peak_rss_bytes", static_cast<std::uint64_t>(ru.ru_maxrss) * 1024},
        {"dram_limit_bytes", alloc_options->config.dram_limit_bytes.value_or(0)},
        {"footprint_bytes", mem.peak_bytes + mem.persistent_bytes},
        {"bytes_demoted", stats.bytes_demoted},
        {"bytes_promoted", stats.bytes_promoted},
        {"demotions", stats.demotions},
        {"promotions", stats.promotions},
        {"migration_seconds", stats.migration_seconds},
        {"projected_optane_seconds", stats.projected_optane_seconds},
        {"stall_seconds", sched != nullptr ? sched->counters().stall_seconds : 0.0}};
    if (sched != nullptr) {
      const tp::TierPlan& plan = sched->plan();
      const tp::TieringCounters& c = sched->counters();
      memory["footprint_bytes"] = plan.footprint;
      memory["planned_dram_peak_bytes"] = plan.planned_peak;
      memory["plan"] = {{"budget_bytes", plan.budget},
                        {"reserve_bytes", plan.reserve},
                        {"min_budget_bytes", plan.min_budget},
                        {"all_in_dram_budget_bytes", plan.all_in_dram_budget},
                        {"bytes_in_place_per_step", plan.bytes_in_place},
                        {"bytes_written_in_place_per_step", plan.bytes_written_in_place},
                        {"pmem_dimms", o.tiering.pmem_dimms},
                        {"migration_cost", o.tiering.migration_cost},
                        {"in_place_read_bytes", c.in_place_read_bytes},
                        {"in_place_written_bytes", c.in_place_written_bytes},
                        {"in_place_throttle_seconds", c.in_place_throttle_seconds},
                        {"bytes_demoted_per_step", plan.bytes_demoted},
                        {"bytes_prefetched_per_step", plan.bytes_prefetched},
                        {"bytes_fetched_per_step", plan.bytes_fetched},
                        {"demotes", c.demotes},
                        {"prefetches", c.prefetches},
                        {"fetches", c.fetches},
                        {"pins", c.pins},
                        {"pins_in_pmem", c.pins_in_pmem},
                        {"outputs_in_pmem", c.outputs_in_pmem}};
    }
    memory["tiers"] = tier_stats_json(stats);
    nlohmann::json config = model_json(o.model, names);
    config.update({{"size", {o.dims.depth, o.dims.height, o.dims.width}},
                   {"batch", o.batch},
                   {"optimizer", tg::optimizer_name(o.optimizer)},
                   {"lr", o.lr},
                   {"lr_schedule", cmd.lr_schedule},
                   {"momentum", o.momentum},
                   {"weight_decay", o.weight_decay},
                   {"loss", cmd.loss},
                   {"steps", o.steps},
                   {"seed", o.seed},
                   {"train_cases", o.train_cases},
                   {"eval_cases", cmd.eval_cases},
                   {"threads", threads}});
    nlohmann::json doc = {
        {"command", "train"},
        {"data", nifti_cases != nullptr
                     ? "NIfTI " + cmd.data_dir
                     : "synthetic BraTS v" + std::to_string(data::kSyntheticBratsVersion)},
        {"config",
         config},
        {"model",
         {{"parameters", trainer->parameters().count()},
          {"parameter_bytes", trainer->parameters().bytes()},
          {"ops", graph.ops().size()},
          {"forward_ops", graph.count(tg::Phase::forward)},
          {"backward_ops", graph.count(tg::Phase::backward)},
          {"update_ops", graph.count(tg::Phase::update)},
          {"tensors", graph.tensors().size()},
          {"schedule_peak_live_bytes", mem.peak_bytes},
          {"schedule_persistent_bytes", mem.persistent_bytes}}},
        {"flops_per_step", flops},
        {"step_seconds", step_seconds},
        {"step_cpu_seconds", cpu_seconds},
        {"losses", losses},
        {"steps", steps},
        {"summary",
         {{"steps", step_seconds.size()},
          {"median_step_seconds", med},
          {"median_step_cpu_seconds",
           median(std::vector<double>(cpu_seconds.begin() + (cpu_seconds.size() > 1 ? 1 : 0),
                                      cpu_seconds.end()))},
          {"first_step_seconds", step_seconds.empty() ? 0.0 : step_seconds.front()},
          {"gflops", med > 0 ? flops / med / 1e9 : 0.0},
          {"total_seconds", total},
          {"first_loss", losses.empty() ? 0.0 : losses.front()},
          {"last_loss", losses.empty() ? 0.0 : losses.back()}}},
        {"eval", evals.empty() ? nlohmann::json(nullptr) : evals.back()},
        {"evals", evals},
        {"memory", memory},
        {"op_time", op_time}};
    if (!write_json(cmd.json_path, doc) && code == 0) code = 1;
  }
  return code;
}

}  // namespace tensortier::cli
