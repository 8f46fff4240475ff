// The training loop: data, step, evaluation.
#include "runtime/train/trainer.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "runtime/plan/footprint.hpp"

namespace tensortier::runtime::train {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Dims input_dims(const TrainOptions& o, int batch) {
  return {batch, data::kNumModalities, o.dims.depth, o.dims.height, o.dims.width};
}

data::SyntheticCaseSpec case_spec(const TrainOptions& o) {
  data::SyntheticCaseSpec spec;
  spec.dims = o.dims;
  return spec;
}

// Writes case `index` of `split` into image (C, D, H, W) and labels (D, H, W).
void generate(float* image, std::uint8_t* labels, const TrainOptions& o, data::Split split,
              std::uint64_t index) {
  data::SyntheticCaseSpec spec = case_spec(o);
  spec.seed = data::case_seed(split, index);
  auto info = data::generate_into(image, labels, spec);
  if (!info) throw std::runtime_error("synthetic data: " + info.status().message());
  map_labels(labels, o.dims.voxels(), o.model.classes);
}

// Case `index` of the NIfTI cases into image (C, D, H, W) and labels (D, H, W).
void load_nifti(const data::NiftiDataset& cases, std::size_t index, float* image,
                std::uint8_t* labels, const TrainOptions& o) {
  if (Status s = cases.load(index, image, labels); !s) throw std::runtime_error(s.message());
  map_labels(labels, o.dims.voxels(), o.model.classes);
}

}  // namespace

Status validate(const TrainOptions& o) {
  auto bad = [](const std::string& what) { return Status(Errc::invalid_argument, what); };
  data::SyntheticCaseSpec spec = case_spec(o);
  if (Status s = data::validate(spec); !s) return s;
  if (o.batch < 1 || o.batch > 1024) return bad("batch = " + std::to_string(o.batch) + "; accepted: 1..1024");
  if (o.steps < 0) return bad("steps = " + std::to_string(o.steps) + "; accepted: >= 0");
  if (o.model.in_channels != data::kNumModalities)
    return bad("in channels = " + std::to_string(o.model.in_channels) + "; the data has " +
               std::to_string(data::kNumModalities) + " modalities");
  if (o.model.classes < 2 || o.model.classes > data::kNumClasses)
    return bad("classes = " + std::to_string(o.model.classes) + "; accepted: 2, 3 or 4");
  if (!(o.lr > 0.f) || !std::isfinite(o.lr)) return bad("learning rate must be > 0");
  if (o.momentum < 0.f || o.momentum >= 1.f) return bad("momentum must be in [0, 1)");
  if (o.weight_decay < 0.f) return bad("weight decay must be >= 0");
  if (!(o.loss.ce_weight >= 0) || !(o.loss.dice_weight >= 0) ||
      o.loss.ce_weight + o.loss.dice_weight <= 0)
    return bad("loss weights must be >= 0 and not both 0");
  if (o.train_cases >= data::kCasesPerSplit) return bad("train cases must be < 2^40");
  return model::validate(o.model, input_dims(o, o.batch));
}

std::vector<std::string> class_names(int classes) {
  switch (classes) {
    case 2: return {"background", "whole_tumour"};
    case 3: return {"background", "tumour_core", "edema"};
    default: return {"background", "necrotic", "edema", "enhancing"};
  }
}

void map_labels(std::uint8_t* labels, std::size_t count, int classes) {
  if (classes >= data::kNumClasses) return;
  // generator: 0 background, 1 necrotic, 2 edema, 3 enhancing
  static constexpr std::uint8_t three[4] = {0, 1, 2, 1};  // bg, tumour core, edema
  static constexpr std::uint8_t two[4] = {0, 1, 1, 1};    // bg, whole tumour
  const std::uint8_t* map = classes == 3 ? three : two;
  for (std::size_t i = 0; i < count; ++i) labels[i] = map[labels[i] & 3];
}

