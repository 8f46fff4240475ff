// `tensortier infer`: runs the 3D U-Net's inference pass on synthetic
// validation cases with the inference memory plan (src/runtime/plan/
// reuse_plan.hpp: every tensor at an offset of one arena) or, with
// --no-reuse, every tensor in its own buffer; prints one line on stderr and
// writes a JSON report: time, the footprints (naive, planned arena, lower
// bound, persistent), the measured peak bytes per tier and the Dice of the
// arg-max prediction against the case's labels.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>

#include "commands.hpp"
#include "runtime/graph/executor.hpp"
#include "runtime/model/checkpoint.hpp"
#include "runtime/plan/reuse_plan.hpp"
#include "runtime/train/metrics.hpp"
#include "runtime/train/threads.hpp"
#include "runtime/train/trainer.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::cli {
namespace {

namespace tt = tensortier::runtime::train;
namespace tg = tensortier::runtime::graph;
namespace tm = tensortier::runtime::model;
namespace tp = tensortier::runtime::plan;
using runtime::Context;
using runtime::DataType;
using runtime::Tensor;


// The model: the checkpoint's with --weights (model options given must
// agree), else the options'.
Result<tm::UNet3dConfig> model_config(const InferCommand& cmd, const tm::Checkpoint* ckpt) {
  const tm::UNet3dConfig asked = unet_config(cmd.model);
  if (ckpt == nullptr) return asked;
  const tm::UNet3dConfig& c = ckpt->config;
  auto given = [&](const char* name) {
    return std::find(cmd.model_options_given.begin(), cmd.model_options_given.end(), name) !=
           cmd.model_options_given.end();
  };
  auto differs = [&](const char* name, const std::string& want, const std::string& have) {
    return bad(std::string(name) + " " + want + " differs from the checkpoint '" +
               cmd.weights_path + "' (" + have + "); leave it out to use the checkpoint's");
  };
  if (given("--levels") && asked.levels != c.levels)
    return differs("--levels", std::to_string(asked.levels), std::to_string(c.levels));
  if (given("--base-filters") && asked.base_filters != c.base_filters)
    return differs("--base-filters", std::to_string(asked.base_filters),
                   std::to_string(c.base_filters));
  if (given("--classes") && asked.classes != c.classes)
    return differs("--classes", std::to_string(asked.classes), std::to_string(c.classes));
  if (given("--norm") && asked.batch_norm != c.batch_norm)
    return differs("--norm", cmd.model.norm, c.batch_norm ? "batch" : "none");
  if (given("--activation") && asked.activation != c.activation)
    return differs("--activation", cmd.model.activation,
                   c.activation == tm::Activation::relu ? "relu" : "leaky_relu");
  return c;
}

// Validation case `index` (as the trainer's evaluation generates it) into
// sample `n` of image (N, 4, D, H, W) and labels (N, D, H, W).
Status generate_case(Tensor& image, Tensor& labels, int n, const data::Dims3& dims, int classes,
                     std::uint64_t index) {
  data::SyntheticCaseSpec spec;
  spec.dims = dims;
  spec.seed = data::case_seed(data::Split::validation, index);
  const std::size_t voxels = dims.voxels();
  auto info = data::generate_into(
      image.f32() + voxels * data::kNumModalities * static_cast<std::size_t>(n),
      labels.data_as<std::uint8_t>() + voxels * static_cast<std::size_t>(n), spec);
  if (!info) return info.status().with_context("synthetic case " + std::to_string(index));
  tt::map_labels(labels.data_as<std::uint8_t>() + voxels * static_cast<std::size_t>(n), voxels,
                 classes);
  return Status::ok();
}

// Arg-max over the classes of plain logits (N, K, D, H, W) -> u8 (N, D, H, W).
std::vector<std::uint8_t> argmax_labels(Context& ctx, const Tensor& logits) {
  const std::vector<float> v = logits.to_vector(ctx);
  const auto n = static_cast<std::size_t>(logits.dim(0));
  const auto k = static_cast<std::size_t>(logits.dim(1));
  const std::size_t voxels = v.size() / n / k;
  std::vector<std::uint8_t> out(n * voxels);
  for (std::size_t s = 0; s < n; ++s)
    for (std::size_t i = 0; i < voxels; ++i) {
      std::size_t best = 0;
      for (std::size_t c = 1; c < k; ++c)
        if (v[(s * k + c) * voxels + i] > v[(s * k + best) * voxels + i]) best = c;
      out[s * voxels + i] = static_cast<std::uint8_t>(best);
    }
  return out;
}

Status write_labels(const std::string& path, const std::vector<std::uint8_t>& labels) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(labels.data()), static_cast<std::streamsize>(labels.size()));
  out.close();
  if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status(Errc::io_error, "--output '" + path + "': cannot write");
  }
  return Status::ok();
}

}  // namespace

