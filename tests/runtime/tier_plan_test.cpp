// The training tier plan (src/runtime/plan/tier_plan.hpp) and its scheduler:
// plan invariants on real U-Net schedules, infeasible budgets, and training
// under a DRAM budget with losses bit-identical to all-DRAM training.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "runtime/graph/autograd.hpp"
#include "runtime/model/unet3d.hpp"
#include "runtime/plan/tier_plan.hpp"
#include "runtime/plan/tier_scheduler.hpp"
#include "train_test_support.hpp"

namespace tensortier::runtime::plan {
namespace {

using graph::Graph;
using train::test::limit_threads;
using train::test::small_options;

struct Schedule {
  Graph graph;
  Liveness liveness;
};

Schedule unet_schedule(int levels, int base, int size, int batch) {
  Schedule s;
  model::UNet3dConfig c;
  c.levels = levels;
  c.base_filters = base;
  const auto net = model::build_unet3d(s.graph, c, {batch, 4, size, size, size}, {});
  graph::derive_backward(s.graph, net.loss, graph::OptimizerKind::sgd);
  s.liveness = compute_liveness(s.graph, Pass::training, 4096);
  return s;
}

bool contains(const std::vector<TensorId>& v, TensorId t) {
  return std::find(v.begin(), v.end(), t) != v.end();
}

bool in_span(const std::vector<std::pair<int, int>>& spans, int step) {
  return std::any_of(spans.begin(), spans.end(),
                     [&](const auto& s) { return s.first <= step && step <= s.second; });
}

// Every invariant the executor relies on: the budget holds at every step, and
// each tensor a step needs is in DRAM then or used in place by plan.
void expect_consistent(const Schedule& s, const TierPlan& plan) {
  const Liveness& l = s.liveness;
  ASSERT_EQ(plan.dram_bytes.size(), l.steps.size());
  ASSERT_EQ(plan.pmem_spans.size(), l.intervals.size());
  for (std::size_t k = 0; k < plan.dram_bytes.size(); ++k)
    ASSERT_LE(plan.dram_bytes[k], plan.capacity) << "step " << k;
  EXPECT_LE(plan.planned_peak, plan.capacity);
  EXPECT_LE(plan.capacity + plan.reserve, plan.budget);
  const auto sets = working_sets(l);
  for (std::size_t k = 0; k < sets.size(); ++k) {
    const StepActions& a = plan.actions[k];
    for (int i : sets[k]) {
      const Interval& iv = l.intervals[static_cast<std::size_t>(i)];
      const bool in_pmem = in_span(plan.pmem_spans[static_cast<std::size_t>(i)], static_cast<int>(k));
      if (contains(a.in_place, iv.tensor)) continue;
      EXPECT_FALSE(in_pmem) << s.graph.tensor(iv.tensor).name << " needed at step " << k
                            << " but planned in PMem";
    }
    // A demotion happens at a use (or the definition), a prefetch ahead of one.
    for (TensorId t : a.demote) {
      const auto pts = need_points(*l.find(t));
      EXPECT_TRUE(std::binary_search(pts.begin(), pts.end(), static_cast<int>(k)))
          << s.graph.tensor(t).name << " demoted after step " << k << " which does not use it";
    }
    for (TensorId t : a.prefetch) {
      const Interval& iv = *l.find(t);
      const auto pts = need_points(iv);
      EXPECT_TRUE(iv.first == kBeforeStart || (!pts.empty() && pts.back() > static_cast<int>(k)))
          << s.graph.tensor(t).name << " prefetched after its last use";
    }
  }
}

TEST(TierPlan, AmpleBudgetMovesNothing) {
  const Schedule s = unet_schedule(3, 8, 32, 1);
  // The plan keeps the fed batch for the next step: room for it too.
  std::uint64_t fed = 0;
  for (const Interval& i : s.liveness.intervals)
    if (i.kind == graph::TensorKind::input || i.kind == graph::TensorKind::label) fed += i.bytes;
  const std::uint64_t reserve = 8 << 20;
  auto plan = plan_tiers(s.graph, s.liveness, {s.liveness.lower_bound_bytes + fed + reserve, reserve});
  ASSERT_TRUE(plan) << plan.status().message();
  expect_consistent(s, *plan);
  EXPECT_EQ(plan->bytes_demoted, 0u);
  EXPECT_EQ(plan->bytes_prefetched + plan->bytes_fetched + plan->bytes_in_place, 0u);
  EXPECT_GE(plan->planned_peak, s.liveness.lower_bound_bytes);
  EXPECT_LE(plan->planned_peak, s.liveness.lower_bound_bytes + fed);
}

TEST(TierPlan, BudgetFractionsHoldAtEveryStep) {
  const Schedule s = unet_schedule(4, 8, 48, 2);
  const std::uint64_t footprint = s.liveness.lower_bound_bytes;
  for (int div : {2, 4, 8, 16}) {
    SCOPED_TRACE("1/" + std::to_string(div));
    auto plan = plan_tiers(s.graph, s.liveness, {footprint / div, 1 << 20});
    ASSERT_TRUE(plan) << plan.status().message();
    expect_consistent(s, *plan);
    EXPECT_GT(plan->bytes_demoted, 0u);
    EXPECT_GT(plan->bytes_prefetched, 0u) << "nothing overlaps compute";
  }
}

TEST(TierPlan, InPlaceOnlyBelowTheLargestWorkingSet) {
  const Schedule s = unet_schedule(4, 8, 48, 1);
  auto at = plan_tiers(s.graph, s.liveness, {0, 0});
  ASSERT_FALSE(at) << "a zero budget cannot hold anything";
  auto unlimited = plan_tiers(s.graph, s.liveness, {~0ULL, 1 << 20});
  ASSERT_TRUE(unlimited);
  const std::uint64_t all_in_dram = unlimited->all_in_dram_budget;
  auto enough = plan_tiers(s.graph, s.liveness, {all_in_dram, 1 << 20});
  ASSERT_TRUE(enough);
  expect_consistent(s, *enough);
  EXPECT_EQ(enough->bytes_in_place, 0u);
  auto below = plan_tiers(s.graph, s.liveness, {all_in_dram - (1 << 20), 1 << 20});
  ASSERT_TRUE(below);
  expect_consistent(s, *below);
  EXPECT_GT(below->bytes_in_place, 0u);
}

// Plans at 1/8 of the footprint without (0) and with (32 FLOPs per byte)
// reading in place by choice, each checked for consistency.
struct EighthPlans {
  TierPlan without, with;
};
void plans_at_an_eighth(const Schedule& s, EighthPlans& plans) {
  const std::uint64_t budget = s.liveness.lower_bound_bytes / 8;
  auto off = plan_tiers(s.graph, s.liveness, {budget, 1 << 20, true, 0});
  auto on = plan_tiers(s.graph, s.liveness, {budget, 1 << 20, true, 32});
  ASSERT_TRUE(off && on);
  expect_consistent(s, *off);
  expect_consistent(s, *on);
  plans.without = std::move(*off);
  plans.with = std::move(*on);
}

// With read_in_place_flops_per_byte, a convolution reads its evicted inputs
// where they are instead of having them promoted, up to flops / threshold
// bytes per op; other ops get their inputs in DRAM as before.
TEST(TierPlan, ComputeBoundOpsReadEvictedInputsInPlace) {
  const Schedule s = unet_schedule(4, 8, 48, 2);
  EighthPlans plans;
  ASSERT_NO_FATAL_FAILURE(plans_at_an_eighth(s, plans));
  EXPECT_LT(plans.with.bytes_prefetched + plans.with.bytes_fetched,
            plans.without.bytes_prefetched + plans.without.bytes_fetched);
  EXPECT_GT(plans.with.bytes_in_place, plans.without.bytes_in_place);
  int by_choice = 0;
  for (std::size_t k = 0; k < s.liveness.steps.size(); ++k) {
    const graph::OpNode& op = s.graph.op(s.liveness.steps[k]);
    std::uint64_t read_bytes = 0;
    for (TensorId t : plans.with.actions[k].in_place) {
      const Interval& iv = *s.liveness.find(t);
      if (iv.first == static_cast<int>(k) || contains(op.updates, t)) continue;  // no room
      if (contains(plans.without.actions[k].in_place, t)) continue;
      // Written in place by its producer to make room for this op's output
      // (AnOutputWithoutRoomGoesToDramWhenItsInputsProducerWritesInPlace).
      if (iv.first >= 0 && contains(plans.with.actions[static_cast<std::size_t>(iv.first)].in_place, t))
        continue;
      read_bytes += iv.bytes;
      ++by_choice;
    }
    EXPECT_LE(static_cast<double>(read_bytes), op.flops / 32)
        << op.name << " reads " << read_bytes << " bytes in place by choice";
  }
  EXPECT_GT(by_choice, 0);
  // Without in-place use at all, the option changes nothing.
  auto strict = plan_tiers(s.graph, s.liveness, {plans.without.all_in_dram_budget, 1 << 20, false, 32});
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->bytes_in_place, 0u);
}

// An output with no DRAM room is written in PMem, at about a third of PMem's
// read bandwidth. When the op's input came straight from a convolution, whose
// compute hides writing it, the convolution writes that input in place
// instead, the op reads it there, and the output gets DRAM: the batch norms
// after the full-resolution convolutions at 1/8 of the footprint.
TEST(TierPlan, AnOutputWithoutRoomGoesToDramWhenItsInputsProducerWritesInPlace) {
  const Schedule s = unet_schedule(4, 8, 48, 2);
  EighthPlans plans;
  ASSERT_NO_FATAL_FAILURE(plans_at_an_eighth(s, plans));
  int traded = 0;
  for (std::size_t k = 0; k < s.liveness.steps.size(); ++k) {
    const graph::OpNode& op = s.graph.op(s.liveness.steps[k]);
    for (TensorId t : plans.with.actions[k].in_place) {
      const Interval& iv = *s.liveness.find(t);
      if (iv.first < 0 || iv.first >= static_cast<int>(k)) continue;
      const auto p = static_cast<std::size_t>(iv.first);
      if (!contains(plans.with.actions[p].in_place, t)) continue;  // evicted later, read by choice
      const auto pts = need_points(iv);  // the trade is at the first use after p
      const auto next = std::upper_bound(pts.begin(), pts.end(), iv.first);
      if (next == pts.end() || *next != static_cast<int>(k)) continue;
      const graph::OpNode& producer = s.graph.op(s.liveness.steps[p]);
      if (producer.flops == 0 || op.flops > 0 || contains(plans.without.actions[p].in_place, t))
        continue;
      // For an output of the op: in DRAM now, written in PMem without the trade.
      EXPECT_TRUE(std::any_of(op.outputs.begin(), op.outputs.end(), [&](TensorId o) {
        return contains(plans.without.actions[k].in_place, o) && !contains(plans.with.actions[k].in_place, o);
      })) << op.name << " reads " << s.graph.tensor(t).name << " in place for nothing";
      ++traded;
    }
  }
  EXPECT_GE(traded, 4) << "the batch norms after the four full-resolution convolutions";
}

// When migrating costs the compute (a mover sharing its cores), a tensor the
// plan would demote after its last forward use is instead written in place
// by its producer and read there, if the PMem traffic is hidden by the ops'
// compute more than the copy would cost: every such tensor with PMem as fast
// as DRAM, fewer with one Optane DIMM (not the outputs of ops too light to
// hide writing them), none with a free migration.
TEST(TierPlan, WithAMigrationCostOutputsSkipDramWhereTheirOpsHideThePmemTraffic) {
  const Schedule s = unet_schedule(4, 8, 48, 2);
  const std::uint64_t budget = s.liveness.lower_bound_bytes / 8;
  const double cost = shared_mover_migration_cost();
  auto free_moves = plan_tiers(s.graph, s.liveness, {budget, 1 << 20, true, 32, 0, 0});
  auto dram_speed = plan_tiers(s.graph, s.liveness, {budget, 1 << 20, true, 32, 0, cost});
  auto one_dimm = plan_tiers(s.graph, s.liveness, {budget, 1 << 20, true, 32, 1, cost});
  ASSERT_TRUE(free_moves && dram_speed && one_dimm);
  expect_consistent(s, *free_moves);
  expect_consistent(s, *dram_speed);
  expect_consistent(s, *one_dimm);
  EXPECT_EQ(free_moves->bytes_written_in_place, 0u);
  EXPECT_GT(one_dimm->bytes_written_in_place, 0u);
  EXPECT_LT(one_dimm->bytes_written_in_place, dram_speed->bytes_written_in_place);
  EXPECT_LT(dram_speed->bytes_demoted, free_moves->bytes_demoted / 4);
  // The tensors it writes in place at their definition, beyond those the plan
  // without the cost does: never demoted, and read in place by the next op
  // that uses them or promoted for it, never in DRAM since being written.
  std::uint64_t written = 0;
  for (const Interval& iv : s.liveness.intervals) {
    if (iv.first < 0) continue;
    const auto p = static_cast<std::size_t>(iv.first);
    if (!contains(dram_speed->actions[p].in_place, iv.tensor) ||
        contains(free_moves->actions[p].in_place, iv.tensor))
      continue;
    const std::string& name = s.graph.tensor(iv.tensor).name;
    written += iv.bytes;
    for (const StepActions& a : dram_speed->actions)
      EXPECT_FALSE(contains(a.demote, iv.tensor)) << name << " written in place and demoted";
    const auto pts = need_points(iv);
    const auto next = std::upper_bound(pts.begin(), pts.end(), iv.first);
    if (next == pts.end()) continue;
    const auto k = static_cast<std::size_t>(*next);
    bool from_pmem = contains(dram_speed->actions[k].in_place, iv.tensor) ||
                     contains(dram_speed->actions[k].fetch, iv.tensor);
    for (std::size_t q = p; q < k; ++q)
      from_pmem = from_pmem || contains(dram_speed->actions[q].prefetch, iv.tensor);
    EXPECT_TRUE(from_pmem) << name << " written in place at step " << p
                           << ", then in DRAM at step " << k << " without a promotion";
  }
  EXPECT_GE(written, dram_speed->bytes_written_in_place);
}

TEST(TierPlan, AutomaticReserveCoversScratchpadAndTemporaries) {
  const Schedule s = unet_schedule(4, 8, 48, 2);
  std::uint64_t largest_weight = 0;
  for (const graph::TensorInfo& t : s.graph.tensors())
    if (t.kind == graph::TensorKind::weight) largest_weight = std::max(largest_weight, t.bytes);
  const std::uint64_t slack = 4 << 20, page = 4096;
  auto rounded = [&](std::uint64_t b) { return (b + page - 1) / page * page; };
  // No temporaries known: two of the largest weights (reordered) + scratchpad.
  EXPECT_EQ(automatic_reserve(s.graph, 1 << 20, 0, page),
            rounded(2 * largest_weight + (1 << 20)) + slack);
  // The ops' temporaries (an activation reordered, a Dice gradient, ...) when
  // more: the plan leaves room for them instead of the allocator evicting a
  // planned tensor on the compute thread to make it.
  const std::uint64_t temps = 16 * largest_weight + 12345;
  EXPECT_EQ(automatic_reserve(s.graph, 1 << 20, temps, page), rounded(temps + (1 << 20)) + slack);
}

TEST(TierPlan, StrictModeRefusesWithTheMinimumFeasibleBudget) {
  const Schedule s = unet_schedule(4, 8, 48, 1);
  auto unlimited = plan_tiers(s.graph, s.liveness, {~0ULL, 1 << 20, false});
  ASSERT_TRUE(unlimited);
  EXPECT_EQ(unlimited->min_budget, unlimited->all_in_dram_budget);
  auto refused = plan_tiers(s.graph, s.liveness, {unlimited->min_budget - 4096, 1 << 20, false});
  ASSERT_FALSE(refused);
  const std::string m = refused.status().message();
  EXPECT_NE(m.find("minimum feasible " + format_bytes(unlimited->min_budget)), std::string::npos) << m;
  EXPECT_NE(m.find("step " + std::to_string(unlimited->critical_step)), std::string::npos) << m;
  EXPECT_TRUE(plan_tiers(s.graph, s.liveness, {unlimited->min_budget, 1 << 20, false}));
}

TEST(TierPlan, TextAndJsonNameEveryTensor) {
  const Schedule s = unet_schedule(3, 4, 16, 1);
  auto plan = plan_tiers(s.graph, s.liveness, {s.liveness.lower_bound_bytes / 4 + (1 << 20), 1 << 20});
  ASSERT_TRUE(plan);
  const std::string text = tier_plan_text(s.graph, s.liveness, *plan);
  const std::string json = tier_plan_json(s.graph, s.liveness, *plan);
  for (const Interval& i : s.liveness.intervals) {
    const std::string& name = s.graph.tensor(i.tensor).name;
    EXPECT_NE(text.find(name), std::string::npos) << name;
    EXPECT_NE(json.find("\"" + name + "\""), std::string::npos) << name;
  }
}

// ---- training under the plan ------------------------------------------------

std::unique_ptr<Allocator> tiered_allocator(std::uint64_t dram_limit) {
  AllocatorOptions options;
  options.config.pmem.scheme = PmemSpec::Scheme::temp_file;
  options.config.pmem.size_bytes = 1ULL << 30;
  options.config.dram_limit_bytes = dram_limit;
  options.policy = Policy::next_use;
  auto created = Allocator::create(options);
  if (!created) throw std::runtime_error("allocator: " + created.status().message());
  return std::move(*created);
}

struct TrainRun {
  std::vector<double> losses;
  std::uint64_t dram_peak = 0, pmem_peak = 0, demoted = 0, promoted = 0;
  std::uint64_t planned_demoted = 0;  // per pass, by the last plan
  std::uint64_t planned_written_in_place = 0;
  TieringCounters counters;
};

// migration_cost: TierPlanOptions::migration_cost, with the temp file's PMem
// as fast as DRAM (pmem_dimms 0), as `tensortier train` plans it there.
TrainRun train(std::uint64_t budget, std::uint64_t footprint_hint, int steps,
               double migration_cost = 0) {
  limit_threads();
  auto alloc = budget > 0 ? tiered_allocator(budget) : tiered_allocator(4ULL << 30);
  train::TrainOptions o = small_options(3, 8);
  o.dims = {32, 32, 32};
  o.batch = 2;
  o.tiering.dram_budget = budget;
  o.tiering.reserve_bytes = budget > 0 ? std::max<std::uint64_t>(footprint_hint / 32, 1 << 20) : 0;
  o.tiering.pmem_dimms = 0;
  o.tiering.migration_cost = migration_cost;
  train::Trainer t(*alloc, o);
  TrainRun r;
  for (int i = 0; i < steps; ++i) r.losses.push_back(t.step().loss.loss);
  const Stats st = alloc->stats();
  for (const TierStats& ts : st.tiers) {
    const bool pmem = ts.kind.rfind("pmem", 0) == 0;
    (pmem ? r.pmem_peak : r.dram_peak) = std::max(pmem ? r.pmem_peak : r.dram_peak, ts.peak_bytes);
  }
  r.demoted = st.bytes_demoted;
  r.promoted = st.bytes_promoted;
  if (t.tiering() != nullptr) {
    r.counters = t.tiering()->counters();
    r.planned_demoted = t.tiering()->plan().bytes_demoted;
    r.planned_written_in_place = t.tiering()->plan().bytes_written_in_place;
  }
  return r;
}

TEST(TieredTraining, LossesBitIdenticalAtAQuarterAndAnEighth) {
  const TrainRun all_dram = train(0, 0, 3);
  ASSERT_EQ(all_dram.pmem_peak, 0u);
  const std::uint64_t footprint = all_dram.dram_peak;
  for (int div : {4, 8}) {
    SCOPED_TRACE("DRAM 1/" + std::to_string(div) + " of " + format_bytes(footprint));
    const std::uint64_t budget = footprint / div / 4096 * 4096;
    const TrainRun r = train(budget, footprint, 3);
    EXPECT_EQ(r.losses, all_dram.losses);
    EXPECT_LE(r.dram_peak, budget);  // the allocator's own peak
    EXPECT_GT(r.pmem_peak, 0u);
    EXPECT_GT(r.demoted, 0u);
    EXPECT_GT(r.promoted, 0u);
    EXPECT_GT(r.counters.prefetches, 0u);
    EXPECT_GT(r.counters.demotes, 0u);
    // The allocator demotes what the plan says, not more: an output the plan
    // has written in place goes to PMem, not into DRAM others were given.
    EXPECT_LE(r.demoted, r.planned_demoted * 3 * 115 / 100);
    if (div == 8) {
      EXPECT_GT(r.counters.outputs_in_pmem, 0u);
      // With a mover sharing the compute's cores, outputs written in place
      // instead of demoted: the same losses, within the budget, fewer bytes
      // demoted by the allocator.
      const TrainRun shared = train(budget, footprint, 3, shared_mover_migration_cost());
      EXPECT_EQ(shared.losses, all_dram.losses);
      EXPECT_LE(shared.dram_peak, budget);
      EXPECT_GT(shared.planned_written_in_place, 0u);
      EXPECT_GT(shared.counters.outputs_in_pmem, r.counters.outputs_in_pmem);
      EXPECT_LT(shared.demoted, r.demoted);
    }
  }
}

TEST(TieredTraining, InfeasibleBudgetIsRefusedBeforeRunning) {
  auto alloc = tiered_allocator(64 << 20);
  train::TrainOptions o = small_options(3, 8);
  o.tiering.dram_budget = 8 << 20;
  o.tiering.reserve_bytes = 16 << 20;  // more than the budget
  try {
    train::Trainer t(*alloc, o);
    FAIL() << "a budget below the reserve was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("minimum feasible"), std::string::npos) << e.what();
  }
  o.tiering.dram_budget = 3 << 20;
  o.tiering.reserve_bytes = 1 << 20;
  o.tiering.in_place = false;  // strict: the largest working set must fit
  try {
    train::Trainer t(*alloc, o);
    FAIL() << "a budget below the largest working set was accepted without in-place use";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("at once"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tensortier::runtime::plan
