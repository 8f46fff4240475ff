// `tensortier infer --tile`: sliding-window inference of a synthetic volume
// generated straight into PMem (src/runtime/infer/): a progress bar on
// stderr (windows, voxels/s, ETA, DRAM and PMem bytes), one summary line and
// a JSON report with the whole-volume footprint the tiling avoids.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "commands.hpp"
#include "runtime/infer/synthetic_volume.hpp"
#include "runtime/infer/tiled.hpp"
#include "runtime/train/metrics.hpp"
#include "runtime/train/trainer.hpp"
#include "tensortier/allocator.hpp"

namespace tensortier::cli {
namespace {

namespace ti = tensortier::runtime::infer;
namespace tm = tensortier::runtime::model;
namespace tt = tensortier::runtime::train;



std::string duration_text(double s) {
  char buf[32];
  const auto t = static_cast<long>(std::lround(s));
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}


const char* tier_name(const Allocator& alloc, const void* p) {
  const int i = alloc.tier_of(p);
  return i < 0 ? "none" : alloc.tiers()[static_cast<std::size_t>(i)].name.c_str();
}

// The progress line: rewritten in place on a terminal, else one line every 10 s.
class ProgressBar {
 public:
  explicit ProgressBar(Allocator& alloc) : alloc_(alloc), tty_(isatty(2) != 0) {}
  void update(const ti::TiledProgress& p) {
    const bool last = p.windows_done == p.windows;
    const double now = p.seconds;
    if (!last && now - shown_ < (tty_ ? 0.2 : 10.0)) return;
    shown_ = now;
    const TierBytes b = tier_bytes(alloc_.stats());
    std::fprintf(stderr, "%stiled: windows %llu/%llu (%.1f%%), %.2f Mvoxel/s, %s, ETA %s; DRAM %s, PMem %s%s",
                 tty_ ? "\r" : "", static_cast<unsigned long long>(p.windows_done),
                 static_cast<unsigned long long>(p.windows),
                 100.0 * static_cast<double>(p.windows_done) / static_cast<double>(p.windows),
                 p.voxels_per_second / 1e6, duration_text(p.seconds).c_str(),
                 duration_text(p.eta_seconds).c_str(), short_bytes(b.dram + b.dram_cached).c_str(),
                 short_bytes(b.pmem).c_str(), tty_ ? (last ? "\n" : "   ") : "\n");
    std::fflush(stderr);
  }

 private:
  Allocator& alloc_;
  bool tty_;
  double shown_ = -1e9;
};

Status write_labels(const std::string& path, const std::uint8_t* labels, std::size_t bytes) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  constexpr std::size_t kChunk = std::size_t{64} << 20;
  for (std::size_t off = 0; off < bytes && out; off += kChunk)
    out.write(reinterpret_cast<const char*>(labels + off),
              static_cast<std::streamsize>(std::min(kChunk, bytes - off)));
  out.close();
  if (!out || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status(Errc::io_error, "--output '" + path + "': cannot write");
  }
  return Status::ok();
}

nlohmann::json dims_json(const data::Dims3& d) { return {d.depth, d.height, d.width}; }

}  // namespace

