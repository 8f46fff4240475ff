// `tensortier generate`: synthetic BraTS-like cases (src/runtime/data) written
// as NIfTI case directories (docs/nifti.md) that `train --data` and
// `infer --input` read and any viewer opens: DIR/case_0000/{t1,t1gd,t2,flair}
// (or one 4D image) + seg, raw intensities (not z-scored, as scanners give
// them), 1 mm isotropic voxels and a qform in the generator's LAS anatomy.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "commands.hpp"
#include "runtime/data/nifti.hpp"

namespace tensortier::cli {
namespace {

namespace fs = std::filesystem;


std::string case_name(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "case_%04d", i);
  return buf;
}

// Every file name a case directory of ours may hold (removed under --force,
// so a previous run's other format or extension cannot linger).
const char* const kStems[] = {"t1", "t1gd", "t2", "flair", "image", "seg"};

}  // namespace

CLI::App* add_generate_command(CLI::App& app, GenerateCommand& cmd) {
  auto* c = app.add_subcommand(
      "generate", "Write synthetic brain-tumour cases as NIfTI files (train --data, infer --input)");
  c->add_option("--out", cmd.out_dir, "Directory of the cases (created if missing)")->required();
  c->add_option("--cases", cmd.cases, "Number of cases")->required();
  c->add_option("--size", cmd.size, "Volume size: N (a cube) or DxHxW, e.g. 64 or 155x240x240")
      ->required();
  c->add_option("--seed", cmd.seed,
                "Seed: case i is the synthetic training case i of `train --seed S` (default 0)");
  c->add_option("--format", cmd.format,
                "4files (t1, t1gd, t2, flair; default) or 4d (one image with 4 volumes)")
      ->check(CLI::IsMember({"4files", "4d"}));
  c->add_flag("--gz", cmd.gz, "Write .nii.gz (gzip) instead of .nii");
  c->add_flag("--force", cmd.force, "Overwrite existing case directories");
  return c;
}

int run_generate(const GenerateCommand& cmd) {
  auto dims = parse_dims(cmd.size);
  if (!dims) return fail(dims.status());
  data::SyntheticCaseSpec spec;
  spec.dims = *dims;
  spec.normalize = false;  // raw intensities: readers z-score (docs/nifti.md)
  if (Status s = data::validate(spec); !s) return fail(s.with_context("--size"));
  if (cmd.cases < 1 || cmd.cases > 100000)
    return fail(bad("--cases " + std::to_string(cmd.cases) + ": accepted: 1..100000"));

  std::error_code ec;
  fs::create_directories(cmd.out_dir, ec);
  if (ec || !fs::is_directory(cmd.out_dir))
    return fail(Status(Errc::io_error, "--out '" + cmd.out_dir + "': cannot create the directory" +
                                           (ec ? ": " + ec.message() : std::string())));
  // Refused before anything is written.
  if (!cmd.force)
    for (int i = 0; i < cmd.cases; ++i) {
      const fs::path dir = fs::path(cmd.out_dir) / case_name(i);
      if (fs::exists(dir, ec))
        return fail(bad("'" + dir.string() +
                        "' exists; use --force to overwrite (or another --out)"));
    }

  const std::string ext = cmd.gz ? ".nii.gz" : ".nii";
  const data::NiftiGeometry geometry = data::synthetic_geometry(*dims, 1.0);
  const std::string version = "synthetic BraTS v" + std::to_string(data::kSyntheticBratsVersion);
  const std::uint64_t base = (cmd.seed % 4096) << 28;  // as the trainer's training cases
  const std::size_t voxels = dims->voxels();
  std::vector<float> image(voxels * data::kNumModalities);
  std::vector<std::uint8_t> labels(voxels);
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::fprintf(stderr, "generate: %d cases of %dx%dx%d (DxHxW), %s, %s (%s) into %s\n", cmd.cases,
               dims->depth, dims->height, dims->width, version.c_str(),
               cmd.format == "4d" ? "one 4D image" : "4 modality files", ext.c_str(),
               cmd.out_dir.c_str());
  for (int i = 0; i < cmd.cases; ++i) {
    const fs::path dir = fs::path(cmd.out_dir) / case_name(i);
    fs::create_directories(dir, ec);
    if (ec) return fail(Status(Errc::io_error, "'" + dir.string() + "': " + ec.message()));
    if (cmd.force)
      for (const char* stem : kStems)
        for (const char* e : {".nii", ".nii.gz"}) fs::remove(dir / (std::string(stem) + e), ec);
    spec.seed = data::case_seed(data::Split::train, (base + static_cast<std::uint64_t>(i)) %
                                                        data::kCasesPerSplit);
    auto info = data::generate_into(image.data(), labels.data(), spec);
    if (!info) return fail(info.status());
    const std::string descr = "tensortier " + version + " seed " + std::to_string(spec.seed);
    Status s;
    if (cmd.format == "4d") {
      s = data::write_nifti_volumes((dir / ("image" + ext)).string(), image.data(),
                                    data::kNumModalities, geometry, descr);
    } else {
      for (int m = 0; m < data::kNumModalities && s; ++m)
        s = data::write_nifti_volumes(
            (dir / (std::string(data::modality_name(static_cast<data::Modality>(m))) + ext))
                .string(),
            image.data() + static_cast<std::size_t>(m) * voxels, 1, geometry, descr);
    }
    if (s) s = data::write_nifti_labels((dir / ("seg" + ext)).string(), labels.data(), geometry);
    if (!s) return fail(s);
    const auto& cv = info->class_voxels;
    std::fprintf(stderr,
                 "generate: case %d/%d %s: %zu tumour(s); voxels necrotic %llu, edema %llu, "
                 "enhancing %llu\n",
                 i + 1, cmd.cases, dir.string().c_str(), info->tumours.size(),
                 static_cast<unsigned long long>(cv[1]), static_cast<unsigned long long>(cv[2]),
                 static_cast<unsigned long long>(cv[3]));
  }
  std::fprintf(stderr, "generate: %d cases in %.2f s\n", cmd.cases,
               std::chrono::duration<double>(Clock::now() - t0).count());
  return 0;
}

}  // namespace tensortier::cli