Trainer::Trainer(Allocator& allocator, const TrainOptions& options)
    : allocator_(allocator), options_(options), batch_counts_(options.model.classes) {
  if (Status s = validate(options_); !s) throw std::invalid_argument(s.message());
  if (!options_.data_dir.empty()) {
    auto cases = data::NiftiDataset::open(options_.data_dir, options_.dims);
    if (!cases) throw std::invalid_argument(cases.status().message());
    if (cases->training_cases() == 0)
      throw std::invalid_argument("--data '" + options_.data_dir + "': no training cases");
    dataset_ = std::make_unique<data::NiftiDataset>(std::move(*cases));
  }
  ctx_ = std::make_unique<Context>(allocator_, ContextOptions{.hint = options_.tensor_hint});
  net_ = model::build_unet3d(graph_, options_.model, input_dims(options_, options_.batch),
                             options_.loss);
  graph::derive_backward(graph_, net_.loss, options_.optimizer);
  params_ = model::init_parameters(graph_, allocator_, options_.seed);
  graph::ExecutorOptions eo;
  eo.sgd.lr = options_.lr;
  eo.sgd.momentum = options_.momentum;
  eo.sgd.weight_decay = options_.weight_decay;
  eo.adam.lr = options_.lr;
  eo.adam.weight_decay = options_.weight_decay;
  exec_ = std::make_unique<graph::Executor>(graph_, *ctx_, eo);
  for (std::size_t i = 0; i < params_.names.size(); ++i)
    exec_->bind(graph_.find(params_.names[i]), params_.tensors[i]);
  image_ = Tensor::empty(allocator_, input_dims(options_, options_.batch));
  labels_ = Tensor::empty(allocator_, graph_.tensor(net_.labels).dims, DataType::u8);
  exec_->observe(net_.logits, [this](const Tensor& logits) {
    batch_counts_ = count_predictions(*ctx_, logits, labels_);
  });
  if (options_.tiering.dram_budget > 0) {
    // The real sizes and the scratchpad the primitives will want, from their
    // descriptors (no tensor allocated): an infeasible budget is refused now,
    // not after the first step.
    const plan::Footprint modeled = plan::model_footprint(graph_, plan::Pass::training, *ctx_);
    modeled_scratchpad_ = modeled.scratchpad_bytes;
    modeled_temporaries_ = modeled.peak_temporaries_bytes;
    plan_tiers();
  }
}

void Trainer::plan_tiers() {
  const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  plan::Liveness l = plan::compute_liveness(graph_, plan::Pass::training, page);
  std::uint64_t reserve = options_.tiering.reserve_bytes;
  if (reserve == 0)
    reserve = plan::automatic_reserve(
        graph_, std::max<std::uint64_t>(ctx_->scratchpad_bytes(), modeled_scratchpad_),
        modeled_temporaries_, page);
  auto p = plan::plan_tiers(graph_, l,
                            {options_.tiering.dram_budget, reserve, options_.tiering.in_place,
                             options_.tiering.read_in_place_flops_per_byte,
                             options_.tiering.pmem_dimms, options_.tiering.migration_cost});
  if (!p) throw std::invalid_argument(p.status().message());
  if (tiering_) {
    tiering_->replan(std::move(l), std::move(*p));
  } else {
    tiering_ = std::make_unique<plan::TierScheduler>(allocator_, *exec_, std::move(l),
                                                     std::move(*p));
  }
}

Trainer::~Trainer() = default;

float Trainer::learning_rate() const {
  if (options_.lr_schedule == LrSchedule::constant || options_.steps <= 0) return options_.lr;
  const double progress = std::min(1.0, static_cast<double>(step_) / options_.steps);
  return static_cast<float>(options_.lr * std::pow(1.0 - progress, 0.9));
}

