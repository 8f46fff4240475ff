// The training loop (src/runtime/train): the loss falls on a short 32^3 run,
// runs are bit-identical for the same seed (and differ for another), the
// evaluation scores held-out cases, and the metrics are right.
#include <cmath>
#include <cstring>

#include "train_test_support.hpp"

namespace tensortier::runtime::train::test {
namespace {

std::vector<double> losses(Allocator& alloc, const TrainOptions& o, int steps) {
  Trainer trainer(alloc, o);
  std::vector<double> out;
  for (int i = 0; i < steps; ++i) out.push_back(trainer.step().loss.loss);
  return out;
}

TEST(Training, LossDecreasesOnAShort32CubedRun) {
  limit_threads();
  auto alloc = dram_allocator();
  TrainOptions o = small_options(3, 8);
  o.train_cases = 2;  // two cases, cycled: the loss of each must fall
  const std::vector<double> l = losses(*alloc, o, 12);
  for (double v : l) ASSERT_TRUE(std::isfinite(v));
  const double first = (l[0] + l[1]) / 2, last = (l[10] + l[11]) / 2;
  std::printf("loss: steps 1-2 %.4f, steps 11-12 %.4f\n", first, last);
  EXPECT_LT(last, 0.8 * first) << "12 SGD steps on 2 cases should cut the loss by 20%";
}

TEST(Training, SameSeedGivesBitIdenticalLosses) {
  limit_threads();
  auto alloc = dram_allocator();
  TrainOptions o = small_options(3, 8);
  o.batch = 2;
  const std::vector<double> a = losses(*alloc, o, 4);
  const std::vector<double> b = losses(*alloc, o, 4);
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i)
    EXPECT_EQ(std::memcmp(&a[i], &b[i], sizeof(double)), 0)
        << "step " << i << ": " << a[i] << " vs " << b[i];
  o.seed = 1;  // other weights and other cases
  const std::vector<double> c = losses(*alloc, o, 2);
  EXPECT_NE(a[0], c[0]);
}

TEST(Training, AdamAndLeakyReluTrainToo) {
  limit_threads();
  auto alloc = dram_allocator();
  TrainOptions o = small_options(2, 8);
  o.optimizer = graph::OptimizerKind::adam;
  o.lr = 3e-3f;
  o.model.activation = model::Activation::leaky_relu;
  o.train_cases = 1;
  const std::vector<double> l = losses(*alloc, o, 6);
  EXPECT_LT(l.back(), l.front());
}

TEST(Training, EvaluationScoresHeldOutCasesPerClass) {
  limit_threads();
  auto alloc = dram_allocator();
  TrainOptions o = small_options(2, 4);
  o.model.classes = 3;
  Trainer trainer(*alloc, o);
  trainer.step();
  const EvalResult e = trainer.evaluate(2);
  EXPECT_EQ(e.cases, 2);
  ASSERT_EQ(e.dice.size(), 3u);
  ASSERT_EQ(e.dice_pooled.size(), 3u);
  for (double d : e.dice) {
    EXPECT_GE(d, 0.0);
    EXPECT_LE(d, 1.0);
  }
  EXPECT_DOUBLE_EQ(e.mean_dice, (e.dice[1] + e.dice[2]) / 2);
  // Evaluation does not disturb training: the same next loss as without it.
  const double with_eval = trainer.step().loss.loss;
  Trainer plain(*alloc, o);
  plain.step();
  EXPECT_EQ(plain.step().loss.loss, with_eval);
}

TEST(Training, BadOptionsAreRejectedWithTheirName) {
  TrainOptions o = small_options();
  o.model.levels = 7;  // 32 is not a multiple of 2^6
  Status s = validate(o);
  EXPECT_FALSE(s);
  EXPECT_NE(s.message().find("levels"), std::string::npos) << s.message();
  o = small_options();
  o.model.classes = 5;
  EXPECT_NE(validate(o).message().find("classes"), std::string::npos);
  o = small_options();
  o.dims.depth = 16;
  EXPECT_NE(validate(o).message().find("dims.depth"), std::string::npos);
  auto alloc = dram_allocator();
  o = small_options();
  o.batch = 0;
  EXPECT_THROW(Trainer(*alloc, o), std::invalid_argument);
}

TEST(Metrics, DiceFromArgMaxCounts) {
  auto alloc = dram_allocator();
  Context ctx(*alloc);
  // 1 sample, 3 classes, 1x1x4 voxels; predictions 0, 1, 2, 2; truth 0, 1, 1, 2.
  const float logits[] = {/*c0*/ 5, 0, 0, 0, /*c1*/ 0, 5, 0, 0, /*c2*/ 0, 0, 5, 5};
  Tensor z = Tensor::from_plain(*alloc, {1, 3, 1, 1, 4}, logits);
  Tensor y = Tensor::empty(*alloc, {1, 1, 1, 4}, DataType::u8);
  const std::uint8_t truth[] = {0, 1, 1, 2};
  std::memcpy(y.data(), truth, 4);
  const ClassCounts c = count_predictions(ctx, z, y);
  EXPECT_DOUBLE_EQ(c.dice(0), 1.0);
  EXPECT_DOUBLE_EQ(c.dice(1), 2.0 / 3.0);  // tp 1, fn 1
  EXPECT_DOUBLE_EQ(c.dice(2), 2.0 / 3.0);  // tp 1, fp 1
  ClassCounts empty(2);
  EXPECT_DOUBLE_EQ(empty.dice(1), 1.0);  // absent from both: perfect
  EXPECT_DOUBLE_EQ(mean_dice({1.0, 0.5, 0.7}), 0.6);
}

TEST(Labels, MappingToFewerClasses) {
  std::uint8_t l[] = {0, 1, 2, 3};
  map_labels(l, 4, 3);
  EXPECT_EQ(std::vector<int>(l, l + 4), (std::vector<int>{0, 1, 2, 1}));
  std::uint8_t m[] = {0, 1, 2, 3};
  map_labels(m, 4, 2);
  EXPECT_EQ(std::vector<int>(m, m + 4), (std::vector<int>{0, 1, 1, 1}));
  EXPECT_EQ(class_names(3)[1], "tumour_core");
}

}  // namespace
}  // namespace tensortier::runtime::train::test
