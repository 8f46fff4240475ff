// A directory of NIfTI cases as training data (docs/nifti.md): one
// subdirectory per case, in either layout
//
//   ours:   t1, t1gd, t2, flair (3D) or image (4D, 4 volumes), seg
//   BraTS:  *_t1, *_t1ce, *_t2, *_flair, *_seg (2017-2021), or
//           *-t1n, *-t1c, *-t2w, *-t2f, *-seg (2023)
//
// each .nii.gz or .nii. Cases are taken in name order; the last
// held_out() = min(4, n / 5) of them are kept for evaluation. Opening reads
// every header (shapes checked up front, not hours into training); load()
// reads one case, z-scores each modality over its non-zero voxels (as nnU-Net
// does for BraTS; zeros stay 0), centre-crops or zero-pads it to the training
// size and maps the labels to class ids (BraTS 4 = enhancing -> 3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/data/nifti.hpp"
#include "runtime/data/synthetic_brats.hpp"
#include "tensortier/status.hpp"

namespace tensortier::data {

struct NiftiCaseFiles {
  std::string name;                // the subdirectory
  std::vector<std::string> image;  // 4 modality files or one 4D file
  std::string labels;              // the segmentation ("" when absent)
};

// The image files of the case directory `dir` (labels optional): the error
// names the directory and the files it looked for.
Result<NiftiCaseFiles> find_case_files(const std::string& dir);

// Per modality: (x - mean) / std over the voxels != 0 of that modality;
// voxels equal to 0 stay 0 (the background of skull-stripped scans).
void zscore_nonzero(float* image, int channels, std::size_t voxels);

// Copies the centre of src (C, src dims) into dst (C, dst dims): cropped where
// src is larger, zero-padded where it is smaller, per axis.
void centre_crop_or_pad(const float* src, const Dims3& src_dims, float* dst, const Dims3& dst_dims,
                        int channels);
void centre_crop_or_pad(const std::uint8_t* src, const Dims3& src_dims, std::uint8_t* dst,
                        const Dims3& dst_dims);

class NiftiDataset {
 public:
  // Every subdirectory of `dir` (except hidden ones) is a case with labels;
  // `dims` is the training size. Errors name the directory or the file.
  static Result<NiftiDataset> open(const std::string& dir, const Dims3& dims);

  const std::string& directory() const noexcept { return dir_; }
  const Dims3& dims() const noexcept { return dims_; }
  std::size_t size() const noexcept { return cases_.size(); }
  std::size_t held_out() const noexcept;  // min(4, size() / 5)
  std::size_t training_cases() const noexcept { return size() - held_out(); }
  const NiftiCaseFiles& files(std::size_t i) const { return cases_[i]; }
  const Dims3& case_dims(std::size_t i) const { return case_dims_[i]; }
  // Cases whose size differs from dims() (centre-cropped / zero-padded).
  std::size_t resized_cases() const noexcept;

  // Case i into image (kNumModalities, D, H, W) and labels (D, H, W) class
  // ids 0..3 (either may be nullptr); both in dims().
  Status load(std::size_t i, float* image, std::uint8_t* labels) const;

  // One line: "N NIfTI cases in DIR (T for training, E held out) ...",
  // saying how many are centre-cropped / zero-padded to the training size.
  std::string summary() const;

 private:
  std::string dir_;
  Dims3 dims_;
  std::vector<NiftiCaseFiles> cases_;
  std::vector<Dims3> case_dims_;
};

}  // namespace tensortier::data