void Trainer::fill_batch(int first_case) {
  const std::size_t voxels = options_.dims.voxels();
  const std::size_t image_elems = voxels * data::kNumModalities;
  const std::uint64_t base = (options_.seed % 4096) << 28;  // disjoint case ranges per seed
  for (int b = 0; b < options_.batch; ++b) {
    std::uint64_t index = static_cast<std::uint64_t>(first_case) + static_cast<std::uint64_t>(b);
    if (options_.train_cases > 0) index %= options_.train_cases;
    if (dataset_) {
      load_nifti(*dataset_, index % dataset_->training_cases(),
                 image_.f32() + image_elems * static_cast<std::size_t>(b),
                 labels_.data_as<std::uint8_t>() + voxels * static_cast<std::size_t>(b), options_);
      continue;
    }
    generate(image_.f32() + image_elems * static_cast<std::size_t>(b),
             labels_.data_as<std::uint8_t>() + voxels * static_cast<std::size_t>(b), options_,
             data::Split::train, (base + index) % data::kCasesPerSplit);
  }
}

StepResult Trainer::step() {
  StepResult r;
  r.step = step_;
  auto t0 = Clock::now();
  fill_batch(step_ * options_.batch);
  r.data_seconds = since(t0);
  r.lr = learning_rate();
  exec_->set_learning_rate(r.lr);
  exec_->bind(net_.image, image_);
  exec_->bind(net_.labels, labels_);
  t0 = Clock::now();
  const double cpu0 = process_cpu_seconds();
  if (tiering_) tiering_->begin_pass();
  r.loss = exec_->train_step();
  r.seconds = since(t0);
  // The first step measured every tensor's real size: plan with those.
  if (tiering_ && step_ == 0) plan_tiers();
  r.cpu_seconds = process_cpu_seconds() - cpu0;
  r.dice = batch_counts_.dice();
  step_ += 1;
  return r;
}

EvalResult Trainer::evaluate(int cases) {
  EvalResult r;
  if (dataset_) cases = std::min(cases, static_cast<int>(dataset_->held_out()));
  r.cases = cases;
  const int classes = options_.model.classes;
  r.dice.assign(static_cast<std::size_t>(classes), 0.0);
  if (cases <= 0) return r;
  const auto t0 = Clock::now();
  if (!eval_exec_) {
    eval_net_ = model::build_unet3d(eval_graph_, options_.model, input_dims(options_, 1),
                                    options_.loss);
    eval_exec_ = std::make_unique<graph::Executor>(eval_graph_, *ctx_);
    for (std::size_t i = 0; i < params_.names.size(); ++i)
      eval_exec_->bind(eval_graph_.find(params_.names[i]), params_.tensors[i]);
    eval_image_ = Tensor::empty(allocator_, input_dims(options_, 1));
    eval_labels_ = Tensor::empty(allocator_, eval_graph_.tensor(eval_net_.labels).dims, DataType::u8);
  }
  ClassCounts pooled(classes);
  for (int i = 0; i < cases; ++i) {
    if (dataset_)  // the held-out cases: the last of the directory
      load_nifti(*dataset_, dataset_->training_cases() + static_cast<std::size_t>(i),
                 eval_image_.f32(), eval_labels_.data_as<std::uint8_t>(), options_);
    else
      generate(eval_image_.f32(), eval_labels_.data_as<std::uint8_t>(), options_,
               data::Split::validation, static_cast<std::uint64_t>(i));
    eval_exec_->bind(eval_net_.image, eval_image_);
    const Tensor logits = eval_exec_->infer(eval_net_.logits);
    const ClassCounts c = count_predictions(*ctx_, logits, eval_labels_);
    pooled.add(c);
    for (int k = 0; k < classes; ++k) r.dice[static_cast<std::size_t>(k)] += c.dice(k) / cases;
  }
  r.mean_dice = mean_dice(r.dice);
  r.dice_pooled = pooled.dice();
  r.seconds = since(t0);
  return r;
}

}  // namespace tensortier::runtime::train