int run_infer_tiled(const InferCommand& cmd, const tm::UNet3dConfig& mc,
                    const tm::Parameters* weights, Allocator& alloc, int threads) {
  auto tile = parse_dims(cmd.tile);
  if (!tile) return fail(bad("--tile '" + cmd.tile + "': accepted: N (a cube) or DxHxW"));
  const std::string& volume_text = cmd.volume_size.empty() ? cmd.model.size : cmd.volume_size;
  auto volume = parse_dims(volume_text);
  if (!volume)
    return fail(bad("--volume-size '" + volume_text + "': accepted: N (a cube) or DxHxW"));
  ti::TiledOptions options;
  options.tile = *tile;
  options.overlap = cmd.overlap;
  options.batch = cmd.model.batch;
  options.probabilities = false;  // the CLI keeps the labels only
  options.labels = true;
  if (Status s = ti::validate(mc, *volume, options); !s) return fail(s);
  if (Status s = tm::validate(mc, {options.batch, mc.in_channels, tile->depth, tile->height,
                                   tile->width});
      !s)
    return fail(s);
  data::SyntheticCaseSpec spec;
  spec.dims = *volume;
  if (Status s = data::validate(spec); !s) return fail(s.with_context("--volume-size"));

  const auto names = tt::class_names(mc.classes);
  const std::string activation = mc.activation == tm::Activation::relu ? "relu" : "leaky_relu";
  try {
    runtime::Context ctx(alloc);
    tm::Parameters params;
    if (weights != nullptr) {
      params = *weights;
    } else {  // the trainer's initialisation of --seed (independent of the input size)
      runtime::graph::Graph g;
      tm::build_unet3d(g, mc, {1, mc.in_channels, tile->depth, tile->height, tile->width}, {});
      params = tm::init_parameters(g, alloc, cmd.seed);
    }
    data::Dims3 whole_dims;
    const runtime::plan::ReusePlan whole = ti::whole_volume_plan(mc, *volume, &whole_dims);

    std::fprintf(stderr, "tiled: generating synthetic case %llu, %dx%dx%d (%s) into PMem\n",
                 static_cast<unsigned long long>(cmd.case_index), volume->depth, volume->height,
                 volume->width,
                 short_bytes(volume->voxels() * data::kNumModalities * sizeof(float)).c_str());
    auto generated = ti::generate_synthetic_volume(alloc, *volume, cmd.case_index, mc.classes);
    if (!generated) return fail(generated.status());

    ProgressBar bar(alloc);
    options.progress = [&bar](const ti::TiledProgress& p) { bar.update(p); };
    ti::TiledInference tiled(ctx, mc, params, options);
    const runtime::plan::ReusePlan& window = tiled.window_plan();
    auto result = tiled.run(generated->image.f32(), *volume);
    if (!result) return fail(result.status());
    const Stats stats = alloc.stats();
    const TierBytes tb = tier_bytes(stats);
    const char* input_tier = tier_name(alloc, generated->image.data());
    const char* output_tier = tier_name(alloc, result->labels.data());

    const std::size_t voxels = volume->voxels();
    tt::ClassCounts counts(mc.classes);
    const std::uint8_t* pred = result->labels.u8();
    const std::uint8_t* truth = generated->labels.u8();
    for (std::size_t i = 0; i < voxels; ++i) {
      const int p = pred[i], t = truth[i];
      if (p == t) {
        ++counts.tp[static_cast<std::size_t>(p)];
      } else {
        ++counts.fp[static_cast<std::size_t>(p)];
        ++counts.fn[static_cast<std::size_t>(t)];
      }
    }
    const std::vector<double> dice = counts.dice();
    const double mean = tt::mean_dice(dice);
    if (!cmd.output_path.empty())
      if (Status s = write_labels(cmd.output_path, pred, voxels); !s) return fail(s);

    const ti::TiledResult& r = *result;
    const double vps = static_cast<double>(voxels) / r.seconds;
    const double wvps = static_cast<double>(r.window_voxels) / r.seconds;
    const double steady =
        r.passes > 1 ? static_cast<double>(r.window_voxels - r.window_voxels / r.passes) /
                           (r.seconds - r.first_pass_seconds)
                     : wvps;
    std::fprintf(stderr,
                 "infer: %s; tiled %dx%dx%d in %llu windows of %dx%dx%d (overlap %.2f, batch %d), "
                 "%s; %.1f s (%.3f Mvoxel/s, %.3f Mvoxel/s of windows); whole-volume naive %s, "
                 "window arena %s; peak DRAM %s, PMem %s; mean Dice %.3f\n",
                 model_text(mc, cmd.model).c_str(), volume->depth, volume->height, volume->width,
                 static_cast<unsigned long long>(r.windows), tile->depth, tile->height, tile->width,
                 cmd.overlap, cmd.model.batch,
                 weights != nullptr ? ("weights " + cmd.weights_path).c_str() : "untrained",
                 r.seconds, vps / 1e6, wvps / 1e6, short_bytes(whole.naive_bytes).c_str(),
                 short_bytes(window.arena_bytes).c_str(), short_bytes(tb.dram_peak).c_str(),
                 short_bytes(tb.pmem_peak).c_str(), mean);

    if (!cmd.json_path.empty()) {
      nlohmann::json config = model_json(mc, names);
      config.update({{"volume", dims_json(*volume)},
                     {"tile", dims_json(*tile)},
                     {"overlap", cmd.overlap},
                     {"batch", cmd.model.batch},
                     {"seed", cmd.seed},
                     {"weights", weights != nullptr ? nlohmann::json(cmd.weights_path)
                                           : nlohmann::json("untrained")},
                     {"case", cmd.case_index},
                     {"split", "validation"},
                     {"threads", threads}});
      nlohmann::json doc = {
          {"command", "infer"},
          {"mode", "tiled"},
          {"data", "synthetic BraTS v" + std::to_string(data::kSyntheticBratsVersion)},
          {"config",
           config},
          {"windows", r.windows},
          {"windows_per_axis",
           {r.starts[0].size(), r.starts[1].size(), r.starts[2].size()}},
          {"passes", r.passes},
          {"volume_voxels", voxels},
          {"window_voxels", r.window_voxels},
          {"seconds", r.seconds},
          {"generate_seconds", generated->seconds},
          {"first_pass_seconds", r.first_pass_seconds},
          {"infer_seconds", r.infer_seconds},
          {"finalize_seconds", r.finalize_seconds},
          {"voxels_per_second", vps},
          {"window_voxels_per_second", wvps},
          {"steady_window_voxels_per_second", steady},
          {"memory",
           {{"whole_volume_dims", dims_json(whole_dims)},
            {"whole_volume_naive_bytes", whole.naive_bytes},
            {"whole_volume_planned_arena_bytes", whole.arena_bytes},
            {"window_naive_bytes", window.naive_bytes},
            {"window_arena_bytes", window.arena_bytes},
            {"persistent_bytes", window.persistent_bytes},
            {"window_input_bytes", window.input_bytes},
            {"volume_bytes", generated->image.bytes()},
            {"accumulator_bytes",
             voxels * static_cast<std::size_t>(mc.classes) * sizeof(float)},
            {"labels_bytes", voxels},
            {"input_tier", input_tier},
            {"labels_tier", output_tier},
            {"accumulator_tier",
             r.accumulator_tier < 0
                 ? std::string("none")
                 : alloc.tiers()[static_cast<std::size_t>(r.accumulator_tier)].name},
            {"dram_limit_bytes", tb.dram_limit},
            {"peak_dram_bytes", tb.dram_peak},
            {"peak_pmem_bytes", tb.pmem_peak},
            {"tiers", tier_stats_json(stats)}}},
          {"dice", dice_json(dice, names)},
          {"mean_dice", mean}};
      if (!write_json(cmd.json_path, doc)) return 1;
    }
  } catch (const std::bad_alloc&) {
    return fail(Status(Errc::no_space, "tiled inference: the tiers are full (TENSORTIER_PMEM "
                                       "size or TENSORTIER_DRAM_LIMIT too small for the volume)"));
  } catch (const std::exception& e) {
    return fail(Status(Errc::internal, std::string("tiled inference failed: ") + e.what()));
  }
  return 0;
}

}  // namespace tensortier::cli
