// The inference memory plan (src/runtime/plan/reuse_plan.hpp): offsets on
// hand-made lifetimes and random interval sets (no two tensors live at once
// share a byte; lower bound <= arena <= naive), in-place reuse on a small
// graph, and the executor running U-Nets on the plan: bit-identical to
// unplanned inference, outputs at their planned addresses, and a measured
// peak well below every-tensor-its-own-buffer.
#include <cstring>
#include <random>

#include "runtime/graph/executor.hpp"
#include "runtime/model/unet3d.hpp"
#include "runtime/plan/reuse_plan.hpp"
#include "train_test_support.hpp"

namespace tensortier::runtime::plan {
namespace {

using graph::Graph;
using graph::TensorId;
using graph::TensorKind;

// A hand-made inference liveness: each interval {first, last, bytes, kind}.
struct Span {
  int first, last;
  std::uint64_t bytes;
  TensorKind kind = TensorKind::activation;
};

Liveness make_liveness(int steps, const std::vector<Span>& spans) {
  Liveness l;
  l.pass = Pass::inference;
  for (int s = 0; s < steps; ++s) l.steps.push_back(s);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    Interval iv;
    iv.tensor = static_cast<TensorId>(i);
    iv.kind = spans[i].kind;
    iv.bytes = spans[i].bytes;
    iv.first = spans[i].first;
    iv.last = spans[i].last;
    iv.persistent = graph::is_persistent(spans[i].kind);
    l.interval_of.push_back(static_cast<int>(i));
    l.intervals.push_back(iv);
  }
  return l;
}

// Independent of check_plan(): every pair alive at a common step is disjoint.
void expect_disjoint(const ReusePlan& p) {
  for (std::size_t a = 0; a < p.placements.size(); ++a)
    for (std::size_t b = a + 1; b < p.placements.size(); ++b) {
      const TensorPlacement& x = p.placements[a];
      const TensorPlacement& y = p.placements[b];
      const bool same_time = x.first <= y.last && y.first <= x.last;
      const bool same_bytes = x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes;
      if (x.buffer == y.buffer) continue;
      ASSERT_FALSE(same_time && same_bytes)
          << "tensors " << x.tensor << " and " << y.tensor << " collide";
    }
  for (const TensorPlacement& x : p.placements) {
    EXPECT_EQ(x.offset % p.alignment, 0u);
    EXPECT_LE(x.offset + x.bytes, p.arena_bytes);
  }
}

TEST(ReusePlan, OverlappingLifetimesGetDisjointMemory) {
  const Liveness l = make_liveness(3, {{0, 1, 100}, {1, 2, 100}});
  const ReusePlan p = plan_reuse(l, nullptr);
  ASSERT_EQ(p.placements.size(), 2u);
  EXPECT_NE(p.placements[0].offset, p.placements[1].offset);
  EXPECT_EQ(p.arena_bytes, 256u);  // 2 x 100 rounded to 64
  EXPECT_EQ(p.naive_bytes, 256u);
  EXPECT_EQ(p.lower_bound_bytes, 256u);
  EXPECT_EQ(check_plan(p), "");
  expect_disjoint(p);
}

TEST(ReusePlan, DisjointLifetimesShareMemory) {
  const Liveness l = make_liveness(4, {{0, 1, 4096}, {2, 3, 4096}, {1, 2, 1000}});
  const ReusePlan p = plan_reuse(l, nullptr);
  EXPECT_EQ(p.placements[0].offset, p.placements[1].offset);
  EXPECT_EQ(p.arena_bytes, 4096u + 1024u);
  EXPECT_EQ(p.naive_bytes, 2 * 4096u + 1024u);
  EXPECT_EQ(p.lower_bound_bytes, 4096u + 1024u);
  EXPECT_EQ(check_plan(p), "");
}

TEST(ReusePlan, PersistentFedAndSavedTensorsStayOutside) {
  const Liveness l = make_liveness(
      2, {{kBeforeStart, 1, 512, TensorKind::weight}, {kBeforeStart, 0, 256, TensorKind::input},
          {0, 0, 64, TensorKind::saved}, {0, 1, 128}});
  const ReusePlan p = plan_reuse(l, nullptr);
  ASSERT_EQ(p.placements.size(), 1u);
  EXPECT_EQ(p.placements[0].tensor, 3);
  EXPECT_EQ(p.find(3), &p.placements[0]);
  EXPECT_EQ(p.find(0), nullptr);
  EXPECT_EQ(p.find(2), nullptr);
  EXPECT_EQ(p.persistent_bytes, 512u);
  EXPECT_EQ(p.input_bytes, 256u);
  EXPECT_EQ(p.arena_bytes, 128u);
}

TEST(ReusePlan, AlignmentRoundsSizesAndOffsets) {
  const Liveness l = make_liveness(2, {{0, 1, 10}, {0, 1, 5000}, {1, 1, 1}});
  const ReusePlan p = plan_reuse(l, nullptr, {.alignment = 4096});
  for (const TensorPlacement& t : p.placements) EXPECT_EQ(t.offset % 4096, 0u);
  EXPECT_EQ(p.arena_bytes, 4 * 4096u);
  EXPECT_EQ(check_plan(p), "");
}

TEST(ReusePlan, RejectsTrainingPassAndBadAlignment) {
  Liveness l = make_liveness(1, {{0, 0, 8}});
  EXPECT_THROW(plan_reuse(l, nullptr, {.alignment = 48}), std::invalid_argument);
  l.pass = Pass::training;
  EXPECT_THROW(plan_reuse(l, nullptr), std::invalid_argument);
}

TEST(ReusePlan, CheckPlanFindsACollision) {
  ReusePlan p = plan_reuse(make_liveness(2, {{0, 1, 64}, {1, 1, 64}}), nullptr);
  ASSERT_EQ(check_plan(p), "");
  p.placements[1].offset = p.placements[0].offset;
  EXPECT_NE(check_plan(p).find("overlap in memory"), std::string::npos);
}

// Random interval sets: the plan is valid, between the lower bound and the naive sum.
TEST(ReusePlan, RandomIntervalSets) {
  std::mt19937_64 rng(42);
  for (int round = 0; round < 300; ++round) {
    const int steps = 1 + static_cast<int>(rng() % 40);
    const int n = 1 + static_cast<int>(rng() % 60);
    std::vector<Span> spans;
    for (int i = 0; i < n; ++i) {
      const int a = static_cast<int>(rng() % static_cast<std::uint64_t>(steps));
      const int b = a + static_cast<int>(rng() % static_cast<std::uint64_t>(steps - a));
      const std::uint64_t bytes = 1 + rng() % (round % 2 ? 100000 : 300);
      spans.push_back({a, b, bytes});
    }
    const std::uint64_t align = std::uint64_t{1} << (rng() % 13);
    const ReusePlan p = plan_reuse(make_liveness(steps, spans), nullptr, {.alignment = align});
    ASSERT_EQ(p.placements.size(), spans.size());
    ASSERT_EQ(check_plan(p), "") << "round " << round;
    expect_disjoint(p);
    // Lower bound recomputed here: the most aligned bytes live at one step.
    std::uint64_t lower = 0;
    for (int s = 0; s < steps; ++s) {
      std::uint64_t live = 0;
      for (const Span& sp : spans)
        if (sp.first <= s && s <= sp.last) live += round_up(sp.bytes, align);
      lower = std::max(lower, live);
    }
    EXPECT_EQ(p.lower_bound_bytes, lower);
    EXPECT_GE(p.arena_bytes, p.lower_bound_bytes);
    EXPECT_LE(p.arena_bytes, p.naive_bytes);
  }
}

// image -> to_activation -> conv -> LeakyReLU -> conv -> LeakyReLU, plus a
// skip that keeps the first activation alive: in place where the input dies.
TEST(ReusePlan, InPlaceWhereTheInputDiesAtTheOp) {
  Graph g;
  graph::Builder b(g);
  const TensorId image = b.input("image", {1, 2, 8, 8, 8});
  const TensorId x = b.to_activation(image, "in");
  const TensorId c1 = b.conv3d(x, 4, 3, true, "c1");
  const TensorId a1 = b.activation(c1, 0.01f, "a1");
  const TensorId c2 = b.conv3d(a1, 4, 3, true, "c2");
  const TensorId a2 = b.activation(c2, 0.01f, "a2");
  const TensorId a3 = b.activation(a2, 0.01f, "a3");  // a2 also feeds the concat: not in place
  const TensorId cat = b.concat({a2, a3}, "cat");
  ASSERT_EQ(g.check(), "");
  const Liveness l = compute_liveness(g, Pass::inference, 64);
  const ReusePlan p = plan_reuse(l, &g);
  ASSERT_EQ(check_plan(p), "");
  expect_disjoint(p);
  EXPECT_EQ(p.find(a1)->in_place_of, c1);
  EXPECT_EQ(p.find(a1)->offset, p.find(c1)->offset);
  EXPECT_EQ(p.find(a2)->in_place_of, c2);
  EXPECT_EQ(p.find(a3)->in_place_of, graph::kNoTensor);
  EXPECT_NE(p.find(a3)->offset, p.find(a2)->offset);
  EXPECT_EQ(p.in_place, 2);
  EXPECT_EQ(p.buffers, static_cast<int>(p.placements.size()) - 2);
  EXPECT_NE(p.find(cat), nullptr);
  EXPECT_EQ(p.find(image), nullptr);
  EXPECT_GE(p.arena_bytes, p.lower_bound_bytes);

  const ReusePlan q = plan_reuse(l, &g, {.in_place = false});
  EXPECT_EQ(q.in_place, 0);
  EXPECT_NE(q.find(a1)->offset, q.find(c1)->offset);
  EXPECT_GE(q.arena_bytes, p.arena_bytes);
}

// ---- the executor on U-Nets --------------------------------------------------

struct NetCase {
  const char* name;
  int levels, base, batch, size;
  bool batch_norm;
  model::Activation activation;
};

void PrintTo(const NetCase& c, std::ostream* os) { *os << c.name; }

const NetCase kNets[] = {
    {"2 levels base 8 batch 1 32^3 bn relu", 2, 8, 1, 32, true, model::Activation::relu},
    {"3 levels base 4 batch 2 16^3 bn leaky", 3, 4, 2, 16, true, model::Activation::leaky_relu},
    {"4 levels base 4 batch 1 32^3 no norm leaky", 4, 4, 1, 32, false,
     model::Activation::leaky_relu},
    {"4 levels base 6 batch 2 16^3 bn relu", 4, 6, 2, 16, true, model::Activation::relu},
    {"3 levels base 8 batch 1 24^3 no norm relu", 3, 8, 1, 24, false, model::Activation::relu},
};

// One U-Net inference graph on its own allocator and context.
struct Net {
  std::unique_ptr<Allocator> alloc = train::test::dram_allocator();
  std::unique_ptr<Context> ctx = std::make_unique<Context>(*alloc);
  Graph graph;
  model::UNet3dGraph ids;
  model::Parameters params;
  Tensor image;
  std::unique_ptr<graph::Executor> exec;

