// The schedule of a training step (src/runtime/graph): its structure on
// U-Nets of every depth and variant, and, on a real step, that the executor
// holds exactly the tensors the schedule says are live, with the bytes it says.
#include <algorithm>
#include <map>
#include <set>

#include "runtime/graph/autograd.hpp"
#include "runtime/graph/executor.hpp"
#include "runtime/model/unet3d.hpp"
#include "train_test_support.hpp"

namespace tensortier::runtime::train::test {
namespace {

using namespace tensortier::runtime::graph;
using model::UNet3dConfig;

struct Variant {
  const char* name;
  int levels;
  model::Activation activation;
  bool batch_norm;
  OptimizerKind optimizer;
  LossSpec loss;
};

const Variant kVariants[] = {
    {"1 level, relu+bn, sgd", 1, model::Activation::relu, true, OptimizerKind::sgd, {}},
    {"3 levels, relu+bn, sgd", 3, model::Activation::relu, true, OptimizerKind::sgd, {}},
    {"5 levels, leaky+bn, adam", 5, model::Activation::leaky_relu, true, OptimizerKind::adam, {}},
    {"4 levels, leaky, no norm, ce", 4, model::Activation::leaky_relu, false, OptimizerKind::sgd,
     {1.0, 0.0, false}},
    {"2 levels, relu, no norm, dice", 2, model::Activation::relu, false, OptimizerKind::adam,
     {0.0, 1.0, true}},
};

Graph build(const Variant& v, model::UNet3dGraph* net = nullptr, int batch = 2) {
  Graph g;
  UNet3dConfig c;
  c.levels = v.levels;
  c.base_filters = 4;
  c.activation = v.activation;
  c.batch_norm = v.batch_norm;
  const model::UNet3dGraph n = model::build_unet3d(g, c, {batch, 4, 32, 32, 32}, v.loss);
  derive_backward(g, n.loss, v.optimizer);
  if (net != nullptr) *net = n;
  return g;
}

void PrintTo(const Variant& v, std::ostream* os) { *os << v.name; }

class Schedule : public ::testing::TestWithParam<Variant> {};

TEST_P(Schedule, IsConsistent) {
  const Graph g = build(GetParam());
  EXPECT_EQ(g.check(), "");
}

TEST_P(Schedule, EveryTensorIsDefinedBeforeEveryUse) {
  const Graph g = build(GetParam());
  for (const TensorInfo& t : g.tensors()) {
    const bool fed = t.kind == TensorKind::input || t.kind == TensorKind::label;
    if (is_persistent(t.kind) || fed) {
      EXPECT_EQ(t.producer, kNoOp) << t.name;
      continue;
    }
    ASSERT_NE(t.producer, kNoOp) << t.name << " is never defined";
    for (OpId u : t.uses) EXPECT_LT(t.producer, u) << t.name << " used by " << g.op(u).name;
    const auto& outs = g.op(t.producer).outputs;
    EXPECT_EQ(std::count(outs.begin(), outs.end(), t.id), 1) << t.name;
  }
  // The uses are exactly the ops that list the tensor.
  std::map<TensorId, std::vector<OpId>> listed;
  for (const OpNode& op : g.ops())
    for (const auto* list : {&op.inputs, &op.updates})
      for (TensorId t : *list)
        if (listed[t].empty() || listed[t].back() != op.id) listed[t].push_back(op.id);
  for (const TensorInfo& t : g.tensors()) EXPECT_EQ(t.uses, listed[t.id]) << t.name;
}

TEST_P(Schedule, BackwardOpsReverseTheForwardOps) {
  const Graph g = build(GetParam());
  std::vector<OpId> forward_of_backward;
  std::size_t n_forward = 0;
  bool backward_started = false;
  for (const OpNode& op : g.ops()) {
    if (op.phase == Phase::forward) {
      EXPECT_FALSE(backward_started) << op.name << " after the backward pass started";
      n_forward += 1;
    } else {
      backward_started = true;
    }
    if (op.phase == Phase::backward && op.kind != OpKind::accumulate) {
      ASSERT_NE(op.forward_op, kNoOp) << op.name;
      forward_of_backward.push_back(op.forward_op);
    }
  }
  ASSERT_FALSE(forward_of_backward.empty());
  EXPECT_TRUE(std::is_sorted(forward_of_backward.rbegin(), forward_of_backward.rend()))
      << "backward ops are not in reverse forward order";
  EXPECT_EQ(std::set<OpId>(forward_of_backward.begin(), forward_of_backward.end()).size(),
            forward_of_backward.size())
      << "a forward op is differentiated twice";
  // Every forward op a gradient flows through has its backward op: all but
  // the input reorder (the image needs no gradient).
  EXPECT_EQ(forward_of_backward.size(), n_forward - 1);
  EXPECT_EQ(g.op(forward_of_backward.front()).kind, OpKind::loss);
}

TEST_P(Schedule, EveryWeightIsUpdatedOnceAfterItsLastUse) {
  const Graph g = build(GetParam());
  const auto weights = g.tensors_of(TensorKind::weight);
  ASSERT_FALSE(weights.empty());
  for (TensorId w : weights) {
    const TensorInfo& t = g.tensor(w);
    ASSERT_NE(t.grad, kNoTensor) << t.name << " gets no gradient";
    EXPECT_EQ(g.tensor(t.grad).kind, TensorKind::weight_gradient);
    std::vector<OpId> updates;
    for (OpId u : t.uses)
      if (g.op(u).phase == Phase::update) updates.push_back(u);
    ASSERT_EQ(updates.size(), 1u) << t.name;
    EXPECT_EQ(updates[0], t.uses.back()) << t.name << " is read after its update";
    // The update comes right after the gradient is complete: its gradient's last use.
    EXPECT_EQ(g.last_use(t.grad), updates[0]) << t.name;
    const std::size_t states = GetParam().optimizer == OptimizerKind::sgd ? 1 : 2;
    EXPECT_EQ(g.op(updates[0]).updates.size(), 1 + states);
    for (std::size_t i = 1; i < g.op(updates[0]).updates.size(); ++i)
      EXPECT_EQ(g.tensor(g.op(updates[0]).updates[i]).kind, TensorKind::optimizer_state);
  }
}

TEST_P(Schedule, SizesMatchShapes) {
  const Graph g = build(GetParam());
  for (const TensorInfo& t : g.tensors()) {
    EXPECT_EQ(t.bytes, plain_bytes(t.dims, t.type)) << t.name;
    if (t.grad_of != kNoTensor) {
      EXPECT_EQ(t.dims, g.tensor(t.grad_of).dims) << t.name;
    }
  }
  // Shapes through the network: logits at full resolution, the bottom at 32 / 2^(levels-1).
  model::UNet3dGraph net;
  const Graph g2 = build(GetParam(), &net);
  EXPECT_EQ(g2.tensor(net.logits).dims, (Dims{2, 4, 32, 32, 32}));
  const std::int64_t bottom = 32 >> (GetParam().levels - 1);
  const std::int64_t bottom_filters = std::int64_t{4} << (GetParam().levels - 1);
  const TensorId b = g2.find("bottom.block2.conv");
  ASSERT_NE(b, kNoTensor);
  EXPECT_EQ(g2.tensor(b).dims, (Dims{2, bottom_filters, bottom, bottom, bottom}));
}

TEST_P(Schedule, SavedActivationsAreMarked) {
  const Graph g = build(GetParam());
  for (const TensorInfo& t : g.tensors()) {
    bool read_backward = false;
    for (OpId u : t.uses) read_backward = read_backward || g.op(u).phase == Phase::backward;
    if (t.kind == TensorKind::activation) {
      EXPECT_EQ(t.saved_for_backward, read_backward) << t.name;
    }
    if (t.kind == TensorKind::saved) {
      // Kept by one forward op for exactly its backward op.
      ASSERT_EQ(t.uses.size(), 1u) << t.name;
      EXPECT_EQ(g.op(t.uses[0]).forward_op, t.producer) << t.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(UNets, Schedule, ::testing::ValuesIn(kVariants),
                         [](const auto& info) {
                           std::string n = info.param.name;
                           for (char& ch : n)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return n;
                         });

TEST(Schedule, FlopsOfAConvAreCounted) {
  Graph g;
  Builder b(g);
  const TensorId x = b.to_activation(b.input("x", {2, 4, 8, 8, 8}), "a");
  b.conv3d(x, 16, 3, false, "c");
  EXPECT_DOUBLE_EQ(g.total_flops(), 2.0 * 2 * 16 * 4 * 27 * 512);
}

TEST(Schedule, BadGraphsAreRejected) {
  Graph g;
  Builder b(g);
  EXPECT_THROW(b.conv3d(b.input("x", {1, 4, 8, 8, 8}), 4, 2, false, "even"), std::invalid_argument);
  EXPECT_THROW(b.max_pool3d(b.to_activation(b.input("y", {1, 4, 7, 8, 8}), "a"), "p"),
               std::invalid_argument);
  OpNode twice;
  twice.name = "twice";
  twice.outputs = {g.find("a")};
  EXPECT_THROW(g.add_op(twice), std::invalid_argument);
  UNet3dConfig c;
  c.levels = 4;
  EXPECT_FALSE(model::validate(c, {1, 4, 36, 36, 36}));  // 36 is not a multiple of 8
  EXPECT_TRUE(model::validate(c, {1, 4, 40, 40, 40}));
}

TEST(Schedule, JsonListsOpsAndTensors) {
  const Graph g = build(kVariants[1]);
  const std::string j = g.to_json();
  for (const char* key : {"\"ops\"", "\"tensors\"", "\"uses\"", "\"producer\"", "\"bytes\"",
                          "\"saved_for_backward\"", "\"peak_live_bytes\""})
    EXPECT_NE(j.find(key), std::string::npos) << key;
}

// A real step: after every op, the executor holds exactly the tensors the
// schedule says are live, the allocator holds exactly their bytes (nothing
// else), and the measured bytes of every tensor are the planned ones.
TEST(ScheduleExecution, ExecutorHoldsExactlyTheLiveTensors) {
  limit_threads();
  auto alloc = dram_allocator();
  for (const Variant& v : {kVariants[1], kVariants[2]}) {
    SCOPED_TRACE(v.name);
    TrainOptions o = small_options(v.levels, 4);
    o.model.activation = v.activation;
    o.model.batch_norm = v.batch_norm;
    o.optimizer = v.optimizer;
    o.batch = 2;
    Trainer trainer(*alloc, o);
    trainer.step();  // creates the primitives, the optimizer state, the scratchpad
    const Graph& g = trainer.graph();
    const MemoryProfile profile = g.memory_profile();
    // The schedule's sizes are the allocated sizes: as planned, except the
    // fused-ReLU masks, a bit or a byte per element depending on the kernel.
    for (const TensorInfo& t : g.tensors()) {
      if (!t.bytes_measured) continue;
      const std::uint64_t planned = plain_bytes(t.dims, t.type);
      if (t.name.ends_with(".relu_mask")) {
        EXPECT_TRUE(t.bytes == planned || t.bytes == (planned + 7) / 8) << t.name << " " << t.bytes;
      } else {
        EXPECT_EQ(t.bytes, planned) << t.name;
      }
    }

    // Second step, checked op by op.
    std::uint64_t baseline = 0;
    for (const auto& tier : alloc->stats().tiers) baseline += tier.current_bytes;
    std::size_t checked = 0;
    graph::Executor& exec = trainer.executor();
    exec.after_each_op([&](const OpNode& op) {
      std::set<const void*> storages;
      std::uint64_t held = 0, planned = 0, live_count = 0;
      for (const TensorInfo& t : g.tensors()) {
        if (is_persistent(t.kind)) continue;
        const bool fed = t.producer == kNoOp;
        const bool live = (fed || t.producer <= op.id) && g.last_use(t.id) > op.id;
        const Tensor& value = exec.value(t.id);
        EXPECT_EQ(value.defined(), live) << t.name << " after op " << op.id << " (" << op.name << ")";
        if (!live || fed) continue;
        planned += t.bytes;
        live_count += 1;
        if (value.defined() && storages.insert(value.data()).second)
          held += alloc->block_bytes(value.data());
      }
      std::uint64_t current = 0;
      for (const auto& tier : alloc->stats().tiers) current += tier.current_bytes;
      // The allocator holds the live tensors and nothing else ...
      EXPECT_EQ(current - baseline, held) << "after op " << op.id << " (" << op.name << ")";
      // ... which are the schedule's bytes, rounded up to pages.
      EXPECT_GE(held, planned) << "after op " << op.id;
      EXPECT_LE(held, planned + live_count * 4096) << "after op " << op.id;
      // The profile counts what is live during the op: at least what is left after it.
      EXPECT_LE(planned, profile.live_bytes[static_cast<std::size_t>(op.id)]);
      checked += 1;
    });
    trainer.step();
    exec.after_each_op(nullptr);
    EXPECT_EQ(checked, g.ops().size());
    std::uint64_t after = 0;
    for (const auto& tier : alloc->stats().tiers) after += tier.current_bytes;
    EXPECT_EQ(after, baseline) << "a step left memory behind";
  }
}

}  // namespace
}  // namespace tensortier::runtime::train::test
