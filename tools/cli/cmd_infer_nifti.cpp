// `tensortier infer --input`: segments a NIfTI scan (4 modality files or one
// 4D file) with a trained checkpoint and writes the arg-max labels (and, with
// --probabilities, the softmax per class) as NIfTI with the input's geometry,
// so the output overlays the scan in a viewer (docs/nifti.md). The scan is
// z-scored per modality over its non-zero voxels, as `train --data` does.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "commands.hpp"
#include "runtime/data/nifti.hpp"
#include "runtime/data/nifti_dataset.hpp"
#include "runtime/graph/executor.hpp"
#include "runtime/model/checkpoint.hpp"
#include "runtime/plan/reuse_plan.hpp"
#include "runtime/train/trainer.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::cli {
namespace {

namespace tg = tensortier::runtime::graph;
namespace tm = tensortier::runtime::model;
namespace tp = tensortier::runtime::plan;
namespace tt = tensortier::runtime::train;
using runtime::Context;
using runtime::Tensor;


// Arg-max and softmax over the classes of plain logits (K, D, H, W).
void classify(const std::vector<float>& logits, int classes, std::size_t voxels,
              std::vector<std::uint8_t>& labels, std::vector<float>* probabilities) {
  const auto k = static_cast<std::size_t>(classes);
  labels.assign(voxels, 0);
  if (probabilities != nullptr) probabilities->assign(k * voxels, 0.f);
  for (std::size_t i = 0; i < voxels; ++i) {
    std::size_t best = 0;
    for (std::size_t c = 1; c < k; ++c)
      if (logits[c * voxels + i] > logits[best * voxels + i]) best = c;
    labels[i] = static_cast<std::uint8_t>(best);
    if (probabilities == nullptr) continue;
    const float top = logits[best * voxels + i];
    double sum = 0;
    for (std::size_t c = 0; c < k; ++c) sum += std::exp(static_cast<double>(logits[c * voxels + i] - top));
    for (std::size_t c = 0; c < k; ++c)
      (*probabilities)[c * voxels + i] =
          static_cast<float>(std::exp(static_cast<double>(logits[c * voxels + i] - top)) / sum);
  }
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

void add_infer_nifti_options(CLI::App* c, InferCommand& cmd) {
  auto* input = c->add_option("--input", cmd.input_paths,
                              "Segment a NIfTI scan: T1 T1GD T2 FLAIR (3D files) or one 4D file "
                              "(needs --weights; --output is then NIfTI, .nii or .nii.gz)")
                    ->expected(1, 4);
  c->add_option("--probabilities", cmd.probabilities_path,
                "With --input: also write the softmax per class as a 4D float NIfTI to FILE")
      ->needs(input);
  // Tiled inference (--tile) generates its own synthetic volume.
  if (auto* tile = c->get_option_no_throw("--tile"); tile != nullptr) input->excludes(tile);
}

int run_infer_nifti(const InferCommand& cmd, const tm::UNet3dConfig& mc,
                    const tm::Parameters* weights, Allocator& alloc, int threads) {
  const auto& paths = cmd.input_paths;
  if (paths.size() != 1 && paths.size() != static_cast<std::size_t>(data::kNumModalities))
    return fail(bad("--input takes 4 files (T1 T1GD T2 FLAIR) or one 4D file; got " +
                    std::to_string(paths.size())));
  if (weights == nullptr)
    return fail(bad("--input needs --weights (a checkpoint from `tensortier train --save`)"));
  if (cmd.output_path.empty() || !data::is_nifti_path(cmd.output_path))
    return fail(bad("--input needs --output FILE.nii.gz (or .nii) for the labels" +
                    (cmd.output_path.empty() ? std::string() : "; got '" + cmd.output_path + "'")));
  if (!cmd.probabilities_path.empty() && !data::is_nifti_path(cmd.probabilities_path))
    return fail(bad("--probabilities '" + cmd.probabilities_path +
                    "': accepted: a name ending in .nii or .nii.gz"));
  if (cmd.model.batch != 1)
    return fail(bad("--batch " + std::to_string(cmd.model.batch) + " with --input: one scan"));

  using Clock = std::chrono::steady_clock;
  const auto t_read = Clock::now();
  auto scan = data::read_nifti_scan(paths);
  if (!scan) {  // a missing file is bad input too (exit code 2)
    const Status s = scan.status().with_context("--input");
    return fail(s.code() == Errc::not_found ? Status(Errc::invalid_argument, s.message()) : s);
  }
  const data::Dims3 dims = scan->image.dims;
  const int multiple = 1 << (mc.levels - 1);
  if (dims.depth % multiple != 0 || dims.height % multiple != 0 || dims.width % multiple != 0)
    return fail(bad("--input '" + paths.front() + "': " + std::to_string(dims.width) + "x" +
                    std::to_string(dims.height) + "x" + std::to_string(dims.depth) +
                    " (x, y, z) is not divisible by " + std::to_string(multiple) + " (2^(levels-1) of a " +
                    std::to_string(mc.levels) +
                    "-level U-Net) along every axis: crop or pad the scan to a multiple of " +
                    std::to_string(multiple) +
                    " (tiled inference, --tile, runs on synthetic volumes only so far)"));
  const runtime::Dims input{1, data::kNumModalities, dims.depth, dims.height, dims.width};
  if (Status s = tm::validate(mc, input); !s) return fail(s.with_context("--input"));
  data::zscore_nonzero(scan->image.data.data(), data::kNumModalities, dims.voxels());
  const double read_seconds = std::chrono::duration<double>(Clock::now() - t_read).count();

  std::vector<std::uint8_t> labels;
  std::vector<float> probabilities;
  double seconds = 0;
  tp::ReusePlan plan;
  try {
    Context ctx(alloc);
    tg::Graph graph;
    const tm::UNet3dGraph net = tm::build_unet3d(graph, mc, input, {});
    if (Status s = tm::check_parameters(graph, *weights); !s)
      return fail(s.with_context("checkpoint '" + cmd.weights_path + "'"));
    tg::Executor exec(graph, ctx);
    for (const tg::TensorInfo& t : graph.tensors())
      if (t.kind == tg::TensorKind::weight || t.kind == tg::TensorKind::state)
        exec.bind(t.id, weights->at(t.name));
    Tensor image = Tensor::empty(alloc, input);
    std::memcpy(image.f32(), scan->image.data.data(), scan->image.data.size() * sizeof(float));
    scan->image.data = {};  // the tensor holds it now
    const tp::Liveness live = tp::compute_liveness(graph, tp::Pass::inference, 64);
    plan = tp::plan_reuse(live, &graph);
    tg::InferOptions io;
    if (cmd.no_reuse) io.release_at_last_use = false;
    else io.plan = &plan;
    exec.bind(net.image, image);
    const auto t0 = Clock::now();
    const Tensor logits = exec.infer(net.logits, io);
    seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    classify(logits.to_plain(ctx).to_vector(ctx), mc.classes, dims.voxels(), labels,
             cmd.probabilities_path.empty() ? nullptr : &probabilities);
  } catch (const std::exception& e) {
    return fail(Status(Errc::internal, std::string("inference failed: ") + e.what()));
  }
  if (Status s = data::write_nifti_labels(cmd.output_path, labels.data(), scan->geometry); !s)
    return fail(s.with_context("--output"));
  if (!cmd.probabilities_path.empty())
    if (Status s = data::write_nifti_volumes(cmd.probabilities_path, probabilities.data(),
                                             mc.classes, scan->geometry,
                                             "tensortier softmax per class");
        !s)
      return fail(s.with_context("--probabilities"));

  const auto names = tt::class_names(mc.classes);
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(mc.classes), 0);
  for (std::uint8_t l : labels) ++counts[l];
  std::string per_class;
  for (std::size_t c = 0; c < counts.size(); ++c)
    per_class += (c > 0 ? ", " : "") + names[c] + " " + std::to_string(counts[c]);
  const data::NiftiGeometry& g = scan->geometry;
  const double voxels = static_cast<double>(dims.voxels());
  std::fprintf(stderr,
               "infer: %s; NIfTI %s: %dx%dx%d (x, y, z), %s, %.3gx%.3gx%.3g mm; weights %s; %d "
               "threads; read %.2f s, inference %.3f s (%.2f Mvoxel/s); labels -> %s%s%s; voxels "
               "per class: %s\n",
               model_text(mc, cmd.model).c_str(), joined(paths).c_str(), dims.width, dims.height,
               dims.depth, data::orientation_text(g).c_str(), g.pixdim[0], g.pixdim[1],
               g.pixdim[2], cmd.weights_path.c_str(), threads, read_seconds, seconds,
               voxels / seconds / 1e6, cmd.output_path.c_str(),
               cmd.probabilities_path.empty() ? "" : ", probabilities -> ",
               cmd.probabilities_path.c_str(), per_class.c_str());

  if (!cmd.json_path.empty()) {
    nlohmann::json class_voxels = nlohmann::json::object();
    for (std::size_t c = 0; c < counts.size(); ++c) class_voxels[names[c]] = counts[c];
    nlohmann::json doc = {
        {"command", "infer"},
        {"data", "NIfTI"},
        {"input", paths},
        {"output", cmd.output_path},
        {"probabilities", cmd.probabilities_path.empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(cmd.probabilities_path)},
        {"config",
         {{"size", {dims.depth, dims.height, dims.width}},
          {"levels", mc.levels},
          {"base_filters", mc.base_filters},
          {"classes", mc.classes},
          {"class_names", names},
          {"weights", cmd.weights_path},
          {"reuse", !cmd.no_reuse},
          {"threads", threads}}},
        {"geometry",
         {{"orientation", data::orientation_text(g)},
          {"pixdim", g.pixdim},
          {"qform_code", g.qform_code},
          {"sform_code", g.sform_code},
          {"affine", g.affine()}}},
        {"read_seconds", read_seconds},
        {"seconds", seconds},
        {"voxels_per_second", voxels / seconds},
        {"memory",
         {{"naive_bytes", plan.naive_bytes},
          {"planned_arena_bytes", plan.arena_bytes},
          {"persistent_bytes", plan.persistent_bytes}}},
        {"class_voxels", class_voxels}};
    if (!write_json(cmd.json_path, doc)) return 1;
  }
  return 0;
}

}  // namespace tensortier::cli