CLI::App* add_infer_command(CLI::App& app, InferCommand& cmd) {
  auto* c = app.add_subcommand(
      "infer", "Segment synthetic brain-tumour volumes with the 3D U-Net (planned memory)");
  add_model_options(c, cmd.model);
  for (const char* name : {"--levels", "--base-filters", "--classes", "--activation", "--norm"})
    c->get_option(name)->each(
        [&cmd, name](const std::string&) { cmd.model_options_given.emplace_back(name); });
  c->add_option("--seed", cmd.seed,
                "Seed of the initial weights when there is no --weights (default 0, as `train`)");
  c->add_option("--weights", cmd.weights_path,
                "Checkpoint with the model and its parameters (default: untrained weights)");
  c->add_option("--case", cmd.case_index,
                "First validation case to segment; a batch takes the following ones (default 0)");
  c->add_flag("--no-reuse", cmd.no_reuse,
              "Every tensor in its own buffer (the naive footprint) instead of the memory plan");
  c->add_option("--threads", cmd.threads, "Compute threads (default: all CPUs)");
  c->add_option("--json", cmd.json_path, "Write a JSON report to FILE (- for stdout)");
  c->add_option("--output", cmd.output_path,
                "Write the predicted labels (u8, N x D x H x W, row-major) to FILE");
  c->add_option("--tile", cmd.tile,
                "Sliding-window inference with windows of N or DxHxW voxels (docs/tiled_inference.md)");
  c->add_option("--overlap", cmd.overlap, "With --tile: overlap of neighbouring windows, [0, 1) (default 0.5)");
  c->add_option("--volume-size", cmd.volume_size,
                "With --tile: the synthetic volume, N or DxHxW (default --size), generated into PMem");
  add_infer_nifti_options(c, cmd);  // --input, --probabilities (cmd_infer_nifti.cpp)
  return c;
}

