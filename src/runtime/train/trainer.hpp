// Training of the 3D U-Net on synthetic BraTS cases (src/runtime/data): one
// step = generate the next batch, forward, backward and optimizer updates in
// the order of the graph's schedule; evaluation = arg-max Dice per class on
// held-out validation cases (batch-norm running statistics). Deterministic:
// the same options give bit-identical losses (with at most 2 threads, see
// docs/training.md).
//
//   auto alloc = tensortier::Allocator::create(options);
//   Trainer trainer(**alloc, {.dims = {64, 64, 64}, .steps = 100});
//   for (int i = 0; i < 100; ++i) StepResult r = trainer.step();
//   EvalResult e = trainer.evaluate(8);
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/data/nifti_dataset.hpp"
#include "runtime/data/synthetic_brats.hpp"
#include "runtime/graph/autograd.hpp"
#include "runtime/graph/executor.hpp"
#include "runtime/model/unet3d.hpp"
#include "runtime/plan/tier_scheduler.hpp"
#include "runtime/train/metrics.hpp"

namespace tensortier::runtime::train {

enum class LrSchedule : std::uint8_t {
  constant,
  poly,  // lr * (1 - step / steps)^0.9 (nnU-Net)
};

// Schedule-aware tiering (runtime/plan): with a DRAM budget, the trainer
// plans which tensors are in DRAM at each op of the step and migrates the
// rest to PMem and back ahead of use (the allocator should use
// Policy::next_use and a DRAM limit of the same budget).
struct TieringOptions {
  std::uint64_t dram_budget = 0;    // 0: no plan, the allocator alone decides
  std::uint64_t reserve_bytes = 0;  // DRAM kept for op internals; 0 = automatic
  bool in_place = true;             // ops may use PMem in place when their working set
                                    // does not fit (else such a budget is refused)
  // plan::TierPlanOptions::read_in_place_flops_per_byte; 0 = off
  double read_in_place_flops_per_byte = plan::kDefaultReadInPlaceFlopsPerByte;
  double pmem_dimms = 1;      // plan::TierPlanOptions::pmem_dimms
  double migration_cost = 0;  // plan::TierPlanOptions::migration_cost
};

struct TrainOptions {
  data::Dims3 dims{32, 32, 32};  // D, H, W of each case
  int batch = 1;
  model::UNet3dConfig model;     // in_channels must be 4 (modalities); classes 2, 3 or 4
  int steps = 10;                // planned steps (for the schedule of the learning rate)
  graph::OptimizerKind optimizer = graph::OptimizerKind::sgd;
  float lr = 0.01f;
  float momentum = 0.9f;         // SGD
  float weight_decay = 0.f;
  LrSchedule lr_schedule = LrSchedule::constant;
  graph::LossSpec loss;          // CE + soft Dice by default
  std::uint64_t seed = 0;        // weights and the order of training cases
  std::uint64_t train_cases = 0;  // distinct training cases, cycled; 0 = a new case every time
  TieringOptions tiering;
  // Where the tensors of the step go: automatic (DRAM while it has room), or
  // cold = all in PMem (the naive file-mapping baseline of the benchmarks).
  Hint tensor_hint = Hint::automatic;
  // NIfTI cases (docs/nifti.md) instead of synthetic ones: training reads case
  // (index % training cases); the last min(4, n/5) cases of the directory are
  // held out and evaluate() scores them. Only these inputs are z-scored here
  // (synthetic cases come normalised from the generator).
  std::string data_dir;
};

// Checks every field; the message names the option and what is accepted.
Status validate(const TrainOptions& options);

// The names of the classes the model predicts: 4 = the generator's
// (background, necrotic, edema, enhancing); 3 = background, tumour_core
// (necrotic + enhancing), edema; 2 = background, whole_tumour.
std::vector<std::string> class_names(int classes);
// Generator class ids -> the model's classes, in place.
void map_labels(std::uint8_t* labels, std::size_t count, int classes);

struct StepResult {
  int step = 0;                // 0-based
  graph::StepLoss loss;
  std::vector<double> dice;    // arg-max Dice per class on this training batch
  double seconds = 0;          // forward + backward + updates (wall time)
  double cpu_seconds = 0;      // CPU time of the process meanwhile (all threads)
  double data_seconds = 0;     // generating the batch
  float lr = 0;
};

struct EvalResult {
  int cases = 0;
  std::vector<double> dice;       // per class, mean over cases
  double mean_dice = 0;           // over the tumour classes (1..)
  std::vector<double> dice_pooled;  // per class over all voxels of all cases
  double seconds = 0;
};

class Trainer {
 public:
  // Builds the model graph and its backward schedule, initialises the
  // weights. Throws std::invalid_argument when validate() fails.
  Trainer(Allocator& allocator, const TrainOptions& options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  StepResult step();
  // Validation cases 0..cases-1 (the same for every run), batch 1.
  EvalResult evaluate(int cases);

  const TrainOptions& options() const noexcept { return options_; }
  // The training step's schedule (bytes measured after the first step).
  const graph::Graph& graph() const noexcept { return graph_; }
  const model::UNet3dGraph& net() const noexcept { return net_; }
  const model::Parameters& parameters() const noexcept { return params_; }
  Context& context() noexcept { return *ctx_; }
  // The training step's executor (hooks for tests and tools).
  graph::Executor& executor() noexcept { return *exec_; }
  // Wall time of each op in the last step (by OpId).
  const std::vector<double>& op_seconds() const { return exec_->op_seconds(); }
  int steps_done() const noexcept { return step_; }
  // The tier plan's scheduler; nullptr without a DRAM budget.
  const plan::TierScheduler* tiering() const noexcept { return tiering_.get(); }
  // The NIfTI cases of options().data_dir; nullptr for synthetic data.
  const data::NiftiDataset* dataset() const noexcept { return dataset_.get(); }

 private:
  void fill_batch(int first_case);
  // (Re)computes the tier plan from the graph's current sizes; throws
  // std::invalid_argument when the budget is infeasible.
  void plan_tiers();
  float learning_rate() const;

  Allocator& allocator_;
  TrainOptions options_;
  std::unique_ptr<Context> ctx_;
  graph::Graph graph_;
  model::UNet3dGraph net_;
  model::Parameters params_;
  std::unique_ptr<graph::Executor> exec_;
  std::unique_ptr<plan::TierScheduler> tiering_;
  std::uint64_t modeled_scratchpad_ = 0;   // the planner's, before the first step
  std::uint64_t modeled_temporaries_ = 0;  // the most op temporaries live at once (planner's)
  std::unique_ptr<data::NiftiDataset> dataset_;
  Tensor image_, labels_;
  ClassCounts batch_counts_;
  // Inference: a batch-1 graph sharing the parameters.
  graph::Graph eval_graph_;
  model::UNet3dGraph eval_net_;
  std::unique_ptr<graph::Executor> eval_exec_;
  Tensor eval_image_, eval_labels_;
  int step_ = 0;
};

}  // namespace tensortier::runtime::train