  explicit Net(const NetCase& c) {
    model::UNet3dConfig config;
    config.levels = c.levels;
    config.base_filters = c.base;
    config.batch_norm = c.batch_norm;
    config.activation = c.activation;
    ids = model::build_unet3d(graph, config, {c.batch, 4, c.size, c.size, c.size}, {});
    params = model::init_parameters(graph, *alloc, 7);
    // Running statistics away from the initial 0 / 1, so batch norm does something.
    for (std::size_t i = 0; i < params.names.size(); ++i) {
      if (params.names[i].ends_with(".running_mean")) params.tensors[i].fill(0.05f);
      if (params.names[i].ends_with(".running_var")) params.tensors[i].fill(0.7f);
    }
    exec = std::make_unique<graph::Executor>(graph, *ctx);
    for (std::size_t i = 0; i < params.names.size(); ++i)
      exec->bind(graph.find(params.names[i]), params.tensors[i]);
    image = Tensor::empty(*alloc, graph.tensor(ids.image).dims);
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0.f, 1.f);
    float* p = image.f32();
    for (std::int64_t i = 0; i < image.elems(); ++i) p[i] = normal(rng);
  }

  ReusePlan plan() const {
    return plan_reuse(compute_liveness(graph, Pass::inference, 64), &graph);
  }
  std::vector<float> run(const graph::InferOptions& o) {
    exec->bind(ids.image, image);  // a pass drops every non-persistent tensor at its end
    const Tensor out = exec->infer(ids.logits, o);
    const Tensor plain = out.to_plain(*ctx);
    const float* p = plain.f32();
    return std::vector<float>(p, p + plain.elems());
  }
  std::uint64_t dram_peak() const {
    std::uint64_t peak = 0;
    for (const TierStats& t : alloc->stats().tiers)
      if (t.kind.rfind("pmem", 0) != 0) peak += t.peak_bytes;
    return peak;
  }
};