int run_infer(const Config& config, const InferCommand& cmd) {
  auto dims = parse_dims(cmd.model.size);
  if (!dims) return fail(dims.status());
  data::SyntheticCaseSpec spec;
  spec.dims = *dims;
  if (Status s = data::validate(spec); !s) return fail(s.with_context("--size"));
  if (cmd.model.batch < 1 || cmd.model.batch > 1024)
    return fail(bad("--batch " + std::to_string(cmd.model.batch) + ": accepted: 1..1024"));
  if (cmd.case_index >= data::kCasesPerSplit - static_cast<std::uint64_t>(cmd.model.batch))
    return fail(bad("--case " + std::to_string(cmd.case_index) + ": accepted: < 2^40 - batch"));
  if (cmd.threads < 0) return fail(bad("--threads must be >= 0"));
  const int threads = tt::set_threads(cmd.threads);

  auto alloc_options = allocator_options_from_env(process_env());
  if (!alloc_options) return fail(alloc_options.status());
  alloc_options->config = config;
  if (!alloc_options->config.dram_limit_bytes) {  // as `train`: most of the machine
    const auto pages = static_cast<std::uint64_t>(sysconf(_SC_PHYS_PAGES));
    const auto page = static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
    alloc_options->config.dram_limit_bytes = pages * page / 4 * 3;
  }
  auto created = Allocator::create(*alloc_options);
  if (!created) return fail(created.status());
  Allocator& alloc = **created;

  std::optional<tm::Checkpoint> ckpt;
  if (!cmd.weights_path.empty()) {
    auto loaded = tm::load_parameters(cmd.weights_path, alloc);
    if (!loaded) {
      const Status& s = loaded.status();
      return fail(s.code() == Errc::not_found ? Status(Errc::invalid_argument, s.message()) : s);
    }
    ckpt = std::move(*loaded);
  }
  auto model = model_config(cmd, ckpt ? &*ckpt : nullptr);
  if (!model) return fail(model.status());
  const tm::UNet3dConfig mc = *model;
  if (mc.in_channels != data::kNumModalities || mc.classes < 2 || mc.classes > data::kNumClasses)
    return fail(bad("the model takes " + std::to_string(mc.in_channels) + " channels to " +
                    std::to_string(mc.classes) + " classes; the data has " +
                    std::to_string(data::kNumModalities) + " modalities and 2..4 classes"));
  if (!cmd.input_paths.empty())  // a NIfTI scan: its size comes from the file
    return run_infer_nifti(cmd, mc, ckpt ? &ckpt->parameters : nullptr, alloc, threads);
  if (!cmd.tile.empty())  // sliding windows over --volume-size (cmd_infer_tiled.cpp)
    return run_infer_tiled(cmd, mc, ckpt ? &ckpt->parameters : nullptr, alloc, threads);
  const runtime::Dims input{cmd.model.batch, data::kNumModalities, dims->depth, dims->height,
                            dims->width};
  if (Status s = tm::validate(mc, input); !s) return fail(s);

  const auto names = tt::class_names(mc.classes);
  const std::string activation = mc.activation == tm::Activation::relu ? "relu" : "leaky_relu";
  try {
    Context ctx(alloc);
    tg::Graph graph;
    const tm::UNet3dGraph net = tm::build_unet3d(graph, mc, input, {});
    tm::Parameters params;
    if (ckpt) {
      if (Status s = tm::check_parameters(graph, ckpt->parameters); !s)
        return fail(s.with_context("checkpoint '" + cmd.weights_path + "'"));
      params = std::move(ckpt->parameters);
    } else {
      params = tm::init_parameters(graph, alloc, cmd.seed);  // as the trainer's initialisation
    }
    tg::Executor exec(graph, ctx);
    for (const tg::TensorInfo& t : graph.tensors())
      if (t.kind == tg::TensorKind::weight || t.kind == tg::TensorKind::state)
        exec.bind(t.id, params.at(t.name));

    Tensor image = Tensor::empty(alloc, input);
    Tensor labels = Tensor::empty(alloc, graph.tensor(net.labels).dims, DataType::u8);
    for (int n = 0; n < cmd.model.batch; ++n)
      if (Status s = generate_case(image, labels, n, *dims, mc.classes,
                                   cmd.case_index + static_cast<std::uint64_t>(n));
          !s)
        return fail(s);

    const tp::Liveness live = tp::compute_liveness(graph, tp::Pass::inference, 64);
    const tp::ReusePlan plan = tp::plan_reuse(live, &graph);
    tg::InferOptions io;
    if (cmd.no_reuse) {
      io.release_at_last_use = false;
    } else {
      io.plan = &plan;
    }
    exec.bind(net.image, image);
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const Tensor logits = exec.infer(net.logits, io);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    const Stats stats = alloc.stats();  // peaks of the pass (before the Dice and --output)
    const TierBytes peak = tier_bytes(stats);
    const tt::ClassCounts counts = tt::count_predictions(ctx, logits, labels);
    const std::vector<double> dice = counts.dice();
    const double mean = tt::mean_dice(dice);
    if (!cmd.output_path.empty())
      if (Status s = write_labels(cmd.output_path, argmax_labels(ctx, logits.to_plain(ctx))); !s)
        return fail(s);

    const double voxels =
        static_cast<double>(dims->voxels()) * static_cast<double>(cmd.model.batch);
    const double ratio = plan.naive_bytes > 0
                             ? static_cast<double>(plan.arena_bytes) /
                                   static_cast<double>(plan.naive_bytes)
                             : 0.0;
    std::fprintf(stderr,
                 "infer: %s; %dx%dx%d, batch %d, %s, %s; %.3f s (%.2f Mvoxel/s); tensors %s "
                 "(naive %s, planned arena %s = %.2fx, lower bound %s) + weights %s; peak DRAM %s, "
                 "PMem %s; mean Dice %.3f\n",
                 model_text(mc, cmd.model).c_str(), dims->depth, dims->height, dims->width,
                 cmd.model.batch, ckpt ? ("weights " + cmd.weights_path).c_str() : "untrained",
                 cmd.no_reuse ? "no reuse" : "memory plan", seconds, voxels / seconds / 1e6,
                 cmd.no_reuse ? "in own buffers" : "in the arena", short_bytes(plan.naive_bytes).c_str(),
                 short_bytes(plan.arena_bytes).c_str(), ratio, short_bytes(plan.lower_bound_bytes).c_str(),
                 short_bytes(plan.persistent_bytes).c_str(), short_bytes(peak.dram_peak).c_str(),
                 short_bytes(peak.pmem_peak).c_str(), mean);

    if (!cmd.json_path.empty()) {
      nlohmann::json config = model_json(mc, names);
      config.update({{"size", {dims->depth, dims->height, dims->width}},
                     {"batch", cmd.model.batch},
                     {"seed", cmd.seed},
                     {"weights", ckpt ? nlohmann::json(cmd.weights_path) : nlohmann::json("untrained")},
                     {"case", cmd.case_index},
                     {"split", "validation"},
                     {"reuse", !cmd.no_reuse},
                     {"threads", threads}});
      nlohmann::json doc = {
          {"command", "infer"},
          {"data", "synthetic BraTS v" + std::to_string(data::kSyntheticBratsVersion)},
          {"config",
           config},
          {"model",
           {{"parameters", params.count()},
            {"parameter_bytes", params.bytes()},
            {"forward_ops", live.steps.size()},
            {"tensors", plan.placements.size()}}},
          {"seconds", seconds},
          {"voxels_per_second", voxels / seconds},
          {"memory",
           {{"naive_bytes", plan.naive_bytes},
            {"planned_arena_bytes", plan.arena_bytes},
            {"lower_bound_bytes", plan.lower_bound_bytes},
            {"persistent_bytes", plan.persistent_bytes},
            {"input_bytes", plan.input_bytes},
            {"planned_over_naive", ratio},
            {"buffers", plan.buffers},
            {"in_place", plan.in_place},
            {"alignment", plan.alignment},
            {"peak_dram_bytes", peak.dram_peak},
            {"peak_pmem_bytes", peak.pmem_peak},
            {"peak_live_dram_bytes", peak.dram_peak_live},
            {"tiers", tier_stats_json(stats)}}},
          {"dice", dice_json(dice, names)},
          {"mean_dice", mean}};
      if (!write_json(cmd.json_path, doc)) return 1;
    }
  } catch (const std::exception& e) {
    return fail(Status(Errc::internal, std::string("inference failed: ") + e.what()));
  }
  return 0;
}

}  // namespace tensortier::cli
