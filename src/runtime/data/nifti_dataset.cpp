// NIfTI case directories as training data: discovery, normalisation,
// centre crop / zero pad, label mapping.
#include "runtime/data/nifti_dataset.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <system_error>

namespace tensortier::data {

namespace {

namespace fs = std::filesystem;

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Roles of a file in a case directory.
enum Role : int { t1 = 0, t1gd = 1, t2 = 2, flair = 3, image4d = 4, seg = 5, kRoles = 6 };
constexpr const char* kRoleNames[kRoles] = {"t1", "t1gd", "t2", "flair", "image", "seg"};

// The role of a file stem (name without .nii / .nii.gz, lower case), or -1.
int role_of(const std::string& stem) {
  struct Pattern {
    const char* exact;                 // our layout
    std::array<const char*, 3> ends;   // BraTS 2017-2021 and 2023 suffixes
  };
  static const Pattern patterns[kRoles] = {
      {"t1", {"_t1", "-t1n", nullptr}},
      {"t1gd", {"_t1ce", "_t1gd", "-t1c"}},
      {"t2", {"_t2", "-t2w", nullptr}},
      {"flair", {"_flair", "-t2f", nullptr}},
      {"image", {nullptr, nullptr, nullptr}},
      {"seg", {"_seg", "-seg", nullptr}},
  };
  for (int r = 0; r < kRoles; ++r) {
    if (stem == patterns[r].exact) return r;
    for (const char* e : patterns[r].ends)
      if (e != nullptr && ends_with(stem, e)) return r;
  }
  return -1;
}

template <typename T>
void crop_or_pad(const T* src, const Dims3& s, T* dst, const Dims3& d, int channels) {
  auto axis = [](int from, int to, int& src0, int& dst0, int& len) {
    src0 = from > to ? (from - to) / 2 : 0;
    dst0 = to > from ? (to - from) / 2 : 0;
    len = std::min(from, to);
  };
  int sz, dz, nz, sy, dy, ny, sx, dx, nx;
  axis(s.depth, d.depth, sz, dz, nz);
  axis(s.height, d.height, sy, dy, ny);
  axis(s.width, d.width, sx, dx, nx);
  const std::size_t svox = s.voxels(), dvox = d.voxels();
  std::fill(dst, dst + dvox * static_cast<std::size_t>(channels), T{});
  for (int c = 0; c < channels; ++c)
    for (int z = 0; z < nz; ++z)
      for (int y = 0; y < ny; ++y) {
        const T* from = src + static_cast<std::size_t>(c) * svox +
                        (static_cast<std::size_t>(sz + z) * static_cast<std::size_t>(s.height) +
                         static_cast<std::size_t>(sy + y)) *
                            static_cast<std::size_t>(s.width) +
                        static_cast<std::size_t>(sx);
        T* to = dst + static_cast<std::size_t>(c) * dvox +
                (static_cast<std::size_t>(dz + z) * static_cast<std::size_t>(d.height) +
                 static_cast<std::size_t>(dy + y)) *
                    static_cast<std::size_t>(d.width) +
                static_cast<std::size_t>(dx);
        std::copy(from, from + nx, to);
      }
}

std::string dims_text(const Dims3& d) {
  return std::to_string(d.depth) + "x" + std::to_string(d.height) + "x" + std::to_string(d.width);
}

}  // namespace

Result<NiftiCaseFiles> find_case_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Status(Errc::not_found, "case directory '" + dir + "': no such directory");
  std::array<std::string, kRoles> found;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const std::string low = lower(name);
    std::string stem;
    if (ends_with(low, ".nii.gz")) stem = low.substr(0, low.size() - 7);
    else if (ends_with(low, ".nii")) stem = low.substr(0, low.size() - 4);
    else continue;
    const int r = role_of(stem);
    if (r < 0 || !e.is_regular_file(ec)) continue;
    const std::string path = (fs::path(dir) / name).string();
    auto& slot = found[static_cast<std::size_t>(r)];
    if (!slot.empty())
      return Status(Errc::invalid_argument, "case directory '" + dir + "': both '" + slot +
                                                "' and '" + path + "' are " + kRoleNames[r]);
    slot = path;
  }
  if (ec) return Status(Errc::io_error, "case directory '" + dir + "': " + ec.message());
  NiftiCaseFiles c;
  c.name = fs::path(dir).filename().string();
  if (c.name.empty()) c.name = fs::path(dir).parent_path().filename().string();
  c.labels = found[seg];
  std::string missing;
  for (int r = t1; r <= flair; ++r)
    if (found[static_cast<std::size_t>(r)].empty())
      missing += std::string(missing.empty() ? "" : ", ") + kRoleNames[r];
  if (missing.empty()) {
    for (int r = t1; r <= flair; ++r) c.image.push_back(found[static_cast<std::size_t>(r)]);
  } else if (!found[image4d].empty()) {
    c.image.push_back(found[image4d]);
  } else {
    return Status(Errc::invalid_argument,
                  "case directory '" + dir + "': no scan (missing " + missing +
                      "); accepted: t1, t1gd, t2, flair or image (4D), or BraTS *_t1, *_t1ce, "
                      "*_t2, *_flair (or *-t1n, *-t1c, *-t2w, *-t2f), each .nii.gz or .nii");
  }
  return c;
}