class PlannedInference : public ::testing::TestWithParam<NetCase> {
 protected:
  void SetUp() override { train::test::limit_threads(); }
};

TEST_P(PlannedInference, BitIdenticalToUnplanned) {
  Net net(GetParam());
  const ReusePlan plan = net.plan();
  ASSERT_EQ(check_plan(plan), "");
  EXPECT_GE(plan.arena_bytes, plan.lower_bound_bytes);
  EXPECT_LT(plan.arena_bytes, plan.naive_bytes);
  const std::vector<float> released = net.run({});
  const std::vector<float> kept = net.run({.release_at_last_use = false});
  // The planned run also checks every output's address after every op.
  int ops = 0;
  net.exec->after_each_op([&](const graph::OpNode&) { ops += 1; });
  const std::vector<float> planned = net.run({.plan = &plan});
  EXPECT_GT(ops, 0);
  EXPECT_EQ(net.exec->arena_bytes(), plan.arena_bytes);
  ASSERT_EQ(planned.size(), released.size());
  EXPECT_EQ(std::memcmp(planned.data(), released.data(), released.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(kept.data(), released.data(), released.size() * sizeof(float)), 0);
  // Twice on the same plan (a fresh arena each time) and again without.
  EXPECT_EQ(net.run({.plan = &plan}), planned);
  EXPECT_EQ(net.run({}), released);
}

INSTANTIATE_TEST_SUITE_P(UNets, PlannedInference, ::testing::ValuesIn(kNets));

// The planned run's measured DRAM peak: the arena, what lives outside it
// (weights, the image, the returned copy of the logits) and the ops' own
// temporaries (scratchpad, weights reordered into a primitive's layout);
// against every tensor in its own buffer, most of the planned saving shows.
TEST(PlannedInferenceMemory, PeakFollowsThePlan) {
  train::test::limit_threads();
  const NetCase c{"3 levels base 8 batch 1 32^3 bn relu", 3, 8, 1, 32, true,
                  model::Activation::relu};
  Net naive(c);
  naive.exec->bind(naive.ids.image, naive.image);
  naive.exec->infer(naive.ids.logits, {.release_at_last_use = false});
  const std::uint64_t naive_peak = naive.dram_peak();

  Net planned(c);
  const ReusePlan plan = planned.plan();
  planned.exec->bind(planned.ids.image, planned.image);
  const Tensor out = planned.exec->infer(planned.ids.logits, {.plan = &plan});
  const std::uint64_t planned_peak = planned.dram_peak();
  const std::uint64_t page = 4096;
  const std::uint64_t outside = round_up(planned.params.bytes(), page) +
                                round_up(planned.image.bytes(), page) +
                                round_up(out.bytes(), page);
  // Op temporaries, which the allocator keeps cached once freed (and counts):
  // the scratchpad, grown by replacement (the smaller old ones stay cached),
  // and at most every weight once more (reordered into a primitive's layout).
  const std::uint64_t slack =
      2 * round_up(planned.ctx->scratchpad_bytes(), page) + round_up(plan.persistent_bytes, page) +
      planned.params.names.size() * page;
  EXPECT_GE(planned_peak, plan.arena_bytes + planned.params.bytes());
  EXPECT_LE(planned_peak, round_up(plan.arena_bytes, page) + outside + slack)
      << "arena " << plan.arena_bytes << ", outside " << outside << ", scratchpad "
      << planned.ctx->scratchpad_bytes() << ", persistent " << plan.persistent_bytes;
  EXPECT_LE(planned_peak + (plan.naive_bytes - plan.arena_bytes) / 2, naive_peak)
      << "planned peak " << planned_peak << ", naive peak " << naive_peak << ", arena "
      << plan.arena_bytes << ", naive footprint " << plan.naive_bytes;
}

// A planned output the op does not create (the max-pool argmax: training
// only) must fail loudly, naming the tensor, not fall back silently.
TEST(PlannedInferenceMemory, OutputNotAtItsPlannedAddressThrows) {
  train::test::limit_threads();
  Net net({"2 levels", 2, 4, 1, 16, true, model::Activation::relu});
  ReusePlan plan = net.plan();
  TensorId argmax = graph::kNoTensor;
  for (const graph::TensorInfo& t : net.graph.tensors())
    if (t.kind == TensorKind::saved && t.name.find("pool") != std::string::npos) argmax = t.id;
  ASSERT_NE(argmax, graph::kNoTensor);
  TensorPlacement extra;
  extra.tensor = argmax;
  extra.bytes = round_up(net.graph.tensor(argmax).bytes, 64);
  extra.offset = plan.arena_bytes;
  extra.first = extra.last = 0;
  extra.buffer = plan.buffers;
  plan.placement_of[static_cast<std::size_t>(argmax)] = static_cast<int>(plan.placements.size());
  plan.placements.push_back(extra);
  plan.arena_bytes += extra.bytes;
  try {
    net.run({.plan = &plan});
    FAIL() << "no exception";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find(net.graph.tensor(argmax).name), std::string::npos)
        << e.what();
  }
  // The context is left clean: an unplanned run works and gives the same as before.
  EXPECT_FALSE(net.run({}).empty());
}

TEST(PlannedInferenceMemory, PlanOfAnotherGraphIsRejected) {
  Net small({"1", 2, 4, 1, 16, true, model::Activation::relu});
  Net other({"2", 3, 4, 1, 16, true, model::Activation::relu});
  const ReusePlan plan = other.plan();
  EXPECT_THROW(small.run({.plan = &plan}), std::invalid_argument);
}

}  // namespace
}  // namespace tensortier::runtime::plan