void zscore_nonzero(float* image, int channels, std::size_t voxels) {
  for (int c = 0; c < channels; ++c) {
    float* ch = image + static_cast<std::size_t>(c) * voxels;
    double sum = 0, sum_sq = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < voxels; ++i)
      if (ch[i] != 0.f) {
        sum += ch[i];
        sum_sq += static_cast<double>(ch[i]) * ch[i];
        ++n;
      }
    if (n == 0) continue;
    const double mean = sum / static_cast<double>(n);
    const double var = std::max(sum_sq / static_cast<double>(n) - mean * mean, 0.0);
    const double sd = std::sqrt(var);
    const auto inv = static_cast<float>(sd > 1e-8 ? 1.0 / sd : 1.0);
    const auto m = static_cast<float>(mean);
    for (std::size_t i = 0; i < voxels; ++i)
      if (ch[i] != 0.f) ch[i] = (ch[i] - m) * inv;
  }
}

void centre_crop_or_pad(const float* src, const Dims3& src_dims, float* dst, const Dims3& dst_dims,
                        int channels) {
  crop_or_pad(src, src_dims, dst, dst_dims, channels);
}

void centre_crop_or_pad(const std::uint8_t* src, const Dims3& src_dims, std::uint8_t* dst,
                        const Dims3& dst_dims) {
  crop_or_pad(src, src_dims, dst, dst_dims, 1);
}

Result<NiftiDataset> NiftiDataset::open(const std::string& dir, const Dims3& dims) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return Status(Errc::invalid_argument, "--data '" + dir + "': no such directory");
  std::vector<std::string> subdirs;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name[0] != '.' && e.is_directory(ec)) subdirs.push_back(e.path().string());
  }
  if (ec) return Status(Errc::io_error, "--data '" + dir + "': " + ec.message());
  std::sort(subdirs.begin(), subdirs.end());
  if (subdirs.empty())
    return Status(Errc::invalid_argument,
                  "--data '" + dir + "': no case directories (one subdirectory per case, "
                  "see docs/nifti.md)");
  NiftiDataset d;
  d.dir_ = dir;
  d.dims_ = dims;
  for (const std::string& sub : subdirs) {
    auto files = find_case_files(sub);
    if (!files) return files.status();
    if (files->labels.empty())
      return Status(Errc::invalid_argument, "case directory '" + sub +
                                                "': no segmentation (seg, *_seg or *-seg "
                                                ".nii.gz or .nii) to train on");
    auto g = read_nifti_scan_geometry(files->image);
    if (!g) return g.status();
    auto lg = read_nifti_geometry(files->labels);
    if (!lg) return lg.status();
    if (!(lg->dims == g->dims))
      return Status(Errc::invalid_argument,
                    "NIfTI '" + files->labels + "': shape " + dims_text(lg->dims) +
                        " (DxHxW) differs from the scan's " + dims_text(g->dims));
    d.cases_.push_back(std::move(*files));
    d.case_dims_.push_back(g->dims);
  }
  return d;
}

std::size_t NiftiDataset::held_out() const noexcept {
  return std::min<std::size_t>(4, cases_.size() / 5);
}

std::size_t NiftiDataset::resized_cases() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(case_dims_.begin(), case_dims_.end(), [&](const Dims3& d) { return !(d == dims_); }));
}

Status NiftiDataset::load(std::size_t i, float* image, std::uint8_t* labels) const {
  if (i >= cases_.size())
    return Status(Errc::invalid_argument, "case " + std::to_string(i) + " of " +
                                              std::to_string(cases_.size()));
  const NiftiCaseFiles& f = cases_[i];
  if (image != nullptr) {
    auto scan = read_nifti_scan(f.image);
    if (!scan) return scan.status();
    Volume& v = scan->image;
    zscore_nonzero(v.data.data(), v.channels, v.dims.voxels());
    centre_crop_or_pad(v.data.data(), v.dims, image, dims_, v.channels);
  }
  if (labels != nullptr) {
    auto seg = read_nifti_labels(f.labels);
    if (!seg) return seg.status();
    for (std::uint8_t& l : seg->labels) {
      if (l > 4)
        return Status(Errc::invalid_argument,
                      "NIfTI '" + f.labels + "': label " + std::to_string(l) +
                          "; accepted: 0..3 (ours, BraTS 2023) or 0, 1, 2, 4 (BraTS 2017-2021)");
      l = class_from_brats_label(l);
    }
    centre_crop_or_pad(seg->labels.data(), seg->geometry.dims, labels, dims_);
  }
  return Status::ok();
}

std::string NiftiDataset::summary() const {
  std::string s = std::to_string(size()) + " NIfTI cases in " + dir_ + ": " +
                  std::to_string(training_cases()) + " for training, " +
                  std::to_string(held_out()) + " held out for evaluation (the last min(4, n/5))";
  const std::size_t resized = resized_cases();
  if (resized > 0)
    s += "; " + std::to_string(resized) + " of them not " + dims_text(dims_) +
         " (DxHxW): centre-cropped / zero-padded to it";
  return s;
}

}  // namespace tensortier::data
